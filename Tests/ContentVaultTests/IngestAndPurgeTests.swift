#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Foundation
import Testing
@testable import ContentVault
import RetentionVocabulary

@Suite("Ingest without heap copies, purge, signals, redaction, hardening")
struct IngestAndPurgeTests {
    /// Writes `count` pattern bytes into a pipe from a background thread and returns the read end.
    private func pipeWithPattern(count: Int) throws -> Int32 {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let writeEnd = fds[1]
        let thread = Thread { 
            var bytes = [UInt8](repeating: 0, count: count)
            bytes.withUnsafeMutableBytes(fillPattern)
            var offset = 0
            while offset < count {
                let n = bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress! + offset, count - offset) }
                if n <= 0 { break }
                offset += n
            }
            close(writeEnd)
        }
        thread.start()
        return fds[0]
    }

    @Test("read(2) lands straight in locked memory, growing by slots", arguments: [1, 4096, 4097, 100_000, 1_500_000])
    func readFromFileDescriptor(count: Int) throws {
        let pool = try makePool(.locked, budget: 32 << 20)
        let fd = try pipeWithPattern(count: count)
        defer { close(fd) }
        guard let buffer = try pool.read(fromFileDescriptor: fd, limit: 4 << 20) else {
            Issue.record("read returned nil for \(count) bytes")
            return
        }
        #expect(buffer.count == count)
        let intact = buffer.withUnsafeBytes(matchesPattern)
        #expect(intact)
        // Every intermediate slot it grew through was wiped and returned.
        #expect(pool.statistics.liveBuffers == 1)
        #expect(pool.statistics.quarantinedSlots == 0)
    }

    @Test("input over the limit is a typed error and nothing stays live")
    func readOverLimit() throws {
        let pool = try makePool(.locked, budget: 32 << 20)
        let fd = try pipeWithPattern(count: 10_000)
        defer { close(fd) }
        #expect(throws: LockedMemoryError.inputTooLarge(limit: 8192)) {
            _ = try pool.read(fromFileDescriptor: fd, limit: 8192)
        }
        #expect(pool.statistics.liveBuffers == 0)
        #expect(pool.statistics.bytesVerifiedZero >= pool.statistics.bytesWiped)
    }

    @Test("input exactly at the limit is accepted; empty input is nil")
    func readAtLimitAndEmpty() throws {
        let pool = try makePool(.locked)
        let fd = try pipeWithPattern(count: 8192)
        defer { close(fd) }
        guard let buffer = try pool.read(fromFileDescriptor: fd, limit: 8192) else {
            Issue.record("read returned nil at the limit")
            return
        }
        #expect(buffer.count == 8192)
        let empty = try pipeWithPattern(count: 0)
        defer { close(empty) }
        var isEmpty = true
        if let _ = try pool.read(fromFileDescriptor: empty, limit: 100) { isEmpty = false }
        #expect(isEmpty)
    }

    @Test("a read error is typed", arguments: [EIO, EBADF])
    func readError(errno: Int32) throws {
        let harness = SyscallHarness()
        let pool = try makePool(.locked, system: SystemCalls(harness: harness))
        harness.fail(.read, errno: errno)
        #expect(throws: LockedMemoryError.readFailed(errno: errno)) { _ = try pool.read(fromFileDescriptor: 0, limit: 10) }
        #expect(pool.statistics.liveBuffers == 0)
    }

    @Test("ingest copies into locked memory and wipes the source")
    func ingestWipesSource() throws {
        let pool = try makePool(.locked)
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: 3000, alignment: 16)
        defer { source.deallocate() }
        fillPattern(source)
        let buffer = try pool.ingest(wiping: source)
        #expect(source.allSatisfy { $0 == 0 })
        let intact = buffer.withUnsafeBytes(matchesPattern)
        #expect(intact)
    }

    @Test("spans give the same bytes as raw buffers")
    func spans() throws {
        let pool = try makePool(.locked)
        var buffer = try pool.allocate(byteCount: 32)
        buffer.withMutableBytes { span in
            for index in 0..<span.byteCount { span.storeBytes(of: UInt8(index + 1), toByteOffset: index, as: UInt8.self) }
        }
        let sum = buffer.withBytes { span in
            (0..<span.byteCount).reduce(0) { $0 + Int(span.unsafeLoad(fromByteOffset: $1, as: UInt8.self)) }
        }
        #expect(sum == (1...32).reduce(0, +))
        buffer.truncate(to: 8)
        #expect(buffer.count == 8)
        #expect(isAllZero(buffer.baseAddressForTesting + 8, 24))
    }

    @Test("purgeAll wipes every registered region, live buffers included (in a forked child)")
    func purgeWipesLiveBuffers() throws {
        // Unprotected memory so the child inherits the content; the child purges its copy.
        let pool = try makePool(.unprotected)
        var buffer = try pool.allocate(byteCount: 4096)
        buffer.withUnsafeMutableBytes(fillPattern)
        #expect(cvault_fork_purge_probe(buffer.baseAddressForTesting, buffer.count) == 0)
        // The control: without a purge the child does see the content.
        #expect(cvault_fork_probe(buffer.baseAddressForTesting, buffer.count) == 2)
    }

    @Test("a probe's forked child holds none of the process's descriptors (no file, no flock lock)")
    func probeChildrenCloseInheritedDescriptors() throws {
        let fd = open("/proc/self/exe", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        // 0: closed in the child. Without the close, the child keeps it (and a ledger's lock).
        #expect(cvault_fork_descriptor_probe(fd) == 0)
    }

    @Test("fatal and termination signals purge first, then chain to the handler installed before",
          arguments: [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGTERM, SIGINT])
    func signalsPurgeAndChain(signal: Int32) throws {
        let pool = try makePool(.unprotected)
        var buffer = try pool.allocate(byteCount: 4096)
        buffer.withUnsafeMutableBytes(fillPattern)
        // 0: the prior handler ran and saw zeroes; 2 would mean it saw content.
        let result = cvault_fork_signal_probe(buffer.baseAddressForTesting, buffer.count, signal)
        if runningUnderThreadSanitizer && result == 6 && (signal == SIGTERM || signal == SIGINT) {
            // TSan defers asynchronous signals in the forked child past the probe's wait.
            withKnownIssue("ThreadSanitizer defers asynchronous signal handlers") { Issue.record("raise returned") }
        } else {
            #expect(result == 0)
        }
    }

    @Test("no description, Mirror or error text shows content")
    func redaction() throws {
        let pool = try makePool(.locked)
        let canary = Array("CANARY-7f3a9c-content-never-printed".utf8)
        var buffer = try pool.allocate(byteCount: canary.count)
        buffer.withUnsafeMutableBytes { $0.copyBytes(from: canary) }
        let canaryText = String(decoding: canary, as: UTF8.self)
        var texts = [buffer.description, buffer.debugDescription, pool.description, pool.debugDescription,
                     String(describing: pool), String(reflecting: pool), String(describing: pool.statistics),
                     String(describing: Mirror(reflecting: pool).children.map { "\($0.label ?? ""): \($0.value)" }),
                     String(describing: Mirror(reflecting: pool.statistics).children.map { "\($0.value)" })]
        let errors: [LockedMemoryError] = [
            .invalidByteCount(1), .budgetExhausted(requested: 1, budget: 2, inUse: 3), .secretMemoryUnavailable(errno: ENOSYS),
            .mapFailed(errno: ENOMEM), .protectFailed(errno: EACCES), .lockFailed(errno: EPERM),
            .adviseFailed(advice: .dontDump, errno: EINVAL), .purgeRegistryFull, .unprotectedBackendNotAllowed,
            .canaryOverrun(slotCapacity: 64), .wipeVerificationFailed(slotCapacity: 64), .readFailed(errno: EIO),
            .inputTooLarge(limit: 9), .lockLimitBelowBudget(budget: 1, lockLimit: 2),
            .budgetBelowOneRegion(budget: 1, regionByteCount: 2), .writePastLength(length: 1, slotCapacity: 64)]
        texts += errors.map { String(describing: $0) }
        texts += errors.map { String(reflecting: $0) }
        for text in texts {
            #expect(!text.contains(canaryText))
            #expect(!text.contains("CANARY"))
        }
        #expect(buffer.description == "LockedBuffer(\(canary.count) bytes, locked)")
        #expect(pool.description.contains("budget"))
    }

    @Test("process hardening turns off dumpable and the soft core limit, leaving the hard limit")
    func processHardening() throws {
        var before = rlimit()
        getrlimit(__rlimit_resource_t(cvault_rlimit_core), &before)
        let report = ProcessHardening.apply()
        #expect(report.dumpableDisabled)
        #expect(report.coreSoftLimitZeroed)
        #expect(!ProcessHardening.isDumpable)
        var after = rlimit()
        getrlimit(__rlimit_resource_t(cvault_rlimit_core), &after)
        #expect(after.rlim_cur == 0)
        #expect(after.rlim_max == before.rlim_max)
        // Put dumpable back so later diagnostics in this test process behave as usual.
        _ = cvault_prctl(cvault_pr_set_dumpable, 1)
    }
}
