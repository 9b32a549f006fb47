#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CVaultSystem
import VaultSystem

/// The process's locked-memory limits, read from the kernel.
public struct MemoryLimits: Hashable, Sendable, CustomStringConvertible {
    /// `RLIMIT_MEMLOCK` soft limit in bytes; `nil` when unlimited.
    public let lockedSoftLimit: Int?
    /// `RLIMIT_MEMLOCK` hard limit in bytes; `nil` when unlimited.
    public let lockedHardLimit: Int?
    /// Whether the process has `CAP_IPC_LOCK`, which lifts `RLIMIT_MEMLOCK` for `mlock`.
    public let hasLockCapability: Bool

    /// Default pool budget when a configuration sets none: 64 MiB when locking is not limited,
    /// otherwise three quarters of `RLIMIT_MEMLOCK` (the rest is left for libsodium's own locked
    /// allocations and the host).
    public static let unlimitedDefaultBudget = 64 << 20

    public var defaultBudget: Int {
        guard let soft = lockedSoftLimit, !hasLockCapability else { return Self.unlimitedDefaultBudget }
        return min(Self.unlimitedDefaultBudget, soft / 4 * 3 / systemPageSize * systemPageSize)
    }

    /// Reads the limits now.
    public static func current() -> MemoryLimits {
        var limit = rlimit()
        let known = getrlimit(__rlimit_resource_t(cvault_rlimit_memlock), &limit) == 0
        func bytes(_ value: rlim_t) -> Int? {
            value == rlim_t.max ? nil : Int(clamping: value)
        }
        return MemoryLimits(
            lockedSoftLimit: known ? bytes(limit.rlim_cur) : 0,
            lockedHardLimit: known ? bytes(limit.rlim_max) : 0,
            hasLockCapability: effectiveCapabilities().map { $0 & (1 << 14) != 0 } ?? false)
    }

    public var description: String {
        func show(_ value: Int?) -> String { value.map { "\($0) B" } ?? "unlimited" }
        return "RLIMIT_MEMLOCK soft \(show(lockedSoftLimit)), hard \(show(lockedHardLimit)), CAP_IPC_LOCK \(hasLockCapability ? "yes" : "no")"
    }

    /// `CapEff` from /proc/self/status (bit 14 is CAP_IPC_LOCK).
    private static func effectiveCapabilities() -> UInt64? {
        guard let status = readSmallProcFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" }), radix: 16)
        }
        return nil
    }
}

/// Reads a small text file from /proc or /sys (metadata, never content).
func readSmallProcFile(_ path: String) -> String? {
    (try? FileSystem.live.readFile(path, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }
}
