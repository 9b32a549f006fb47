#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A glibc mutex at a stable heap address.
///
/// The pool takes a lock on every allocation and release, so the lock's fast path is the pool's
/// fast path. `Synchronization.Mutex` on Linux uses priority-inheritance futexes and makes a
/// `gettid` syscall on each lock (measured: `syscall@plt` on the uncontended path, 3.6x the
/// cost of a 64-byte allocation); glibc's default mutex takes one compare-and-swap when
/// uncontended and enters the kernel only under contention.
///
/// A struct holding only a pointer, so using it costs no reference counting; the owner calls
/// ``destroy()`` in its `deinit`.
struct PthreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    func destroy() {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
}
