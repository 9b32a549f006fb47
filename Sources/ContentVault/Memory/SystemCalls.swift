#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CVaultSystem
import Synchronization
import VaultSystem

/// The syscalls the memory layer makes, behind one seam.
///
/// Every memory call goes through here (file descriptors go through VaultSystem's
/// `FileSystem`) so tests can force an `errno` on any of them (the pattern of
/// swift-system's mocking driver) and see a typed error with nothing leaked, without needing a
/// hostile kernel. Forced failures are per pool, not global, so parallel tests do not interfere.
struct SystemCalls: Sendable {
    enum Call: Hashable, Sendable {
        case memfdSecret, ftruncate, mmap, mprotect, mlock, munmap, read
        case madvise(MemoryAdvice)
        /// The secretmem `mmap` of the descriptor over the reservation (`mmap` forces the
        /// reservation, which comes first).
        case mapShared
    }

    /// Test hook: forced failures and mapping accounting. `nil` in production.
    let harness: SyscallHarness?

    init(harness: SyscallHarness? = nil) { self.harness = harness }

    static let live = SystemCalls()

    /// Returns a forced errno for `call`, or nil to make the real call.
    @inline(__always)
    private func forced(_ call: Call) -> Int32? {
        harness?.forcedErrno(for: call)
    }

    private var tracker: SyscallHarness? { harness }

    func memfdSecret() -> Result<Int32, Errno> {
        if let code = forced(.memfdSecret) { return .failure(Errno(rawValue: code)) }
        let fd = cvault_memfd_secret(UInt32(O_CLOEXEC))
        return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: cvault_errno()))
    }

    func ftruncate(_ fd: Int32, _ length: Int) -> Errno? {
        if let code = forced(.ftruncate) { return Errno(rawValue: code) }
        let result = retryingOnInterrupt(.ftruncate, faults: harness?.faults) { Glibc.ftruncate(fd, off_t(length)) }
        if case .failure(let error) = result { return error }
        return nil
    }

    /// Reserves `length` bytes of inaccessible address space (guards included).
    func reserve(_ length: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        if let code = forced(.mmap) { return .failure(Errno(rawValue: code)) }
        let address = Glibc.mmap(nil, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let address, address != MAP_FAILED else { return .failure(Errno(rawValue: cvault_errno())) }
        tracker?.reserved(length)
        return .success(address)
    }

    /// Maps `fd` read-write over `[address, address+length)`, replacing the reservation there.
    func mapShared(fd: Int32, at address: UnsafeMutableRawPointer, _ length: Int) -> Errno? {
        if let code = forced(.mapShared) { return Errno(rawValue: code) }
        let mapped = Glibc.mmap(address, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { return Errno(rawValue: cvault_errno()) }
        return nil
    }

    func protectReadWrite(_ address: UnsafeMutableRawPointer, _ length: Int) -> Errno? {
        if let code = forced(.mprotect) { return Errno(rawValue: code) }
        return Glibc.mprotect(address, length, PROT_READ | PROT_WRITE) == 0 ? nil : Errno(rawValue: cvault_errno())
    }

    /// Locks and populates the pages now, so a failure surfaces here rather than as a fault later.
    func lock(_ address: UnsafeMutableRawPointer, _ length: Int) -> Errno? {
        if let code = forced(.mlock) { return Errno(rawValue: code) }
        return Glibc.mlock(address, length) == 0 ? nil : Errno(rawValue: cvault_errno())
    }

    /// munlock(2) before an unmap. munmap unlocks too; the explicit call makes the order (wipe,
    /// verify, unlock, unmap) visible to the harness. A failure changes nothing: munmap follows.
    func unlock(_ address: UnsafeMutableRawPointer, _ length: Int) {
        if Glibc.munlock(address, length) == 0 { tracker?.unlocked(length) }
    }

    /// The locked-memory limits the start-up check compares the budget with: the kernel's, or
    /// the harness's stand-in (tests run as root, whose CAP_IPC_LOCK lifts every limit).
    func memoryLimits() -> MemoryLimits {
        harness?.limits ?? MemoryLimits.current()
    }

    func advise(_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: MemoryAdvice) -> Errno? {
        if let code = forced(.madvise(advice)) { return Errno(rawValue: code) }
        let value: Int32
        switch advice {
        case .dontDump: value = cvault_madv_dontdump
        case .dontFork: value = cvault_madv_dontfork
        case .wipeOnFork: value = cvault_madv_wipeonfork
        }
        return Glibc.madvise(address, length, value) == 0 ? nil : Errno(rawValue: cvault_errno())
    }

    func unmap(_ address: UnsafeMutableRawPointer, _ length: Int) {
        // munmap of a range we mapped only fails for invalid arguments, a programming error.
        if Glibc.munmap(address, length) == 0 { tracker?.unmapped(length) }
    }

    func close(_ fd: Int32) {
        // Not retried on EINTR: on Linux the descriptor is released even then.
        _ = Glibc.close(fd)
    }

    /// read(2) into raw memory, retried on EINTR (VaultSystem's one loop, which the harness's
    /// counted faults reach). Returns bytes read (0 at end of input).
    func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, _ count: Int) -> Result<Int, Errno> {
        if let code = forced(.read) { return .failure(Errno(rawValue: code)) }
        return retryingOnInterrupt(.read, faults: harness?.faults) { Glibc.read(fd, buffer, count) }
    }
}

/// Lets a test force an errno on any syscall (armed at any time, also after a pool exists) and
/// count the address space reserved and not yet unmapped, to prove a failure leaked nothing.
/// It also reads every region back just before it is unmapped (the last moment its bytes can be
/// seen), counts unlocked bytes, and can stand in for the kernel's locked-memory limits.
final class SyscallHarness: Sendable {
    private struct State {
        var failures: [SystemCalls.Call: Int32] = [:]
        var outstanding = 0
        var unlocked = 0
        var retiredRegions = 0
        var retiredNonZero = 0
        var retiredBytes = 0
    }
    // A pthread mutex (LockedState), not Synchronization.Mutex: ThreadSanitizer does not see the
    // latter's futex, and reported concurrent churn tests as races on this state.
    private let state = LockedState(State())
    /// Limits to report instead of the kernel's; `nil` for the kernel's.
    let limits: MemoryLimits?
    /// Counted failures (an EINTR N times, then the real call) for the calls that retry.
    let faults = FaultInjection()

    init(failing failures: [SystemCalls.Call: Int32] = [:], limits: MemoryLimits? = nil) {
        self.limits = limits
        state.withLock { $0.failures = failures }
    }

    func fail(_ call: SystemCalls.Call, errno: Int32?) { state.withLock { $0.failures[call] = errno } }
    func forcedErrno(for call: SystemCalls.Call) -> Int32? { state.withLock { $0.failures[call] } }
    var outstandingBytes: Int { state.withLock { $0.outstanding } }
    func reserved(_ length: Int) { state.withLock { $0.outstanding += length } }
    func unmapped(_ length: Int) { state.withLock { $0.outstanding -= length } }
    func unlocked(_ length: Int) { state.withLock { $0.unlocked += length } }
    /// Bytes munlocked before an unmap.
    var unlockedBytes: Int { state.withLock { $0.unlocked } }

    /// Called with a region's usable bytes just before they are unmapped.
    func retiring(_ base: UnsafeMutableRawPointer, _ length: Int) {
        let zero = cvault_is_zero(base, length) == 1
        state.withLock { state in
            state.retiredRegions += 1
            state.retiredBytes += length
            if !zero { state.retiredNonZero += 1 }
        }
    }
    /// Regions unmapped, the usable bytes they had, and how many of them did not read back as zero.
    var retired: (regions: Int, bytes: Int, nonZero: Int) {
        state.withLock { ($0.retiredRegions, $0.retiredBytes, $0.retiredNonZero) }
    }
}

/// The system page size, read once.
let systemPageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

@inline(__always)
func roundUp(_ value: Int, toMultipleOf alignment: Int) -> Int {
    (value + alignment - 1) / alignment * alignment
}
