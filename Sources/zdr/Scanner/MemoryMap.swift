/// One line of /proc/PID/maps. The path is mapping metadata (a file name or `[heap]`), never
/// memory contents.
struct MemoryRegion: Sendable, Equatable {
    let start: UInt64
    let end: UInt64
    /// `rw-p` and friends.
    let permissions: String
    let inode: UInt64
    let path: String

    var size: UInt64 { end - start }
    var isReadable: Bool { permissions.first == "r" }

    /// memfd_secret mappings: removed from the kernel's direct map, so /proc/PID/mem cannot read
    /// them. They are reported as unreadable, never as clean.
    var isSecretMemory: Bool { path.hasPrefix("/secretmem") }

    /// Kernel-provided pages that hold no process data and fault when read through /proc/PID/mem.
    var isKernelSpecial: Bool {
        path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]"
    }

    /// Private mappings whose untouched pages hold nothing the process wrote: anonymous memory
    /// (never-touched pages read as zeros) and private mappings of ordinary files (unmodified
    /// pages are the file's page cache; pages the process wrote become anonymous copies). Shared
    /// memory (memfd, /dev/shm, SysV) is excluded: its pages can hold data without being
    /// mapped here, so it is always read in full.
    var isPrivateAnonymousOrFile: Bool {
        guard permissions.last == "p" else { return false }
        if inode == 0 { return true }
        let sharedMemoryPrefixes = ["/memfd:", "/dev/shm/", "/SYSV", "/dev/zero", "/secretmem", "/run/shm/"]
        return path.hasPrefix("/") && !sharedMemoryPrefixes.contains { path.hasPrefix($0) }
    }

    /// What kind of region this is, for reports.
    enum Kind: String, Sendable { case scanned, unreadable, secretmem, skipped }

    var kind: Kind {
        if isSecretMemory { return .secretmem }
        if isKernelSpecial { return .skipped }
        if !isReadable { return .unreadable }
        return .scanned
    }

    /// Parses `/proc/PID/maps` text. Lines that do not parse are dropped.
    static func parse(maps text: String) -> [MemoryRegion] {
        text.split(separator: "\n").compactMap(parse(line:))
    }

    static func parse(line: Substring) -> MemoryRegion? {
        // start-end perms offset dev inode [path], the path may contain spaces.
        var fields: [Substring] = []
        var rest = line[...]
        for _ in 0..<5 {
            rest = rest.drop { $0 == " " }
            guard let space = rest.firstIndex(of: " ") ?? (rest.isEmpty ? nil : rest.endIndex) else { return nil }
            fields.append(rest[..<space])
            rest = rest[space...]
        }
        let path = String(rest.drop { $0 == " " })
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2,
              let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16), start < end,
              fields[1].count == 4,
              let inode = UInt64(fields[4])
        else { return nil }
        return MemoryRegion(start: start, end: end, permissions: String(fields[1]), inode: inode, path: path)
    }
}
