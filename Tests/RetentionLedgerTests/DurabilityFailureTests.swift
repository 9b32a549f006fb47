import Foundation
import Testing
import VaultSystem
@testable import RetentionLedger
import RetentionVocabulary

/// The writer's file calls go through VaultSystem's seam, so the failures a disk can produce are
/// forced here: an interrupted call is retried, a failed write or sync is sticky (every later
/// call throws it: fail closed), and a flush that signs its batch leaves nothing unsigned.
@Suite("Ledger durability: forced I/O failures, EINTR, every flushed record signed")
struct DurabilityFailureTests {
    /// Unsigned flushes unless asked (quietConfiguration's choice): the failure tests count durable records exactly.
    private func open(_ path: String, _ signer: SigningKey, faults: FaultInjection, signsEveryFlush: Bool = false) throws -> Ledger {
        var configuration = quietConfiguration()
        configuration.fileSystem = FileSystem(faults: faults)
        configuration.signsEveryFlush = signsEveryFlush
        return try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
    }

    @Test("a write or fdatasync that fails mid-batch is sticky: the flush and every later call throw it",
          arguments: [SystemOperation.write, .fdatasync])
    func failureIsSticky(operation: SystemOperation) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let faults = FaultInjection()
        let signer = try SigningKey.generate(name: "ledger.example")
        let ledger = try open(directory.file("ledger.zdr"), signer, faults: faults)
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        try ledger.flush()
        try ledger.append(.discardReceipt(sampleReceipt(request(2))))
        faults.force(operation, .counted(.ioError, count: 1))
        let expected = LedgerError.io(operation == .write ? .write : .sync, errno: EIO)
        #expect(throws: expected) { try ledger.flush() }
        // Only one failure was forced: the ledger stays failed anyway (an unknown tail on disk).
        #expect(throws: expected) { try ledger.append(.discardReceipt(sampleReceipt(request(3)))) }
        #expect(throws: expected) { try ledger.flush() }
        #expect(throws: expected) { _ = try ledger.checkpoint() }
        #expect(ledger.durableSize == 1)
    }

    @Test("an interrupted write or fdatasync is retried and the flush succeeds", arguments: [SystemOperation.write, .fdatasync])
    func interruptedCallsAreRetried(operation: SystemOperation) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let faults = FaultInjection()
        let signer = try SigningKey.generate(name: "ledger.example")
        let path = directory.file("ledger.zdr")
        let ledger = try open(path, signer, faults: faults)
        for n in 0..<5 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n))))) }
        faults.force(operation, .counted(.interrupted, count: 4))
        try ledger.flush()
        #expect(faults.forcedCount(operation) == 4)
        #expect(ledger.durableSize == 5)
        try ledger.close()
        #expect(try LedgerVerifier.entries(path: path).count == 5)
    }

    @Test("a failed open or lock is a typed error, and the file stays usable")
    func failedOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "ledger.example")
        for (operation, expected) in [(SystemOperation.open, LedgerError.io(.open, errno: EACCES)), (.flock, .io(.open, errno: EACCES))] {
            let faults = FaultInjection()
            faults.force(operation, .always(.permissionDenied))
            #expect(throws: expected) { _ = try open(directory.file("ledger.zdr"), signer, faults: faults) }
        }
        // The file is still usable by a writer that can open it.
        let ledger = try open(directory.file("ledger.zdr"), signer, faults: FaultInjection())
        try ledger.close()
    }

    @Test("with signsEveryFlush, every record a flush acknowledges is under a signed checkpoint")
    func everyFlushedRecordIsSigned() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "ledger.example")
        let path = directory.file("ledger.zdr")
        let ledger = try open(path, signer, faults: FaultInjection(), signsEveryFlush: true)
        for round in 0..<4 {
            for n in 0..<(round + 1) { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(round * 10 + n))))) }
            try ledger.flush()
            let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
            #expect(report.uncheckpointedRecords == 0, "after flush \(round)")
            #expect(report.lastCheckpointTreeSize == report.recordCount - 1)
        }
        // A flush with nothing new adds no checkpoint and no sync.
        let syncs = ledger.syncCount
        let size = ledger.size
        try ledger.flush()
        #expect(ledger.syncCount == syncs && ledger.size == size)
        try ledger.close()

        // Turned off (not the default), records after the last checkpoint stay unsigned.
        let plainPath = directory.file("plain.zdr")
        let plain = try open(plainPath, signer, faults: FaultInjection())
        try plain.append(.discardReceipt(sampleReceipt(request(99))))
        try plain.flush()
        #expect(try LedgerVerifier.verify(path: plainPath, verifierKey: signer.verifierKey).uncheckpointedRecords == 1)
        try plain.close()
    }
}
