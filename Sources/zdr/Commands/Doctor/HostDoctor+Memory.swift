#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVaultSystem
import ZeroRetention
import VaultSystem

// The checks of the memory the vault locks: secret memory and the locked-memory limit.
extension HostDoctor {
    // MARK: - memfd_secret

    /// Creates a secret memory file, maps one page and touches it: the syscall can exist while
    /// mapping still fails (secretmem disabled at boot, or no mlock budget left).
    func memfdSecret() -> HostCheck {
        let id = "memfd_secret"
        let fd = cvault_memfd_secret(UInt32(O_CLOEXEC))
        if fd < 0 {
            let code = cvault_errno()
            let fix = code == ENOSYS
                ? "use a kernel >= 5.14 built with CONFIG_SECRETMEM=y; before 6.5 also boot with secretmem.enable=1"
                : "check seccomp/container policy: the memfd_secret syscall (447) is being refused"
            return HostCheck(id: id, status: .warn,
                             detail: "unavailable: \(Errno(rawValue: code)); the vault falls back to locked anonymous memory",
                             fix: fix)
        }
        defer { close(fd) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard ftruncate(fd, off_t(page)) == 0 else {
            return HostCheck(id: id, status: .warn, detail: "ftruncate failed: \(Errno.current)",
                             fix: "check the kernel's secretmem support")
        }
        guard let mapping = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let code = errno
            return HostCheck(id: id, status: .warn,
                             detail: "memfd_secret exists but mapping failed: \(Errno(rawValue: code))",
                             fix: code == EAGAIN || code == ENOMEM || code == EPERM
                                 ? "raise RLIMIT_MEMLOCK (secret memory counts as locked memory)"
                                 : "check the kernel's secretmem support")
        }
        mapping.storeBytes(of: 1, as: UInt8.self)
        mapping.storeBytes(of: 0, as: UInt8.self)
        munmap(mapping, page)
        return HostCheck(id: id, status: .pass,
                         detail: "available: vault pages can be removed from the kernel's direct map", fix: nil)
    }

    // MARK: - RLIMIT_MEMLOCK

    /// The vault's own reading of the limits (`MemoryLimits`), against the budget it will lock.
    func memlockCheck() -> HostCheck {
        let id = "memlock"
        let limits = MemoryLimits.current()
        func show(_ value: Int?) -> String { value.map { formatBytes(UInt64($0)) } ?? "unlimited" }
        let soft = limits.lockedSoftLimit
        let hard = limits.lockedHardLimit
        let budgetText = formatBytes(memlockBudget)
        if soft.map({ UInt64($0) >= memlockBudget }) ?? true {
            return HostCheck(id: id, status: .pass,
                             detail: "RLIMIT_MEMLOCK \(show(soft)) covers the \(budgetText) budget", fix: nil)
        }
        if limits.hasLockCapability {
            return HostCheck(id: id, status: .pass,
                             detail: "RLIMIT_MEMLOCK \(show(soft)) is below the \(budgetText) budget, but CAP_IPC_LOCK lifts it",
                             fix: nil)
        }
        let fix = hard.map({ UInt64($0) >= memlockBudget }) ?? true
            ? "raise the soft limit: ulimit -l \(memlockBudget / 1024) (or LimitMEMLOCK= in the systemd unit)"
            : "raise the hard limit: LimitMEMLOCK=\(memlockBudget / 1024)K in the systemd unit, memlock in /etc/security/limits.conf, or --ulimit memlock for containers"
        // With no budget configured the vault sizes its pool to the limit (MemoryLimits).
        let pool = formatBytes(UInt64(max(0, limits.defaultBudget)))
        return HostCheck(id: id, status: .warn,
                         detail: "RLIMIT_MEMLOCK \(show(soft)) (hard \(show(hard))) is below the \(budgetText) budget: a vault with no budget set caps its pool at \(pool); one configured for \(budgetText) fails to lock memory past the limit",
                         fix: fix)
    }
}
