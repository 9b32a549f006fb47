// A value behind a `pthread_mutex_t`, for the ledger's writer state.
//
// Why not `Synchronization.Mutex`: on Linux it takes a priority-inheriting futex keyed by the
// thread id, which costs a `gettid` syscall per lock, on every append; ThreadSanitizer also
// cannot see it. A glibc mutex is a plain atomic when uncontended. (ContentVault has the same
// type; the ledger cannot import ContentVault, so it keeps this small copy.)

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class LedgerLock<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Only touched between `pthread_mutex_lock` and `pthread_mutex_unlock`.
    private var state: State

    init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        // A default mutex: init cannot fail (no attributes to reject) on Linux.
        pthread_mutex_init(mutex, nil)
        state = initial
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state. Not reentrant.
    @inline(__always)
    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
