import Foundation
@testable import RetentionLedger
import RetentionVocabulary
import Synchronization
import Testing

/// A transport that hands each body to an in-process witness by URL, and can fail or block.
private final class InProcessTransport: WitnessTransport, Sendable {
    private let witnesses: [String: TestWitness]
    /// Posts left to fail (throw) before answering.
    let failures = Mutex(0)
    /// While set, a post waits until it is cleared.
    let held = Mutex(false)
    let entered = Mutex(0)

    init(_ witnesses: [String: TestWitness]) { self.witnesses = witnesses }

    struct NoAnswer: Error {}

    func post(_ body: [UInt8], to url: String) throws -> WitnessResponse {
        entered.withLock { $0 += 1 }
        while held.withLock({ $0 }) { usleep(1_000) }
        if failures.withLock({ (left: inout Int) -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return true
        }) { throw NoAnswer() }
        guard let prefix = url.split(separator: "/add-checkpoint").first, let witness = witnesses[String(prefix)] else {
            return WitnessResponse(status: 404, contentType: nil, body: [])
        }
        let answer = witness.handle(body)
        return WitnessResponse(status: answer.status, contentType: answer.contentType, body: answer.body)
    }
}

@Suite("WitnessFeed: durable checkpoints go to witnesses in the background, cosignatures are kept, failures retried")
struct WitnessFeedTests {
    private struct Log {
        let directory = TemporaryDirectory()
        let signer: SigningKey
        let first: TestWitness
        let second: TestWitness
        let transport: InProcessTransport
        let feed: WitnessFeed
        let ledger: Ledger

        init(
            intervalNanoseconds: UInt64 = 1_000_000_000, keyEvolution: KeyEvolution? = nil, extraWitness: Bool = false,
            extraSinks: [any LedgerSink] = []
        ) throws {
            signer = try SigningKey.generate(name: "test.example/feed")
            first = try TestWitness(name: "witness.example/one", logs: [signer.verifier])
            second = try TestWitness(name: "witness.example/two", logs: [signer.verifier])
            transport = InProcessTransport(["http://one": first, "http://two": second])
            var endpoints = [WitnessEndpoint(key: first.verifierKey, submissionPrefix: "http://one"),
                             WitnessEndpoint(key: second.verifierKey, submissionPrefix: "http://two")]
            if extraWitness {
                let stranger = try TestWitness(name: "witness.example/stranger", logs: [])
                endpoints.append(WitnessEndpoint(key: stranger.verifierKey, submissionPrefix: "http://nobody"))
            }
            feed = WitnessFeed(
                logKey: signer.verifier, witnesses: endpoints, transport: transport,
                cosignedCheckpointPath: directory.file("cosigned"), intervalNanoseconds: intervalNanoseconds)
            ledger = try Ledger(
                path: directory.file("l"), registry: testRegistry, signer: signer,
                configuration: quietConfiguration(keyEvolution: keyEvolution, sinks: [feed] + extraSinks))
        }

        func appendReceipts(_ range: Range<UInt64>) throws {
            for n in range { _ = try ledger.append(.discardReceipt(sampleReceipt(request(n)))) }
        }

        func close() {
            feed.stop()
            try? ledger.close()
            directory.cleanup()
        }
    }

    @Test("only a durable checkpoint is sent; both witnesses cosign; the note is kept and grows with the log")
    func cosignsDurableCheckpoints() throws {
        let log = try Log()
        defer { log.close() }
        try log.appendReceipts(0..<5)
        let checkpoint = try log.ledger.checkpoint()
        // Not yet fdatasynced: nothing leaves.
        #expect(log.feed.submitNow(ledger: log.ledger).allSatisfy { $0.submissions == 0 })
        try log.ledger.flush()
        let statuses = log.feed.submitNow(ledger: log.ledger)
        #expect(statuses.map(\.cosignedSize) == [checkpoint.treeSize, checkpoint.treeSize])
        #expect(log.first.latest(checkpoint.origin)?.size == checkpoint.treeSize)
        let kept = try String(contentsOfFile: log.directory.file("cosigned"), encoding: .utf8)
        #expect(kept == log.feed.cosignedCheckpoint)
        let opened = try CosignedCheckpoint.open(note: kept, verifierKey: log.signer.verifier)
        #expect(opened.checkpoint.treeSize == checkpoint.treeSize && opened.checkpoint.rootHash == checkpoint.rootHash)
        #expect(kept.hasPrefix(checkpoint.noteText))
        #expect(try opened.validCosigners(among: [log.first.verifierKey, log.second.verifierKey]).count == 2)

        // A receipt under the cosigned checkpoint verifies with the witness quorum; one recorded
        // after it has no cosigned bundle until the next round.
        let witnesses = [log.first.verifierKey, log.second.verifierKey]
        let bundle = try #require(try log.feed.cosignedReceiptBundle(forRequest: request(3), in: log.ledger))
        #expect(bundle.treeSize == checkpoint.treeSize)
        #expect(try ReceiptBundle(json: bundle.json).verify(verifierKey: log.signer.verifier, witnesses: witnesses, quorum: 2).cosigners == witnesses)
        _ = try log.ledger.append(.discardReceipt(sampleReceipt(request(1_000))))
        #expect(try log.feed.cosignedReceiptBundle(forRequest: request(1_000), in: log.ledger) == nil)
        #expect(throws: LedgerError.requestNotFound) { try log.feed.cosignedReceiptBundle(forRequest: request(2_000), in: log.ledger) }

        // The log grows: the witnesses accept it from their size with a consistency proof.
        try log.appendReceipts(5..<40)
        _ = try log.ledger.append(.discardReceipt(sampleReceipt(request(1_001))))
        let later = try log.ledger.checkpoint()
        try log.ledger.flush()
        #expect(log.feed.submitNow(ledger: log.ledger).map(\.cosignedSize) == [later.treeSize, later.treeSize])
        #expect(log.second.latest(later.origin)?.size == later.treeSize)
        // Nothing new: no request at all.
        let before = log.feed.statuses.map(\.submissions)
        #expect(log.feed.submitNow(ledger: log.ledger).map(\.submissions) == before)

        // A restarted host's feed knows no witness size: the 409 names it, and the retry from
        // it carries the consistency proof.
        try log.appendReceipts(40..<50)
        let restarted = try log.ledger.checkpoint()
        try log.ledger.flush()
        let fresh = WitnessFeed(
            logKey: log.signer.verifier, witnesses: [WitnessEndpoint(key: log.first.verifierKey, submissionPrefix: "http://one")],
            transport: log.transport)
        fresh.ledgerDidAppend(
            LedgerRecord(.checkpoint(CheckpointRecord(treeSize: restarted.treeSize, rootHash: restarted.rootHash, keyEpoch: 0,
                                                      signature: try #require(Self.signature(of: restarted))))),
            leafIndex: restarted.treeSize, canonicalBytes: [])
        let status = fresh.submitNow(ledger: log.ledger)[0]
        #expect(status.cosignedSize == restarted.treeSize)
        #expect(status.submissions == 2)
    }

    /// The log's Ed25519 signature from a checkpoint's note (its one signature line).
    private static func signature(of checkpoint: SignedCheckpoint) -> [UInt8]? {
        guard let (_, lines) = try? splitNote(checkpoint.noteText), let line = lines.first else { return nil }
        return line.2
    }

    @Test("no answer is retried on the next round; a refusal is reported while the others still cosign")
    func retriesAndReports() throws {
        let log = try Log(extraWitness: true)
        defer { log.close() }
        try log.appendReceipts(0..<3)
        let checkpoint = try log.ledger.checkpoint()
        try log.ledger.flush()
        log.transport.failures.withLock { $0 = 3 }
        let failed = log.feed.submitNow(ledger: log.ledger)
        #expect(failed.map(\.lastProblem) == [.noAnswer, .noAnswer, .noAnswer])
        #expect(failed.map(\.consecutiveFailures) == [1, 1, 1])
        #expect(log.feed.cosignedCheckpoint == nil)
        let retried = log.feed.submitNow(ledger: log.ledger)
        #expect(retried[0].cosignedSize == checkpoint.treeSize && retried[1].cosignedSize == checkpoint.treeSize)
        #expect(retried[0].consecutiveFailures == 0)
        #expect(retried[2].lastProblem == .refused(.unknownLog))
        #expect(retried[2].consecutiveFailures == 2)
        let opened = try CosignedCheckpoint.open(note: try #require(log.feed.cosignedCheckpoint), verifierKey: log.signer.verifier)
        #expect(opened.cosignatures.count == 2)

        // Health records: one per witness per change of outcome, none while it stays the same.
        _ = log.feed.submitNow(ledger: log.ledger)
        try log.ledger.flush()
        let health = try LedgerVerifier.entries(path: log.directory.file("l")).compactMap { entry -> WitnessHealthRecord? in
            if case .witnessHealth(let record) = entry.record.body { return record }
            return nil
        }
        let one = log.first.verifierKey.keyID
        #expect(health.map(\.outcome) == [.noAnswer, .noAnswer, .noAnswer, .cosigned, .cosigned, .unknownLog])
        #expect(health[0].witnessKeyID == one && health[3].witnessKeyID == one)
        #expect(health[3].cosignedSize == checkpoint.treeSize && health[3].consecutiveFailures == 0)
        #expect(health[5].consecutiveFailures == 2 && health[5].checkpointSize == checkpoint.treeSize)
    }

    @Test("a witness ahead of the log (rollback) is reported with its size and not asked again")
    func rollbackReported() throws {
        let log = try Log()
        defer { log.close() }
        try log.appendReceipts(0..<20)
        _ = try log.ledger.checkpoint()
        try log.ledger.flush()
        _ = log.feed.submitNow(ledger: log.ledger)
        // The same key, a shorter log: what a rolled-back server would present.
        let shortPath = log.directory.file("short")
        let shortFeed = WitnessFeed(
            logKey: log.signer.verifier, witnesses: [WitnessEndpoint(key: log.first.verifierKey, submissionPrefix: "http://one")],
            transport: log.transport)
        let short = try Ledger(path: shortPath, registry: testRegistry, signer: log.signer, configuration: quietConfiguration(sinks: [shortFeed]))
        defer { try? short.close() }
        _ = try short.append(.discardReceipt(sampleReceipt(request(99))))
        _ = try short.checkpoint()
        try short.flush()
        let status = shortFeed.submitNow(ledger: short)[0]
        #expect(status.lastProblem == .rollback(witnessSize: 20))
        #expect(status.cosignedSize == nil)
        let asked = status.submissions
        #expect(shortFeed.submitNow(ledger: short)[0].submissions == asked)
    }

    @Test("a witness holding another root at the same size (a fork) is reported and never asked again")
    func forkReported() throws {
        let log = try Log()
        defer { log.close() }
        try log.appendReceipts(0..<20)
        let cosigned = try log.ledger.checkpoint()
        try log.ledger.flush()
        _ = log.feed.submitNow(ledger: log.ledger)
        // The same key and size, other records: a split view.
        let forkFeed = WitnessFeed(
            logKey: log.signer.verifier, witnesses: [WitnessEndpoint(key: log.first.verifierKey, submissionPrefix: "http://one")],
            transport: log.transport)
        let fork = try Ledger(path: log.directory.file("fork"), registry: testRegistry, signer: log.signer,
                              configuration: quietConfiguration(sinks: [forkFeed]))
        defer { try? fork.close() }
        for n in 100..<120 { _ = try fork.append(.discardReceipt(sampleReceipt(request(UInt64(n))))) }
        let forked = try fork.checkpoint()
        try fork.flush()
        #expect(forked.treeSize == cosigned.treeSize && forked.rootHash != cosigned.rootHash)
        let status = forkFeed.submitNow(ledger: fork)[0]
        #expect(status.lastProblem == .refused(.conflictingRoot))
        #expect(status.cosignedSize == nil)
        let asked = status.submissions
        #expect(forkFeed.submitNow(ledger: fork)[0].submissions == asked)
        // Nor for the fork's later checkpoints.
        _ = try fork.append(.discardReceipt(sampleReceipt(request(200))))
        _ = try fork.checkpoint()
        try fork.flush()
        let later = forkFeed.submitNow(ledger: fork)[0]
        #expect(later.submissions == asked && later.lastProblem == .refused(.conflictingRoot))
    }

    @Test("started, the feed submits on its own; appends and flushes go on while a witness hangs")
    func backgroundNeverBlocksAppends() throws {
        let log = try Log(intervalNanoseconds: 5_000_000)
        defer { log.close() }
        log.feed.start(ledger: log.ledger)
        log.transport.held.withLock { $0 = true }
        try log.appendReceipts(0..<2)
        _ = try log.ledger.checkpoint()
        try log.ledger.flush()
        // Wait until a round is stuck inside the transport.
        for _ in 0..<2_000 where log.transport.entered.withLock({ $0 }) == 0 { usleep(1_000) }
        #expect(log.transport.entered.withLock { $0 } >= 1)
        try log.appendReceipts(2..<200)
        let final = try log.ledger.checkpoint()
        try log.ledger.flush()
        #expect(log.ledger.durableSize == final.treeSize + 1)
        log.transport.held.withLock { $0 = false }
        var statuses = log.feed.statuses
        for _ in 0..<5_000 where statuses.map(\.cosignedSize) != [final.treeSize, final.treeSize] {
            usleep(1_000)
            statuses = log.feed.statuses
        }
        #expect(statuses.map(\.cosignedSize) == [final.treeSize, final.treeSize])
    }

    @Test("after a key rotation a witness that pins the first key refuses (403): reported, the limitation documented")
    func keyEvolutionRefused() throws {
        let log = try Log(keyEvolution: KeyEvolution(checkpointsPerEpoch: 1))
        defer { log.close() }
        try log.appendReceipts(0..<2)
        _ = try log.ledger.checkpoint()   // epoch 0: cosigned; the key then evolves
        try log.ledger.flush()
        #expect(log.feed.submitNow(ledger: log.ledger).allSatisfy { $0.lastProblem == nil && $0.cosignedSize != nil })
        try log.appendReceipts(2..<4)
        _ = try log.ledger.checkpoint()   // signed by epoch 1's key
        try log.ledger.flush()
        #expect(log.feed.submitNow(ledger: log.ledger).map(\.lastProblem) == [.refused(.forbidden), .refused(.forbidden)])
    }

    @Test("after a key rotation the feed presents the evolved key's checkpoints: a witness told the new key cosigns")
    func keyEvolutionFollowed() throws {
        final class RotationSink: LedgerSink {
            let keys = Mutex<[[UInt8]]>([])
            var recordKinds: Set<LedgerRecordKind> { [.keyRotation] }
            func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8]) {
                if case .keyRotation(let rotation) = record.body { keys.withLock { $0.append(rotation.newPublicKey) } }
            }
        }
        let rotations = RotationSink()
        let log = try Log(keyEvolution: KeyEvolution(checkpointsPerEpoch: 1), extraSinks: [rotations])
        defer { log.close() }
        try log.appendReceipts(0..<2)
        _ = try log.ledger.checkpoint()   // epoch 0; the key then evolves
        try log.ledger.flush()
        _ = log.feed.submitNow(ledger: log.ledger)
        let evolved = try #require(rotations.keys.withLock { $0 }.first.flatMap { VerifierKey(name: log.signer.name, publicKey: $0) })
        log.first.trust(evolved)
        try log.appendReceipts(2..<4)
        let second = try log.ledger.checkpoint()   // signed by epoch 1's key
        try log.ledger.flush()
        let statuses = log.feed.submitNow(ledger: log.ledger)
        #expect(statuses[0].lastProblem == nil && statuses[0].cosignedSize == second.treeSize)
        #expect(statuses[1].lastProblem == .refused(.forbidden))
        // The kept note names the evolved key and verifies under it.
        let note = try #require(log.feed.cosignedCheckpoint)
        #expect((try? SignedCheckpoint.open(note: note, verifierKey: evolved))?.treeSize == second.treeSize)
    }
}
