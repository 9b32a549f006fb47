import VaultSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why locked memory could not be provided or released cleanly.
///
/// Every case carries numbers only (sizes, `errno`), never content, so an error can be logged,
/// thrown across module boundaries or shown to an operator without leaking what a buffer held.
public enum LockedMemoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A request for zero or a negative number of bytes, or more than the pool can ever map.
    case invalidByteCount(Int)
    /// Serving the request would exceed the pool's byte budget. This is backpressure for the
    /// host (reject or queue the request, retry later): the bytes come back as live buffers are
    /// released. The pool never falls back to unlocked memory.
    case budgetExhausted(requested: Int, budget: Int, inUse: Int)
    /// At start: `RLIMIT_MEMLOCK` is below the budget and the process lacks `CAP_IPC_LOCK`, so
    /// requests would fail once the locked bytes reach the limit. Secret memory counts against
    /// the same limit.
    case lockLimitBelowBudget(budget: Int, lockLimit: Int)
    /// At start: the budget cannot hold a single region of the smallest size class, so every
    /// request would fail. Without an explicit budget it is ¾ of `RLIMIT_MEMLOCK`.
    case budgetBelowOneRegion(budget: Int, regionByteCount: Int)
    /// `memfd_secret(2)` was refused (`ENOSYS`: kernel without secretmem or booted with
    /// `secretmem.enable=0`; `EPERM`/`EAGAIN`/`ENOMEM`: limits).
    case secretMemoryUnavailable(errno: Int32)
    /// `mmap(2)` or `ftruncate(2)` failed while reserving a region.
    case mapFailed(errno: Int32)
    /// `mprotect(2)` failed while setting up guard pages.
    case protectFailed(errno: Int32)
    /// `mlock(2)` failed, or secretmem's `mmap(2)` refused with `EAGAIN`: usually
    /// `RLIMIT_MEMLOCK` is lower than the locked memory the process needs.
    case lockFailed(errno: Int32)
    /// `madvise(2)` refused an advice the backend depends on.
    case adviseFailed(advice: MemoryAdvice, errno: Int32)
    /// The process-wide purge registry is full; the region was not mapped.
    case purgeRegistryFull
    /// The unprotected backend was requested without the explicit development opt-in.
    case unprotectedBackendNotAllowed
    /// A canary next to a slot was overwritten: something wrote past (or before) the buffer.
    /// Memory corruption: under the default ``MemoryCorruptionPolicy/terminate`` the process is
    /// purged and ends; under ``MemoryCorruptionPolicy/quarantineAndReport`` the whole slot was
    /// wiped and quarantined (never reused).
    case canaryOverrun(slotCapacity: Int)
    /// Bytes between the buffer's length and the end of its slot were written: a write past the
    /// buffer that stayed inside the slot, where no canary sees it. Memory corruption, handled
    /// like ``canaryOverrun(slotCapacity:)``.
    case writePastLength(length: Int, slotCapacity: Int)
    /// A slot did not read back as zero after its wipe. Memory corruption, handled like
    /// ``canaryOverrun(slotCapacity:)``.
    case wipeVerificationFailed(slotCapacity: Int)
    /// `read(2)` failed while ingesting from a file descriptor.
    case readFailed(errno: Int32)
    /// The input was longer than the limit the caller set for it.
    case inputTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .invalidByteCount(let count):
            return "invalid byte count \(count)"
        case .budgetExhausted(let requested, let budget, let inUse):
            return "locked-memory budget exhausted: \(requested) bytes requested, \(inUse) of \(budget) in use"
        case .lockLimitBelowBudget(let budget, let limit):
            return "RLIMIT_MEMLOCK (\(limit) B) is below the \(budget)-byte locked-memory budget: \(lockLimitFix), or lower the budget"
        case .budgetBelowOneRegion(let budget, let region):
            return "the \(budget)-byte locked-memory budget cannot hold one \(region)-byte region: raise the budget (by default ¾ of RLIMIT_MEMLOCK: \(lockLimitFix)) or lower regionByteCount"
        case .secretMemoryUnavailable(let code):
            return "memfd_secret unavailable (\(Errno(rawValue: code).name))"
        case .mapFailed(let code):
            return "mmap failed (\(Errno(rawValue: code).name))"
        case .protectFailed(let code):
            return "mprotect failed for guard pages (\(Errno(rawValue: code).name))"
        case .lockFailed(let code):
            return "locking memory failed (\(Errno(rawValue: code).name)): \(lockLimitFix), or lower the pool budget"
        case .adviseFailed(let advice, let code):
            return "madvise(\(advice)) failed (\(Errno(rawValue: code).name))"
        case .purgeRegistryFull:
            return "purge registry full: too many locked regions"
        case .unprotectedBackendNotAllowed:
            return "the unprotected backend needs the explicit development opt-in"
        case .canaryOverrun(let capacity):
            return "canary overwritten next to a \(capacity)-byte slot: write past the buffer; slot quarantined"
        case .writePastLength(let length, let capacity):
            return "bytes written past the \(length)-byte length of a buffer inside its \(capacity)-byte slot; slot quarantined"
        case .wipeVerificationFailed(let capacity):
            return "a \(capacity)-byte slot did not read back as zero after its wipe; slot quarantined"
        case .readFailed(let code):
            return "read failed (\(Errno(rawValue: code).name))"
        case .inputTooLarge(let limit):
            return "input longer than the \(limit)-byte limit"
        }
    }
}

extension LockedMemoryError {
    /// Whether this is a memory-corruption event (a release found an overrun or a wipe that did
    /// not hold), as opposed to a refusal to provide memory.
    public var isMemoryCorruption: Bool {
        switch self {
        case .canaryOverrun, .writePastLength, .wipeVerificationFailed: return true
        default: return false
        }
    }
}

/// How to let the process lock more memory, named in every error a lock limit causes.
let lockLimitFix = "raise RLIMIT_MEMLOCK (`ulimit -l` in the shell, `LimitMEMLOCK=` in the systemd unit, `--ulimit memlock=` for Docker) or grant CAP_IPC_LOCK"

/// The `madvise(2)` advices the memory layer depends on.
public enum MemoryAdvice: String, Hashable, Sendable {
    case dontDump = "MADV_DONTDUMP"
    case dontFork = "MADV_DONTFORK"
    case wipeOnFork = "MADV_WIPEONFORK"
}
