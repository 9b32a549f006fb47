#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import VaultSystem

@Suite("VaultSystem: one EINTR loop, forced errnos, file calls")
struct FileSystemTests {
    private func temporaryFile(_ contents: [UInt8] = []) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vaultsystem-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents)))
        return path
    }

    /// A counted EINTR is consulted inside the loop: the call is retried that many times and then
    /// succeeds (what a signal landing mid-call does). Without the retry the call would throw.
    @Test("a counted EINTR is retried, and the call then succeeds", arguments: [
        SystemOperation.open, .read, .write, .fsync, .fdatasync, .ftruncate, .flock, .fstat,
    ])
    func interruptedCallsAreRetried(operation: SystemOperation) throws {
        let path = try temporaryFile([1, 2, 3])
        defer { unlink(path) }
        let faults = FaultInjection()
        let files = FileSystem(faults: faults)
        faults.force(operation, .counted(.interrupted, count: 3))
        let fd = try files.open(path, O_RDWR)
        defer { files.close(fd) }
        switch operation {
        case .read: #expect(try files.readAll(fd) == [1, 2, 3])
        case .write: try files.writeAll(fd, [9], at: 3)
        case .fsync: try files.fsync(fd)
        case .fdatasync: try files.fdatasync(fd)
        case .ftruncate: try files.truncate(fd, to: 1)
        case .flock: try files.lockExclusively(fd)
        case .fstat: #expect(try files.status(fd).st_size == 3)
        default: break
        }
        #expect(faults.forcedCount(operation) == 3)
    }

    @Test("a forced errno surfaces as that Errno, and a counted one stops after its count")
    func forcedErrnoSurfaces() throws {
        let path = try temporaryFile([1])
        defer { unlink(path) }
        let faults = FaultInjection()
        let files = FileSystem(faults: faults)
        let fd = try files.open(path, O_RDWR)
        defer { files.close(fd) }
        faults.force(.fdatasync, .counted(.ioError, count: 1))
        #expect(throws: Errno.ioError) { try files.fdatasync(fd) }
        try files.fdatasync(fd)
        faults.force(.write, .always(.noSpace))
        for _ in 0..<3 {
            #expect(throws: Errno.noSpace) {
                try files.writeAll(fd, [1])
            }
        }
        #expect(faults.forcedCount(.write) == 3)
    }

    @Test("real failures carry the kernel's errno and name")
    func realErrno() {
        #expect(throws: Errno.noSuchFile) { _ = try FileSystem.live.open("/nonexistent/vaultsystem", O_RDONLY) }
        #expect(Errno.noSuchFile.name == "ENOENT")
        #expect(Errno.noSuchFile.description == "ENOENT (No such file or directory)")
        #expect(Errno(rawValue: 4095).name == "errno 4095")
    }

    @Test("readFile reads /proc files, which report size 0, to the end")
    func procFile() throws {
        let status = String(decoding: try FileSystem.live.readFile("/proc/self/status"), as: UTF8.self)
        #expect(status.contains("\nPid:"))
        #expect(try FileSystem.live.readFile("/proc/self/status", limit: 5).count == 5)
    }

    @Test("writeAll writes every byte at the offset, readAll reads them back")
    func writeThenRead() throws {
        let path = try temporaryFile()
        defer { unlink(path) }
        let files = FileSystem.live
        let fd = try files.open(path, O_RDWR)
        defer { files.close(fd) }
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try files.writeAll(fd, bytes, at: 0)
        #expect(try files.readFile(path) == bytes)
    }
}
