#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Foundation
import Testing
@testable import ContentVault

private let corruptionChildVariable = "ZDR_VAULT_TEST_CORRUPTION_CHILD"
private let childPrefix = "ZDR-CHILD "

/// The buffer the child's SIGABRT handler checks: live content the purge must have wiped.
nonisolated(unsafe) private var witnessAddress: UnsafeMutableRawPointer?
nonisolated(unsafe) private var witnessLength = 0

private func say(_ line: String) {
    let bytes = Array("\(childPrefix)\(line)\n".utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
}

/// Flips the first byte past `count` bytes at `address` (a fixed value would go unnoticed
/// whenever the canary or slack already held it).
private func corrupt(_ address: UnsafeMutableRawPointer, at offset: Int) {
    let byte = (address + offset).load(as: UInt8.self)
    (address + offset).storeBytes(of: ~byte, as: UInt8.self)
}

/// The child half of the termination tests: without the variable it does nothing. With it, it
/// arms a SIGABRT handler that reports whether a live witness buffer reads as zero (so the
/// parent learns that the purge ran before the abort), then overruns a buffer and ends it on
/// the path the variable names. Reaching the end means the overrun was not fatal.
@Test("child process: an overrun on one release path (runs only when spawned by the tests below)",
      .enabled(if: ProcessInfo.processInfo.environment[corruptionChildVariable] != nil, "the parent test spawns it"))
func corruptionChildProcess() throws {
    guard let path = ProcessInfo.processInfo.environment[corruptionChildVariable] else { return }
    let vault = try makeVault()
    var witness = try vault.pool.allocate(byteCount: 4096)
    witness.withUnsafeMutableBytes(fillPattern)
    witnessAddress = witness.baseAddressForTesting
    witnessLength = witness.count
    signal(SIGABRT) { _ in
        let purged = witnessAddress.map { cvault_is_zero($0, witnessLength) == 1 } ?? false
        _exit(purged ? 42 : 43)
    }
    say("armed \(path)")
    switch path {
    case "explicit":
        let buffer = try vault.pool.allocate(byteCount: 64)
        corrupt(buffer.baseAddressForTesting, at: buffer.capacity)
        say("release threw \(releaseError(buffer).map(String.init(describing:)) ?? "nothing")")
    case "deinit":
        do {
            let buffer = try vault.pool.allocate(byteCount: 100)
            corrupt(buffer.baseAddressForTesting, at: -1)
        }
    case "slack":
        let buffer = try vault.pool.allocate(byteCount: 100)  // a 128-byte slot
        corrupt(buffer.baseAddressForTesting, at: 110)
        say("release threw \(releaseError(buffer).map(String.init(describing:)) ?? "nothing")")
    case "discard":
        let scope = try vault.openScope()
        try scope.append(content(300), to: .textInput)
        let (chunk, count) = scope.chunkMemory(.textInput, 0)
        corrupt(chunk, at: count)  // inside the 512-byte slot, past the 300 bytes
        let receipt = scope.discard(reason: .completed)
        say("receipt \(receipt)")
    case "purge":
        let scope = try vault.openScope()
        try scope.append(content(64), to: .textInput)
        let (chunk, count) = scope.chunkMemory(.textInput, 0)
        corrupt(chunk, at: count)  // the canary after a full 64-byte slot
        _ = vault.purgeAll()
    default:
        Issue.record("unknown path \(path)")
    }
    say("survived \(vault.pool.statistics)")
    _ = consume witness
}

@Suite("Memory corruption: overruns are caught on every release path and fail closed")
struct CorruptionTerminationTests {
    @Test("by default an overrun found on any release path purges every region, then terminates the process",
          arguments: ["explicit", "deinit", "slack", "discard", "purge"])
    func overrunTerminates(path: String) throws {
        let run = try runTestChild(filter: "corruptionChildProcess", variable: corruptionChildVariable, value: path)
        let text = run.output
        let lines = run.lines(prefixed: childPrefix)
        try #require(lines.contains("armed \(path)"), "child did not run: \(text.suffix(2000))")
        #expect(!lines.contains { $0.hasPrefix("survived") }, "the child survived the overrun: \(lines)")
        // 42: the SIGABRT handler found the live witness buffer wiped (purge, then abort).
        #expect(run.reason == .exit && run.status == 42, "child ended \(run.reason) \(run.status); \(lines)")
        #expect(run.errors.contains("memory corruption"), "stderr: \(run.errors.suffix(1000))")
        #expect(!run.errors.contains("CANARY"))
    }
}

@Suite("Memory corruption: quarantine-and-report keeps serving and says so in statistics, receipts and errors")
struct CorruptionReportTests {
    enum Path: String, CaseIterable, Sendable { case explicitOverrun, deinitOverrun, explicitSlack, deinitSlack, deinitUnderrun }

    @Test("every release path finds the overrun, wipes and quarantines the whole slot and counts it", arguments: Path.allCases)
    func releasePathsReport(path: Path) throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        var buffer = try pool.allocate(byteCount: 100)  // a 128-byte slot
        buffer.withUnsafeMutableBytes(fillPattern)
        let address = buffer.baseAddressForTesting
        let expected: LockedMemoryError
        switch path {
        case .explicitOverrun, .deinitOverrun:
            corrupt(address, at: 128)
            expected = .canaryOverrun(slotCapacity: 128)
        case .explicitSlack, .deinitSlack:
            corrupt(address, at: 127)
            expected = .writePastLength(length: 100, slotCapacity: 128)
        case .deinitUnderrun:
            corrupt(address, at: -16)
            expected = .canaryOverrun(slotCapacity: 128)
        }
        switch path {
        case .explicitOverrun, .explicitSlack:
            #expect(releaseError(buffer) == expected)
        case .deinitOverrun, .deinitSlack, .deinitUnderrun:
            _ = consume buffer
        }
        let stats = pool.statistics
        #expect(stats.corruptionEvents == 1)
        #expect(stats.lastCorruption == expected)
        #expect(stats.quarantinedSlots == 1)
        #expect(isAllZero(address, 128))  // the whole slot, slack included
        #expect(String(describing: stats).contains("corruption events: 1"))
        // Quarantined: never handed out again.
        for _ in 0..<64 {
            let next = try pool.allocate(byteCount: 100)
            #expect(next.baseAddressForTesting != address)
        }
    }

    @Test("a clean release is not corruption: a truncated buffer, a partly filled read")
    func cleanReleasesAreNotCorruption() throws {
        let pool = try makePool(.locked)  // terminate: a false positive would end the test run
        var buffer = try pool.allocate(byteCount: 100)
        buffer.withUnsafeMutableBytes(fillPattern)
        buffer.truncate(to: 10)
        try buffer.release()
        #expect(pool.statistics.corruptionEvents == 0)
    }

    @Test("read(fromFileDescriptor:limit:) never reads past its limit into the rest of the slot", arguments: [(100, 200), (5000, 8000)])
    func readStaysWithinLimit(limit: Int, input: Int) throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var bytes = [UInt8](repeating: 0, count: input)
        bytes.withUnsafeMutableBytes(fillPattern)
        #expect(bytes.withUnsafeBytes { write(fds[1], $0.baseAddress!, $0.count) } == input)
        close(fds[1])
        do {
            let buffer = try pool.read(fromFileDescriptor: fds[0], limit: limit)
            var count = 0
            if let buffer { count = buffer.count }
            Issue.record("\(input) bytes read under a \(limit)-byte limit: got \(count)")
        } catch {
            #expect(error == .inputTooLarge(limit: limit))
        }
        #expect(pool.statistics.corruptionEvents == 0)
        #expect(pool.statistics.liveBuffers == 0)
    }

    @Test("a scope's discard finds a chunk overrun; the receipt and the vault statistics say so", arguments: [(300, 300, LockedMemoryError.writePastLength(length: 300, slotCapacity: 512)), (64, 64, .canaryOverrun(slotCapacity: 64))])
    func discardReports(size: Int, offset: Int, expected: LockedMemoryError) throws {
        let vault = try makeVault(corruption: .quarantineAndReport)
        let scope = try vault.openScope()
        try scope.append(content(size), to: .textInput)
        let (chunk, count) = scope.chunkMemory(.textInput, 0)
        #expect(count == size)
        corrupt(chunk, at: offset)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.memoryCorruptionDetected)
        #expect(receipt.description.contains("MEMORY CORRUPTION DETECTED"))
        #expect(receipt.keyDestroyed)  // the keys themselves were intact
        #expect(isAllZero(chunk, count))
        let stats = vault.statistics.pool
        #expect(stats.corruptionEvents == 1)
        #expect(stats.lastCorruption == expected)
        #expect(stats.liveBuffers == 0)

        let clean = try vault.openScope()
        try clean.append(content(size), to: .textInput)
        #expect(!clean.discard(reason: .completed).memoryCorruptionDetected)
    }

    @Test("Vault.purgeAll() finds it too")
    func purgeReports() throws {
        let vault = try makeVault(corruption: .quarantineAndReport)
        let scope = try vault.openScope()
        try scope.append(content(64), to: .textInput)
        let (chunk, count) = scope.chunkMemory(.textInput, 0)
        corrupt(chunk, at: count)
        let receipts = vault.purgeAll()
        #expect(receipts.count == 1)
        #expect(receipts.first?.memoryCorruptionDetected == true)
        #expect(vault.statistics.pool.corruptionEvents == 1)
    }

    @Test("an encoder writing past writeUnsafe's scratch gets VaultError.memoryCorrupted, and the receipt says so")
    func writeUnsafeOverrunThrows() throws {
        let vault = try makeVault(corruption: .quarantineAndReport)
        let scope = try vault.openScope()
        do {
            try scope.writeUnsafe(to: .completion, byteCount: 100) { out in
                out.copyBytes(from: content(100))
                corrupt(out.baseAddress!, at: 100)  // one byte past what it was given
                return 100
            }
            Issue.record("the overrun went unreported")
        } catch {
            #expect(error as? VaultError == .memoryCorrupted(.writePastLength(length: 100, slotCapacity: 128)))
        }
        // What was sealed before the release is intact.
        #expect(try scope.plaintext(of: .completion) == content(100))
        #expect(scope.discard(reason: .completed).memoryCorruptionDetected)
        #expect(vault.statistics.pool.corruptionEvents == 1)
    }
}

@Suite("Memory corruption: an overrun into a neighbouring slot (quarantine-and-report)")
struct CorruptionNeighbourTests {
    @Test("bytes an overrun wrote into a free neighbour are wiped before that slot is handed out again")
    func freeNeighbourWiped() throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        let first = try pool.allocate(byteCount: 64)
        let second = try pool.allocate(byteCount: 64)
        let firstBase = first.baseAddressForTesting
        let secondBase = second.baseAddressForTesting
        #expect(secondBase == firstBase + 64 + 16)  // adjacent, one canary between
        try second.release()
        // Past the first buffer: through the canary and 8 bytes into the (free) second slot.
        for offset in 64..<(64 + 16 + 8) { corrupt(firstBase, at: offset) }
        #expect(releaseError(first) == .canaryOverrun(slotCapacity: 64))
        let next = try pool.allocate(byteCount: 64)
        #expect(next.baseAddressForTesting == secondBase)
        #expect(isAllZero(next.baseAddressForTesting, 64), "the overrun's bytes reached the slot's next owner")
        try next.release()  // its canary was given back: not blamed for the earlier overrun
        #expect(pool.statistics.corruptionEvents == 1)
    }

    @Test("a live neighbour whose boundary was overwritten is reported by its own release too")
    func liveNeighbourReported() throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        let first = try pool.allocate(byteCount: 64)
        let second = try pool.allocate(byteCount: 64)
        corrupt(first.baseAddressForTesting, at: 64)
        #expect(releaseError(first) == .canaryOverrun(slotCapacity: 64))
        #expect(releaseError(second) == .canaryOverrun(slotCapacity: 64))
        #expect(pool.statistics.corruptionEvents == 2)
        #expect(pool.statistics.quarantinedSlots == 2)
    }
}
