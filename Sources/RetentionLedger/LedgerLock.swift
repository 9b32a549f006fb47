// The ledger's pthread primitives, the only place it holds pthread objects by pointer (they
// must not move once initialized): a value behind a `pthread_mutex_t` for the writer state, and
// the mailbox a blocked `flush()` parks on (GroupCommit.swift).
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

/// A one-shot mailbox that a blocked `flush()` waits on. It has its own mutex and condition, so a
/// leader waking many waiters never holds the writer lock that appenders need.
final class FlushParker: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Only touched while `mutex` is held.
    private var outcome: FlushOutcome?

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Blocks until `wake(_:)` has run (or returns at once if it already has).
    func wait() -> FlushOutcome {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let outcome { return outcome }
            // Spurious wake-ups are allowed: loop until the outcome is set.
            pthread_cond_wait(condition, mutex)
        }
    }

    func wake(_ outcome: FlushOutcome) {
        pthread_mutex_lock(mutex)
        self.outcome = outcome
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }
}
