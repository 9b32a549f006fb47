import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// A clock the test moves by hand (for the time-triggered checkpoint).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: UInt64 = 1_700_000_000_000_000_000

    func read() -> Timestamp {
        lock.lock()
        defer { lock.unlock() }
        return Timestamp(nanosecondsSinceEpoch: now)
    }

    func advance(by nanoseconds: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        now += nanoseconds
    }
}

@Suite("Signed flushes: nothing acknowledged is unsigned (issue 13 §1)")
struct SignedFlushTests {
    /// A server's configuration without the background flusher, so the test controls writes.
    /// Sealed flushes set explicitly, so that the cadence tests test the cadence whatever the
    /// default (`defaultSignsEveryFlush` checks the default).
    private func serverConfiguration(
        checkpointEvery: UInt64? = 1000, keyEvolution: KeyEvolution? = nil
    ) -> LedgerConfiguration {
        var configuration = LedgerConfiguration(
            flushIntervalNanoseconds: nil, checkpointEveryRecords: checkpointEvery, checkpointIntervalNanoseconds: nil,
            keyEvolution: keyEvolution, clock: steppingClock())
        configuration.signsEveryFlush = true
        return configuration
    }

    @Test("by default every record a flush acknowledges is under a signed checkpoint")
    func defaultSignsEveryFlush() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        #expect(LedgerConfiguration().signsEveryFlush)
        let ledger = try Ledger(
            path: path, registry: testRegistry, signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil, clock: steppingClock()))
        for round in 1...3 {
            try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(round)))))
            try ledger.flush()
            let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
            #expect(report.uncheckpointedRecords == 0, "after flush \(round)")
            #expect(report.lastCheckpointTreeSize == report.recordCount - 1, "after flush \(round)")
        }
        try ledger.close()
    }

    @Test("the count cadence (and key evolution) fires every N host records, however often flushes seal",
          arguments: [1, 2, 3, 7])
    func countCadenceSurvivesSeals(recordsPerFlush: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let pinned = signer.verifierKey
        let ledger = try Ledger(
            path: path, registry: testRegistry, signer: signer,
            configuration: serverConfiguration(checkpointEvery: 5, keyEvolution: KeyEvolution(checkpointsPerEpoch: 1)))
        for index in 0..<20 {
            try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(index)))))
            if index % recordsPerFlush == recordsPerFlush - 1 { try ledger.flush() }
        }
        try ledger.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: pinned)
        // A periodic checkpoint after host records 5, 10, 15 and 20, each followed by a rotation.
        #expect(report.keyEpoch == 4)
        #expect(report.uncheckpointedRecords == 0)
    }

    @Test("a key rotation written by a periodic checkpoint is sealed by the next flush too")
    func rotationIsSealed() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let pinned = signer.verifierKey
        let ledger = try Ledger(
            path: path, registry: testRegistry, signer: signer,
            configuration: serverConfiguration(checkpointEvery: nil, keyEvolution: KeyEvolution(checkpointsPerEpoch: 1)))
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        _ = try ledger.checkpoint()  // periodic: followed by a key rotation record
        try ledger.flush()
        let report = try LedgerVerifier.verify(path: path, verifierKey: pinned)
        #expect(report.keyEpoch == 1)
        #expect(report.uncheckpointedRecords == 0)
        #expect(report.lastCheckpointTreeSize == report.recordCount - 1)
        try ledger.close()
    }

    @Test("the time cadence counts from the last periodic checkpoint, not from the last seal")
    func timeCadenceSurvivesSeals() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let pinned = signer.verifierKey
        let clock = ManualClock()
        let interval: UInt64 = 1_000_000_000
        var configuration = LedgerConfiguration(
            flushIntervalNanoseconds: 1_000_000, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: interval,
            keyEvolution: KeyEvolution(checkpointsPerEpoch: 1), clock: { clock.read() })
        configuration.signsEveryFlush = true
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
        // A periodic checkpoint now (and a rotation to epoch 1): the interval runs from here.
        _ = try ledger.checkpoint()
        // Sealed flushes more often than the interval: each seal is a checkpoint, but not a
        // periodic one, so they do not restart the interval.
        for index in 0..<3 {
            try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(index)))))
            try ledger.flush()
            clock.advance(by: interval / 2)
        }
        // 1.5 intervals later: the background flusher has written exactly one more periodic
        // checkpoint, and with it a rotation to epoch 2 (the clock stands still now, so no
        // second one comes due). Not a timing assertion: a generous bound for the tick.
        var epoch: UInt32 = 0
        for _ in 0..<400 {
            epoch = try LedgerVerifier.verify(path: path, verifierKey: pinned).keyEpoch
            if epoch >= 2 { break }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        #expect(epoch == 2)
        try ledger.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: pinned)
        #expect(report.keyEpoch == 2 && report.uncheckpointedRecords == 0)
    }
}
