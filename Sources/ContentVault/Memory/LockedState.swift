#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a `pthread_mutex_t`, both in one heap object.
///
/// Why not `Synchronization.Mutex`: on Linux it is built on raw futexes inside the standard
/// library, which ThreadSanitizer cannot see, so every access under it is reported as a race and
/// the suite cannot run under `-sanitize=thread`; it also makes a `gettid` syscall per lock.
/// `pthread_mutex_lock` is intercepted by TSan and takes one compare-and-swap uncontended.
///
/// The storage is a `ManagedBuffer` (as swift-nio's `NIOLockedValueBox`): the state is the
/// header and the mutex the one tail element, so a lock costs one allocation, not two, and the
/// state is reached through a pointer, without the dynamic exclusivity check a class's `var`
/// pays on every access (`swift_beginAccess` was ~1 % of a 4 KiB request).
///
/// `withLock` may return a noncopyable result, which is how a scope hands a decrypted
/// `LockedBuffer` out of its critical section.
struct LockedState<State>: @unchecked Sendable {
    private let storage: LockedStateStorage<State>

    /// An autoclosure, so the state is built in place in the storage: a value passed in was
    /// copied into it and then destroyed, which retained and released every field (measured in
    /// a request's lifecycle).
    init(_ initial: @autoclosure () -> State) {
        storage = LockedStateStorage.make(initial)
    }

    /// Runs `body` with exclusive access to the state. Not reentrant: `body` must not take this
    /// lock again.
    @inline(__always)
    func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try storage.withUnsafeMutablePointers { (state, mutex) throws(Failure) -> Result in
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&state.pointee)
        }
    }
}

/// The state (header) and its mutex (the one tail element).
final class LockedStateStorage<State>: ManagedBuffer<State, pthread_mutex_t> {
    static func make(_ initial: () -> State) -> LockedStateStorage<State> {
        let buffer = unsafeDowncast(Self.create(minimumCapacity: 1) { _ in initial() }, to: LockedStateStorage<State>.self)
        buffer.withUnsafeMutablePointerToElements { mutex in
            mutex.initialize(to: pthread_mutex_t())
            // A default mutex: init cannot fail (no attributes to reject) on Linux.
            pthread_mutex_init(mutex, nil)
        }
        return buffer
    }

    /// The header (the state) is a stored property of `ManagedBuffer` and destroyed with it;
    /// only the tail element is ours to destroy.
    deinit {
        withUnsafeMutablePointerToElements { mutex in
            pthread_mutex_destroy(mutex)
            mutex.deinitialize(count: 1)
        }
    }
}
