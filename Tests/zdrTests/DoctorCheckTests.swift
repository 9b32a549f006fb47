import Foundation
import Testing
@testable import zdr

/// Doctor's checks against a fake /proc and /sys tree, so every verdict is exercised whatever
/// the host running the tests looks like.
@Suite("zdr doctor: each host check from fixture files") struct DoctorCheckTests {
    /// A temporary directory standing in for `/`.
    struct FakeRoot {
        let path: String

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-root-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        func write(_ relative: String, _ text: String) throws {
            let url = URL(fileURLWithPath: path + relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        func directory(_ relative: String) throws {
            try FileManager.default.createDirectory(atPath: path + relative, withIntermediateDirectories: true)
        }

        var doctor: HostDoctor { HostDoctor(memlockBudget: 64 << 20, root: path) }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test("ptrace scope", arguments: [(nil, HostCheck.Status.warn), ("0\n", .warn), ("1\n", .pass), ("3\n", .pass)] as [(String?, HostCheck.Status)])
    func ptraceScope(value: String?, expected: HostCheck.Status) throws {
        let root = try FakeRoot()
        defer { root.remove() }
        if let value { try root.write("/proc/sys/kernel/yama/ptrace_scope", value) }
        let check = root.doctor.ptraceScope()
        #expect(check.status == expected)
        #expect((check.fix != nil) == (expected != .pass))
    }

    @Test("transparent huge pages", arguments: [("[always] madvise never", HostCheck.Status.warn), ("always [madvise] never", .pass),
                      ("always madvise [never]", .pass)])
    func transparentHugePages(setting: String, expected: HostCheck.Status) throws {
        let root = try FakeRoot()
        defer { root.remove() }
        try root.write("/sys/kernel/mm/transparent_hugepage/enabled", setting + "\n")
        #expect(root.doctor.transparentHugePages().status == expected)
    }

    @Test("transparent huge pages absent passes") func transparentHugePagesAbsentPasses() throws {
        let root = try FakeRoot()
        defer { root.remove() }
        #expect(root.doctor.transparentHugePages().status == .pass)
    }

    @Test("piped core pattern names the collector") func pipedCorePatternNamesTheCollector() throws {
        let root = try FakeRoot()
        defer { root.remove() }
        try root.write("/proc/sys/kernel/core_pattern", "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n")
        let check = root.doctor.coreDumps()
        #expect(check.status == .warn)
        #expect(check.detail.contains("systemd-coredump"))
        #expect(check.fix?.contains("Storage=none") == true)
    }

    @Test("swap off passes") func swapOffPasses() throws {
        let root = try FakeRoot()
        defer { root.remove() }
        try root.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
        #expect(root.doctor.swap(secretmemWorks: false, memlockSufficient: false).status == .pass)
    }

    @Test("unencrypted swap warns or fails") func unencryptedSwapWarnsOrFails() throws {
        let root = try FakeRoot()
        defer { root.remove() }
        try root.write("/proc/swaps", """
            Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
            /nonexistent/zdr-swap\\040file                  file\t\t1048572\t\t0\t\t-2

            """)
        let doctor = root.doctor
        // Vault pages cannot reach disk when secretmem works or memory can be locked: degraded.
        #expect(doctor.swap(secretmemWorks: true, memlockSufficient: false).status == .warn)
        #expect(doctor.swap(secretmemWorks: false, memlockSufficient: true).status == .warn)
        // Neither: vault content itself could be swapped to an unencrypted disk.
        let unsafe = doctor.swap(secretmemWorks: false, memlockSufficient: false)
        #expect(unsafe.status == .fail)
        #expect(unsafe.detail.contains("1 of 1"))
    }

    @Test("block devices under dm-crypt or zram are protected") func blockDevicesUnderDmCryptOrZramAreProtected() throws {
        let root = try FakeRoot()
        defer { root.remove() }
        try root.write("/sys/class/block/dm-0/dm/uuid", "CRYPT-LUKS2-0123456789abcdef-cryptswap\n")
        try root.write("/sys/class/block/dm-1/dm/uuid", "LVM-abcdef\n")
        try root.directory("/sys/class/block/dm-1/slaves/dm-0")
        try root.write("/sys/class/block/dm-2/dm/uuid", "LVM-plain\n")
        try root.directory("/sys/class/block/dm-2/slaves/sda3")
        try root.directory("/sys/class/block/sda3")
        let doctor = root.doctor
        #expect(doctor.blockDeviceIsProtected("dm-0", depth: 0))
        #expect(doctor.blockDeviceIsProtected("dm-1", depth: 0))  // LVM on LUKS
        #expect(!doctor.blockDeviceIsProtected("dm-2", depth: 0))  // LVM on a plain partition
        #expect(!doctor.blockDeviceIsProtected("sda3", depth: 0))
        #expect(doctor.blockDeviceIsProtected("zram0", depth: 0))
    }

    @Test("kernel version", arguments: [("6.1.0-13-amd64", HostCheck.Status.pass), ("5.14.0", .pass), ("5.10.0-27", .warn),
                      ("4.9.0", .fail), ("weird", .warn)])
    func kernelVersion(release: String, expected: HostCheck.Status) {
        #expect(HostDoctor(memlockBudget: 0).kernelVersion(release).status == expected)
    }

    @Test("verdict is the worst check") func verdictIsTheWorstCheck() {
        func report(_ statuses: [HostCheck.Status]) -> DoctorReport {
            DoctorReport(kernel: "6.1", machine: "x86_64", memlockBudget: 0,
                         checks: statuses.enumerated().map { HostCheck(id: "c\($0.offset)", status: $0.element, detail: "", fix: nil) })
        }
        #expect(report([.pass, .pass]).exitCode == .ok)
        #expect(report([.pass, .warn]).exitCode == .finding)
        #expect(report([.warn, .fail, .pass]).exitCode == .failure)
        #expect(report([.warn, .fail]).verdict == "unsafe")
    }
}
