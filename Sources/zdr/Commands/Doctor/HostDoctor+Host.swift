#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVaultSystem
import VaultSystem

// The checks of the host around the process: core dumps, swap, huge pages, ptrace, the
// dumpable flag and the kernel.
extension HostDoctor {
    // MARK: - Core dumps

    func coreDumps() -> HostCheck {
        let id = "core_dumps"
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(cvault_rlimit_core), &limit)
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
            return HostCheck(id: id, status: .warn, detail: "PR_GET_DUMPABLE failed: \(Errno(rawValue: cvault_errno()))", fix: nil)
        }
        let cleared = cvault_prctl(cvault_pr_set_dumpable, 0) == 0 && cvault_prctl(cvault_pr_get_dumpable, 0) == 0
        _ = cvault_prctl(cvault_pr_set_dumpable, UInt(before))
        guard cleared else {
            return HostCheck(id: id, status: .warn,
                             detail: "PR_SET_DUMPABLE 0 was refused: \(Errno(rawValue: cvault_errno()))",
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
