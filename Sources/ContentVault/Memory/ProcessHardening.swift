import VaultSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CVaultSystem

/// Process-wide hardening for a server that holds request content; `Vault()` applies it by
/// default (`Vault.Configuration.hardensProcess`).
///
/// Locked regions are already excluded from core dumps; this closes the rest of the process
/// (the heap, stacks, every thread's saved registers, libsodium's own buffers) to dumps and to
/// `ptrace` attach by same-user processes. Root (`CAP_SYS_PTRACE`) can still read the process,
/// and a core collector outside it (a `gcore` run by root) still sees registers.
public enum ProcessHardening {
    /// What ``apply()`` did.
    public struct Report: Hashable, Sendable, CustomStringConvertible {
        /// `PR_SET_DUMPABLE` is now 0: no core dumps, `/proc/<pid>/mem` and ptrace limited to root.
        public var dumpableDisabled: Bool
        /// `RLIMIT_CORE` soft limit is now 0. The hard limit is left alone so that child
        /// processes may still choose to dump.
        public var coreSoftLimitZeroed: Bool
        /// The errno of each step that failed.
        public var failures: [String: Int32]

        public var description: String {
            var parts = ["dumpable=\(dumpableDisabled ? "0" : "unchanged")", "core soft limit=\(coreSoftLimitZeroed ? "0" : "unchanged")"]
            for (step, code) in failures.sorted(by: { $0.key < $1.key }) { parts.append("\(step) failed (\(Errno(rawValue: code).name))") }
            return "ProcessHardening(" + parts.joined(separator: ", ") + ")"
        }
    }

    /// Sets `PR_SET_DUMPABLE` to 0 and the soft `RLIMIT_CORE` to 0, and reports what applied.
    @discardableResult
    public static func apply() -> Report {
        var report = Report(dumpableDisabled: false, coreSoftLimitZeroed: false, failures: [:])
        if cvault_prctl(cvault_pr_set_dumpable, 0) == 0 {
            report.dumpableDisabled = true
        } else {
            report.failures["PR_SET_DUMPABLE"] = cvault_errno()
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(cvault_rlimit_core), &limit) == 0 {
            limit.rlim_cur = 0
            if setrlimit(__rlimit_resource_t(cvault_rlimit_core), &limit) == 0 {
                report.coreSoftLimitZeroed = true
            } else {
                report.failures["RLIMIT_CORE"] = cvault_errno()
            }
        } else {
            report.failures["RLIMIT_CORE"] = cvault_errno()
        }
        return report
    }

    /// Whether the process is currently dumpable (`PR_GET_DUMPABLE`).
    public static var isDumpable: Bool {
        cvault_prctl(cvault_pr_get_dumpable, 0) != 0
    }
}
