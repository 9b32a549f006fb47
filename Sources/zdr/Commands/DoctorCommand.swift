#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import CVaultSystem

/// `zdr doctor`: checks this host for what the vault needs and says how to fix what is missing.
enum DoctorCommand: ZDRCommand {
    /// The mlock budget doctor compares RLIMIT_MEMLOCK with when `--memlock-budget` is not given:
    /// the pool budget the vault uses when locking is not limited.
    static let defaultMemlockBudget = UInt64(MemoryLimits.unlimitedDefaultBudget)

    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let memlockBudget = OptionSpec.value("memlock-budget", "BYTES", "Locked memory the vault is configured to use (default 64M).")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["doctor"],
        summary: "Check this host for what zero data retention needs (pass/warn/fail with a fix each).",
        discussion: """
            Checks: memfd_secret, RLIMIT_MEMLOCK against the vault's budget, core dumps, swap and \
            its encryption, transparent huge pages, ptrace restrictions (Yama), the dumpable \
            flag, and the kernel version.
            Exit status: 0 ready, 1 degraded (a warning), 2 unsafe (a failure), 64 usage error.
            """,
        options: [memlockBudget, json]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let budget = try arguments.byteSize(Self.memlockBudget, default: defaultMemlockBudget)
        let report = HostDoctor(memlockBudget: budget).run()
        if arguments.flag(Self.json) {
            console.out(report.json.rendered())
        } else {
            render(report, console: console)
        }
        return report.exitCode
    }

    private static func render(_ report: DoctorReport, console: Console) {
        console.out("zdr doctor: kernel \(report.kernel) (\(report.machine))")
        let width = report.checks.map(\.id.count).max() ?? 0
        for check in report.checks {
            let label: String
            switch check.status {
            case .pass: label = console.paint("PASS", .green)
            case .warn: label = console.paint("WARN", .yellow)
            case .fail: label = console.paint("FAIL", .red)
            }
            console.out("\(label)  \(check.id.padding(toLength: width))  \(check.detail)")
            if let fix = check.fix {
                console.out("      \(String(repeating: " ", count: width))  " + console.paint("fix: \(fix)", .dim))
            }
        }
        let verdict: String
        switch report.exitCode {
        case .ok: verdict = console.paint("ready", .green)
        case .finding: verdict = console.paint("degraded", .yellow)
        default: verdict = console.paint("unsafe", .red)
        }
        console.out("result: \(verdict) (\(report.count(.pass)) pass, \(report.count(.warn)) warn, \(report.count(.fail)) fail)")
    }
}

/// One check's outcome.
struct HostCheck: Sendable {
    enum Status: String, Sendable { case pass, warn, fail }
    let id: String
    let status: Status
    let detail: String
    let fix: String?
}

/// Everything doctor found.
struct DoctorReport: Sendable {
    let kernel: String
    let machine: String
    let memlockBudget: UInt64
    let checks: [HostCheck]

    func count(_ status: HostCheck.Status) -> Int { checks.filter { $0.status == status }.count }

    var exitCode: ExitCode {
        if count(.fail) > 0 { return .failure }
        if count(.warn) > 0 { return .finding }
        return .ok
    }

    var verdict: String {
        switch exitCode {
        case .ok: "ready"
        case .finding: "degraded"
        default: "unsafe"
        }
    }

    var json: JSON {
        .object([
            ("zdr", .string(CLI.version)),
            ("kernel", .string(kernel)),
            ("machine", .string(machine)),
            ("memlockBudget", .uint(memlockBudget)),
            ("status", .string(verdict)),
            ("exitCode", .int(Int(exitCode.rawValue))),
            ("checks", .array(checks.map { check in
                .object([
                    ("id", .string(check.id)),
                    ("status", .string(check.status.rawValue)),
                    ("detail", .string(check.detail)),
                    ("fix", .optional(check.fix)),
                ])
            })),
        ])
    }
}

/// The checks themselves. Each reads the host and never changes it (the dumpable probe restores
/// the flag it flips).
struct HostDoctor {
    let memlockBudget: UInt64
    /// Prefix for every /proc and /sys path read (tests point it at a fake tree).
    var root = ""

    // The resource numbers are the same on every Linux architecture Swift supports; Glibc's
    // overlay does not always import the RLIMIT_* enum cases.
    static let rlimitCore: Int32 = 4
    static let rlimitMemlock: Int32 = 8

    func run() -> DoctorReport {
        let (kernel, machine) = Self.uname()
        let secret = memfdSecret()
        let memlock = memlockCheck()
        let memlockSufficient = memlock.status == .pass
        let checks = [
            secret,
            memlock,
            coreDumps(),
            swap(secretmemWorks: secret.status == .pass, memlockSufficient: memlockSufficient),
            transparentHugePages(),
            ptraceScope(),
            dumpable(),
            kernelVersion(kernel),
        ]
        return DoctorReport(kernel: kernel, machine: machine, memlockBudget: memlockBudget, checks: checks)
    }

    static func uname() -> (release: String, machine: String) {
        var names = utsname()
        Glibc.uname(&names)
        let release = withUnsafeBytes(of: names.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let machine = withUnsafeBytes(of: names.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return (release, machine)
    }

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
                             detail: "unavailable: \(describeErrno(code)); the vault falls back to locked anonymous memory",
                             fix: fix)
        }
        defer { close(fd) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard ftruncate(fd, off_t(page)) == 0 else {
            return HostCheck(id: id, status: .warn, detail: "ftruncate failed: \(describeErrno(errno))",
                             fix: "check the kernel's secretmem support")
        }
        guard let mapping = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let code = errno
            return HostCheck(id: id, status: .warn,
                             detail: "memfd_secret exists but mapping failed: \(describeErrno(code))",
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

    func memlockCheck() -> HostCheck {
        let id = "memlock"
        var limit = rlimit()
        guard getrlimit(Self.rlimitMemlock, &limit) == 0 else {
            return HostCheck(id: id, status: .warn, detail: "getrlimit failed: \(describeErrno(errno))", fix: nil)
        }
        let soft = UInt64(limit.rlim_cur)
        let hard = UInt64(limit.rlim_max)
        let unlimited = UInt64.max  // RLIM_INFINITY
        let hasCapability = Self.hasCapability(14)  // CAP_IPC_LOCK ignores the limit
        func show(_ value: UInt64) -> String { value == unlimited ? "unlimited" : formatBytes(value) }
        let budgetText = formatBytes(memlockBudget)
        if soft == unlimited || soft >= memlockBudget {
            return HostCheck(id: id, status: .pass,
                             detail: "RLIMIT_MEMLOCK \(show(soft)) covers the \(budgetText) budget", fix: nil)
        }
        if hasCapability {
            return HostCheck(id: id, status: .pass,
                             detail: "RLIMIT_MEMLOCK \(show(soft)) is below the \(budgetText) budget, but CAP_IPC_LOCK lifts it",
                             fix: nil)
        }
        let fix = hard == unlimited || hard >= memlockBudget
            ? "raise the soft limit: ulimit -l \(memlockBudget / 1024) (or LimitMEMLOCK= in the systemd unit)"
            : "raise the hard limit: LimitMEMLOCK=\(memlockBudget / 1024)K in the systemd unit, memlock in /etc/security/limits.conf, or --ulimit memlock for containers"
        // With no budget configured the vault sizes its pool to the limit (MemoryLimits).
        let pool = formatBytes(UInt64(max(0, MemoryLimits.current().defaultBudget)))
        return HostCheck(id: id, status: .warn,
                         detail: "RLIMIT_MEMLOCK \(show(soft)) (hard \(show(hard))) is below the \(budgetText) budget: a vault with no budget set caps its pool at \(pool); one configured for \(budgetText) fails to lock memory past the limit",
                         fix: fix)
    }

    /// Whether the effective capability set holds capability number `bit`.
    static func hasCapability(_ bit: Int) -> Bool {
        guard let status = ProcFS.readText("/proc/self/status") else { return false }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hexText = line.dropFirst("CapEff:".count).trimmingPrefixWhitespace
            guard let mask = UInt64(hexText, radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }

    // MARK: - Core dumps

    func coreDumps() -> HostCheck {
        let id = "core_dumps"
        var limit = rlimit()
        getrlimit(Self.rlimitCore, &limit)
        let pattern = ProcFS.readText(root + "/proc/sys/kernel/core_pattern") ?? ""
        let piped = pattern.hasPrefix("|")
        let collector = piped
            ? String(pattern.dropFirst().split(separator: " ").first ?? "").split(separator: "/").last.map(String.init) ?? "a program"
            : nil
        if limit.rlim_cur == 0 && !piped {
            return HostCheck(id: id, status: .pass, detail: "disabled (RLIMIT_CORE 0)", fix: nil)
        }
        if let collector {
            // The kernel does not apply RLIMIT_CORE to a piped core_pattern (core(5)): the
            // collector receives the dump and decides what to keep, so a zero limit is no
            // guarantee here.
            let limitText = limit.rlim_cur == 0 ? "RLIMIT_CORE is 0, but the kernel ignores it for pipes: " : ""
            return HostCheck(id: id, status: .warn,
                             detail: "\(limitText)core dumps are piped to \(collector), which may store them; vault pages are excluded (MADV_DONTDUMP) but other heap memory is not",
                             fix: "set Storage=none in /etc/systemd/coredump.conf (systemd-coredump) or ulimit -c 0 / LimitCORE=0 for the service")
        }
        return HostCheck(id: id, status: .warn,
                         detail: "enabled (RLIMIT_CORE \(limit.rlim_cur == rlim_t.max ? "unlimited" : formatBytes(UInt64(limit.rlim_cur)))) to '\(pattern.split(separator: "/").last.map(String.init) ?? pattern)'; vault pages are excluded but other heap memory is not",
                         fix: "ulimit -c 0 (LimitCORE=0 in the systemd unit)")
    }

    // MARK: - Swap

    func swap(secretmemWorks: Bool, memlockSufficient: Bool) -> HostCheck {
        let id = "swap"
        guard let table = ProcFS.readText(root + "/proc/swaps") else {
            return HostCheck(id: id, status: .pass, detail: "no /proc/swaps (swap not configured)", fix: nil)
        }
        let devices = table.split(separator: "\n").dropFirst().compactMap { line -> String? in
            line.split(separator: " ", omittingEmptySubsequences: true).first.map {
                String($0).replacingOctalSpaces
            }
        }
        if devices.isEmpty {
            return HostCheck(id: id, status: .pass, detail: "off", fix: nil)
        }
        let unencrypted = devices.filter { !swapIsProtected($0) }
        if unencrypted.isEmpty {
            return HostCheck(id: id, status: .pass,
                             detail: "on, \(devices.count) area(s), all encrypted (dm-crypt) or in RAM (zram)", fix: nil)
        }
        let fix = "encrypt swap (dm-crypt with a random key, e.g. 'swap' in /etc/crypttab), use zram, or turn it off: swapoff -a"
        if !secretmemWorks && !memlockSufficient {
            return HostCheck(id: id, status: .fail,
                             detail: "on and unencrypted (\(unencrypted.count) of \(devices.count) areas), and vault memory cannot be fully locked: content could be written to disk",
                             fix: fix + "; and raise RLIMIT_MEMLOCK")
        }
        return HostCheck(id: id, status: .warn,
                         detail: "on and unencrypted (\(unencrypted.count) of \(devices.count) areas); vault pages are locked, but other process memory can reach disk",
                         fix: fix)
    }

    /// A swap area is protected when it lives in RAM (zram) or on dm-crypt, possibly under LVM.
    func swapIsProtected(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let isBlock = (info.st_mode & S_IFMT) == S_IFBLK
        let device = isBlock ? info.st_rdev : info.st_dev
        let major = (device >> 8) & 0xfff | (device >> 32) & ~0xfff
        let minor = (device & 0xff) | (device >> 12) & ~0xff
        guard let sysPath = ProcFS.resolve(root + "/sys/dev/block/\(major):\(minor)") else { return false }
        var name = String(sysPath.split(separator: "/").last ?? "")
        // A partition's own directory has no dm/ or slaves/: look at its parent disk.
        if ProcFS.exists(root + "/sys/class/block/\(name)/partition"),
           let parent = sysPath.split(separator: "/").dropLast().last {
            name = String(parent)
        }
        return blockDeviceIsProtected(name, depth: 0)
    }

    func blockDeviceIsProtected(_ name: String, depth: Int) -> Bool {
        if depth > 8 { return false }
        if name.hasPrefix("zram") { return true }
        if let uuid = ProcFS.readText(root + "/sys/class/block/\(name)/dm/uuid"), uuid.hasPrefix("CRYPT-") {
            return true
        }
        let slaves = ProcFS.list(root + "/sys/class/block/\(name)/slaves")
        return !slaves.isEmpty && slaves.allSatisfy { blockDeviceIsProtected($0, depth: depth + 1) }
    }

    // MARK: - Transparent huge pages

    func transparentHugePages() -> HostCheck {
        let id = "transparent_hugepages"
        guard let setting = ProcFS.readText(root + "/sys/kernel/mm/transparent_hugepage/enabled") else {
            return HostCheck(id: id, status: .pass, detail: "not built into this kernel", fix: nil)
        }
        let selected = Self.bracketed(setting) ?? setting
        if selected == "always" {
            return HostCheck(id: id, status: .warn,
                             detail: "always: khugepaged may copy heap pages into huge pages and free the originals unwiped (vault regions opt out with MADV_NOHUGEPAGE)",
                             fix: "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (or transparent_hugepage=madvise on the kernel command line)")
        }
        return HostCheck(id: id, status: .pass, detail: "\(selected): only regions that ask for huge pages get them", fix: nil)
    }

    /// `always [madvise] never` → `madvise`.
    static func bracketed(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    // MARK: - ptrace

    func ptraceScope() -> HostCheck {
        let id = "ptrace_scope"
        guard let text = ProcFS.readText(root + "/proc/sys/kernel/yama/ptrace_scope"), let scope = Int(text) else {
            return HostCheck(id: id, status: .warn,
                             detail: "Yama is not active: any process of the same user can read a dumpable process's memory",
                             fix: "enable Yama (CONFIG_SECURITY_YAMA, lsm=...,yama) and set kernel.yama.ptrace_scope=1; the vault also clears the dumpable flag")
        }
        let meaning = [0: "classic (same user may attach)", 1: "restricted (only descendants)", 2: "admin-only", 3: "no attach"]
        if scope == 0 {
            return HostCheck(id: id, status: .warn,
                             detail: "kernel.yama.ptrace_scope=0, \(meaning[0]!)",
                             fix: "sysctl -w kernel.yama.ptrace_scope=1 (persist in /etc/sysctl.d)")
        }
        return HostCheck(id: id, status: .pass,
                         detail: "kernel.yama.ptrace_scope=\(scope), \(meaning[scope] ?? "restricted")", fix: nil)
    }

    // MARK: - Dumpable

    /// Flips PR_SET_DUMPABLE to 0 and back: the vault clears it at start so that cores are not
    /// written and /proc/PID/mem is closed to same-user processes.
    func dumpable() -> HostCheck {
        let id = "dumpable"
        let before = cvault_prctl(cvault_pr_get_dumpable, 0)
        guard before >= 0 else {
            return HostCheck(id: id, status: .warn, detail: "PR_GET_DUMPABLE failed: \(describeErrno(cvault_errno()))", fix: nil)
        }
        let cleared = cvault_prctl(cvault_pr_set_dumpable, 0) == 0 && cvault_prctl(cvault_pr_get_dumpable, 0) == 0
        _ = cvault_prctl(cvault_pr_set_dumpable, UInt(before))
        guard cleared else {
            return HostCheck(id: id, status: .warn,
                             detail: "PR_SET_DUMPABLE 0 was refused: \(describeErrno(cvault_errno()))",
                             fix: "check seccomp policy for prctl")
        }
        return HostCheck(id: id, status: .pass,
                         detail: "flag is \(before) by default and can be cleared (the vault sets it to 0)", fix: nil)
    }

    // MARK: - Kernel version

    func kernelVersion(_ release: String) -> HostCheck {
        let id = "kernel"
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else {
            return HostCheck(id: id, status: .warn, detail: "cannot parse kernel release '\(release)'", fix: nil)
        }
        let version = numbers[0] * 1000 + numbers[1]
        let shown = "\(numbers[0]).\(numbers[1])"
        if version >= 5014 {
            return HostCheck(id: id, status: .pass,
                             detail: "\(shown): has memfd_secret, MADV_WIPEONFORK and MADV_DONTDUMP", fix: nil)
        }
        if version >= 4014 {
            return HostCheck(id: id, status: .warn,
                             detail: "\(shown): older than 5.14, no memfd_secret", fix: "upgrade to Linux 5.14 or later")
        }
        return HostCheck(id: id, status: .fail,
                         detail: "\(shown): older than 4.14, no MADV_WIPEONFORK: forked children inherit vault pages",
                         fix: "upgrade to Linux 5.14 or later")
    }
}

private extension Substring {
    var trimmingPrefixWhitespace: Substring { drop { $0 == " " || $0 == "\t" } }
}

private extension String {
    /// /proc/swaps escapes spaces in paths as `\040`.
    var replacingOctalSpaces: String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: "\\040") {
            result += rest[..<range.lowerBound] + " "
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
