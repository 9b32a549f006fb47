#if canImport(Glibc)
import Glibc
#endif
import Testing
import VaultSystem
@testable import ContentVault

/// The memory layer's calls that can be interrupted (read, ftruncate) retry EINTR in VaultSystem's
/// one loop, which the harness's counted faults reach: before, a forced errno returned ahead of
/// the loop and no test reached the retry.
@Suite("Memory layer: EINTR is retried, not reported")
struct InterruptTests {
    @Test("a read interrupted three times still reads the whole input into locked memory")
    func interruptedReadIsRetried() throws {
        let harness = SyscallHarness()
        let pool = try makePool(.locked, system: SystemCalls(harness: harness))
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var bytes = [UInt8](repeating: 0, count: 3000)
        bytes.withUnsafeMutableBytes(fillPattern)
        #expect(bytes.withUnsafeBytes { write(fds[1], $0.baseAddress!, $0.count) } == bytes.count)
        close(fds[1])
        harness.faults.force(.read, .counted(.interrupted, count: 3))
        guard let buffer = try pool.read(fromFileDescriptor: fds[0], limit: 1 << 20) else {
            Issue.record("no bytes read")
            return
        }
        #expect(buffer.withUnsafeBytes { Array($0) } == bytes)
        #expect(harness.faults.forcedCount(.read) == 3)
    }

    @Test("a read that fails with another errno is a typed error naming it, and nothing stays live")
    func failedReadIsTyped() throws {
        let harness = SyscallHarness()
        let pool = try makePool(.locked, system: SystemCalls(harness: harness))
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        harness.faults.force(.read, .counted(.ioError, count: 1))
        #expect(throws: LockedMemoryError.readFailed(errno: EIO)) {
            _ = try pool.read(fromFileDescriptor: fds[0], limit: 1 << 20)
        }
        #expect(pool.statistics.liveBuffers == 0)
        #expect(LockedMemoryError.readFailed(errno: EIO).description.contains("EIO"))
    }
}
