#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a `pthread_mutex_t`.
///
/// Why not `Synchronization.Mutex`: on Linux it is built on raw futexes inside the standard
/// library, which ThreadSanitizer cannot see, so every access under it is reported as a race and
/// the suite cannot run under `-sanitize=thread`. `pthread_mutex_lock` is intercepted by TSan,
/// costs the same uncontended, and behaves better under contention (swiftlang/swift#88440).
///
/// Unlike the pool's `PthreadLock`, `withLock` may return a noncopyable result, which is how a
/// scope hands a decrypted `LockedBuffer` out of its critical section.
final class LockedState<State>: @unchecked Sendable {
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

    /// Runs `body` with exclusive access to the state. Not reentrant: `body` must not take this
    /// lock again.
    @inline(__always)
    func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
