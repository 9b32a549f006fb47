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

    @Test("the span and array overloads read into the part asked for and write a span whole")
    func spanAndArrayOverloads() throws {
        let path = try temporaryFile()
        defer { unlink(path) }
        let files = FileSystem.live
        let fd = try files.open(path, O_RDWR)
        defer { files.close(fd) }
        let bytes: [UInt8] = Array(0..<100)
        try files.writeAll(fd, bytes.span.extracting(0..<40), at: 0)
        try files.writeAll(fd, bytes.span.extracting(40..<100), at: 40)
        #expect(try files.readFile(path) == bytes)

        // The array keeps its size; only buffer[start...] is filled, up to what the file has.
        var buffer = [UInt8](repeating: 0xEE, count: 120)
        #expect(try files.read(fd, into: &buffer, from: 10, at: 90) == 10)
        #expect(buffer[0..<10].allSatisfy { $0 == 0xEE })
        #expect(Array(buffer[10..<20]) == Array(90..<100))
        #expect(buffer[20...].allSatisfy { $0 == 0xEE })
        #expect(try files.read(fd, into: &buffer, from: 0, at: 100) == 0)

        var window = [UInt8](repeating: 0, count: 8)
        var span = window.mutableSpan
        #expect(try files.read(fd, into: &span, at: 5) == 8)
        _ = consume span
        #expect(window == Array(5..<13))

        // The positionless reads continue from the descriptor's offset.
        _ = lseek(fd, 50, SEEK_SET)
        var sequential = [UInt8](repeating: 0, count: 4)
        #expect(try files.read(fd, into: &sequential, from: 2) == 2)
        #expect(sequential == [0, 0, 50, 51])
        var rest = [UInt8](repeating: 0, count: 60)
        var restSpan = rest.mutableSpan
        #expect(try files.read(fd, into: &restSpan) == 48)
        _ = consume restSpan
        #expect(Array(rest[0..<48]) == Array(52..<100))
    }

    @Test("the span and array reads surface a forced errno")
    func spanReadsSurfaceErrors() throws {
        let path = try temporaryFile([1, 2, 3])
        defer { unlink(path) }
        let faults = FaultInjection()
        let files = FileSystem(faults: faults)
        let fd = try files.open(path, O_RDWR)
        defer { files.close(fd) }
        faults.force(.read, .always(.ioError))
        var buffer = [UInt8](repeating: 0, count: 3)
        #expect(throws: Errno.ioError) { _ = try files.read(fd, into: &buffer, from: 0, at: 0) }
        #expect(throws: Errno.ioError) { _ = try files.read(fd, into: &buffer, from: 1) }
        faults.force(.write, .always(.noSpace))
        #expect(throws: Errno.noSpace) { try files.writeAll(fd, buffer.span, at: 0) }
        #expect(buffer == [0, 0, 0])
    }
}
