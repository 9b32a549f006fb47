import Foundation
import Synchronization
import Testing
@testable import RetentionLedger
import RetentionVocabulary

private func openLedger(_ path: String, signer: SigningKey, _ configuration: LedgerConfiguration = quietConfiguration()) throws -> Ledger {
    try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
}

enum LedgerVerifierTestHooks {
    static func proof(path: String, index: UInt64, size: UInt64) throws -> [[UInt8]] {
        let (_, replay) = try replayLedger(readFile(path), pinnedKey: nil)
        return replay.tree.inclusionProof(index: index, size: size).map(\.bytes)
    }
}

@Suite("Ledger: append, flush, checkpoint, reopen, tamper evidence")
struct LedgerTests {
    @Test("append flush reopen keeps every record and continues the tree") func appendFlushReopenKeepsEveryRecordAndContinuesTheTree() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        var indexes: [UInt64] = []
        for record in sampleRecords(request(1)) { indexes.append(try ledger.append(record)) }
        #expect(indexes == [0, 1, 2, 3, 4, 5])
        _ = try ledger.checkpoint()
        try ledger.flush()
        #expect(ledger.durableSize == 7)
        try ledger.close()
        #expect(throws: LedgerError.closed) { try ledger.append(sampleRecords(request(2))[0]) }

        let reopened = try openLedger(path, signer: signer)
        #expect(reopened.size == 7)
        #expect(try reopened.append(sampleRecords(request(2))[0]) == 7)
        _ = try reopened.checkpoint()
        try reopened.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
        #expect(report.recordCount == 9 && report.checkpointCount == 2 && report.lastCheckpointTreeSize == 8 && report.uncheckpointedRecords == 0)
        let entries = try LedgerVerifier.entries(path: path)
        for (index, record) in sampleRecords(request(1)).enumerated() {
            #expect(entries[index].record.body == record.body)
        }
    }

    @Test("checkpoints are written every N records and carry the root") func checkpointsAreWrittenEveryNRecordsAndCarryTheRoot() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer, quietConfiguration(checkpointEvery: 3))
        for n in 0..<9 { try ledger.append(sampleRecords(request(UInt64(n)))[n % 6]) }
        try ledger.close()
        let entries = try LedgerVerifier.entries(path: path)
        let checkpointIndexes = entries.filter { $0.record.body.kind == .checkpoint }.map(\.leafIndex)
        #expect(checkpointIndexes == [3, 7, 11])
        for entry in entries {
            guard case .checkpoint(let checkpoint) = entry.record.body else { continue }
            #expect(checkpoint.treeSize == entry.leafIndex)
            #expect(checkpoint.rootHash == (try LedgerVerifier.rootHash(path: path, size: entry.leafIndex)))
        }
        // Consecutive checkpoints are consistent (RFC 9162 consistency proof).
        let proof = try LedgerVerifier.consistencyProof(path: path, firstSize: 3, secondSize: 11)
        #expect(MerkleProofs.verifyConsistency(
            firstSize: 3, secondSize: 11, firstRoot: try LedgerVerifier.rootHash(path: path, size: 3),
            secondRoot: try LedgerVerifier.rootHash(path: path, size: 11), proof: proof))
        #expect(try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey).checkpointCount == 3)
    }

    @Test("receipt bundle verifies offline with only the verifier key") func receiptBundleVerifiesOfflineWithOnlyTheVerifierKey() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        for n in UInt64(0)..<5 {
            for record in sampleRecords(request(n)) { try ledger.append(record) }
        }
        let bundle = try ledger.receiptBundle(forRequest: request(2))
        #expect(throws: LedgerError.requestNotFound) { try ledger.receiptBundle(forRequest: request(99)) }
        try ledger.close()

        let json = bundle.json
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(Set(object.keys) == ["record", "leaf_index", "tree_size", "inclusion_proof", "checkpoint"])
        #expect(object["leaf_index"] as? Int == 16 && object["tree_size"] as? Int == 30)
        let verified = try ReceiptBundle.verify(json: json, verifierKey: signer.verifierKey)
        #expect(verified.receipt == sampleReceipt(request(2)))
        #expect(verified.checkpoint.treeSize == 30)

        // The same bundle can be rebuilt from the file alone.
        let offline = try LedgerVerifier.receiptBundle(path: path, request: request(2), verifierKey: signer.verifierKey)
        #expect(offline == bundle)

        // Tampering with any part is refused.
        var wrongRecord = bundle
        wrongRecord.record[20] ^= 1
        #expect(throws: LedgerError.self) { try wrongRecord.verify(verifierKey: signer.verifier) }
        var wrongIndex = bundle
        wrongIndex.leafIndex += 1
        #expect(throws: LedgerError.bundleInvalid(.inclusionProofInvalid)) { try wrongIndex.verify(verifierKey: signer.verifier) }
        var wrongProof = bundle
        wrongProof.inclusionProof[1][3] ^= 0x40
        #expect(throws: LedgerError.bundleInvalid(.inclusionProofInvalid)) { try wrongProof.verify(verifierKey: signer.verifier) }
        var wrongCheckpoint = bundle
        wrongCheckpoint.checkpoint = wrongCheckpoint.checkpoint.replacingOccurrences(of: "\n30\n", with: "\n31\n")
        #expect(throws: LedgerError.self) { try wrongCheckpoint.verify(verifierKey: signer.verifier) }
        let stranger = try SigningKey.generate(name: "ledger.example")
        #expect(throws: LedgerError.bundleInvalid(.checkpointSignatureInvalid)) { try bundle.verify(verifierKey: stranger.verifier) }
        // A non-receipt record with a valid proof is still not a receipt.
        let entries = try LedgerVerifier.entries(path: path)
        let opened = ReceiptBundle(record: entries[12].canonicalBytes, leafIndex: 12, treeSize: 30,
            inclusionProof: try LedgerVerifierTestHooks.proof(path: path, index: 12, size: 30), checkpoint: bundle.checkpoint)
        #expect(throws: LedgerError.bundleInvalid(.notADiscardReceipt)) { try opened.verify(verifierKey: signer.verifier) }
    }

    /// Frames in the tampering fixture: six records, a checkpoint, one more record.
    private static let tamperFixtureFrames = 8

    /// `region` -1 is the header; 0…7 the frames. Every byte of it is flipped in turn.
    @Test("flipping any byte of the header or of one frame is detected with that frame's index",
          arguments: -1..<tamperFixtureFrames)
    func flippingAnyByteIsDetectedWithTheRightRecordIndex(region: Int) throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        _ = try ledger.checkpoint()
        try ledger.append(sampleRecords(request(2))[0])
        try ledger.close()
        let original = readFile(path)
        let entries = try LedgerVerifier.entries(path: path)
        try #require(entries.count == Self.tamperFixtureFrames)
        let frameStarts = entries.map { Int($0.offset) }
        let regionStart = region < 0 ? 0 : frameStarts[region]
        let regionEnd = region < 0 ? frameStarts[0] : (region + 1 < frameStarts.count ? frameStarts[region + 1] : original.count)
        let tampered = directory.file("tampered.zdr")
        for offset in regionStart..<regionEnd {
            var bytes = original
            bytes[offset] ^= offset % 2 == 0 ? 0x01 : 0x80
            writeFile(tampered, bytes)
            do {
                _ = try LedgerVerifier.verify(path: tampered, verifierKey: signer.verifierKey)
                Issue.record("flip at \(offset) undetected")
            } catch {
                if region < 0 {
                    switch error {
                    case .headerCorrupt, .notALedger, .unsupportedVersion: break
                    default: Issue.record("offset \(offset): \(error)")
                    }
                } else {
                    guard case .invalidRecord(let reported, let reportedOffset, _) = error else {
                        Issue.record("offset \(offset): \(error)")
                        continue
                    }
                    #expect(reported == UInt64(region) && reportedOffset == UInt64(regionStart), "offset \(offset)")
                }
            }
            // The writer refuses the same file (fail closed) rather than truncating it.
            if region == 3 && offset == regionStart + 10 {
                #expect(throws: LedgerError.invalidRecord(index: 3, offset: UInt64(regionStart), fault: .checksumMismatch)) {
                    _ = try openLedger(tampered, signer: signer)
                }
            }
        }
    }

    @Test("tampering that fixes the checksum is caught by the checkpoint") func tamperingThatFixesTheChecksumIsCaughtByTheCheckpoint() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        _ = try ledger.checkpoint()
        try ledger.close()
        // Rewrite record 4 (the discard receipt) with a different reason and a recomputed frame.
        let entries = try LedgerVerifier.entries(path: path)
        var receipt = sampleReceipt(request(1))
        receipt.reason = .failed
        var forged = entries[4].record
        forged.body = .discardReceipt(receipt)
        var frame: [UInt8] = []
        appendFrame(forged.canonicalBytes, to: &frame)
        var bytes = readFile(path)
        bytes.replaceSubrange(Int(entries[4].offset)..<(Int(entries[4].offset) + frame.count), with: frame)
        writeFile(path, bytes)
        #expect(throws: LedgerError.invalidRecord(index: 6, offset: entries[6].offset, fault: .checkpointRootMismatch)) {
            _ = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
        }
    }

    /// The tails a crash before `fdatasync` can leave, and the damage it cannot: `torn` cases are
    /// an incomplete last frame (reported, truncated by the writer on reopen); the others are a
    /// complete frame that fails, which may be an acknowledged record, so they are corruption
    /// with index and offset and the writer refuses the file rather than truncate it.
    @Test("only an incomplete last frame is a torn tail; a complete bad frame or a zeroed one is corruption",
          arguments: ["half a frame", "five bytes", "header only", "forty zeros", "zero checksum", "flipped checksum"])
    func tornTailVersusCorruption(shape: String) throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        try ledger.close()
        let intact = readFile(path)
        var frame: [UInt8] = []
        appendFrame(sampleRecords(request(2))[4].canonicalBytes, to: &frame)
        let tail: [UInt8]
        var torn = false
        switch shape {
        case "half a frame": tail = Array(frame.prefix(frame.count / 2)); torn = true
        case "five bytes": tail = Array(frame.prefix(5)); torn = true
        case "header only": tail = Array(frame.prefix(8)); torn = true
        case "forty zeros": tail = [UInt8](repeating: 0, count: 40)
        case "zero checksum": tail = Array(frame.dropLast(4)) + [0, 0, 0, 0]
        default: tail = Array(frame.dropLast(1)) + [frame.last! ^ 0x01]
        }
        writeFile(path, intact + tail)
        if torn {
            let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
            #expect(report.recordCount == 6 && report.tornTailBytes == tail.count)
            let reopened = try openLedger(path, signer: signer)
            #expect(reopened.size == 6)
            try reopened.close()
            #expect(readFile(path) == intact)
        } else {
            let fault: RecordFault = shape == "forty zeros" ? .frameHeaderInvalid : .checksumMismatch
            let expected = LedgerError.invalidRecord(index: 6, offset: UInt64(intact.count), fault: fault)
            #expect(throws: expected) { _ = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey) }
            #expect(throws: expected) { _ = try openLedger(path, signer: signer) }
            #expect(readFile(path) == intact + tail)  // nothing truncated
        }
    }

    @Test("sinks receive every record in order") func sinksReceiveEveryRecordInOrder() throws {
        final class CollectingSink: LedgerSink {
            let seen = Mutex<[(UInt64, LedgerRecordKind)]>([])
            func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8]) {
                #expect(canonicalBytes == record.canonicalBytes)
                seen.withLock { $0.append((leafIndex, record.body.kind)) }
            }
        }
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let sink = CollectingSink()
        let ledger = try openLedger(directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "ledger.example"),
                                    quietConfiguration(checkpointEvery: 6, sinks: [sink]))
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        try ledger.close()
        let seen = sink.seen.withLock { $0 }
        #expect(seen.map(\.0) == Array(0...6))
        #expect(seen.map(\.1) == [.requestOpened, .policyDecision, .upstreamEgress, .usage, .discardReceipt, .serviceHealth, .checkpoint])
    }

    @Test("a different signing key cannot reopen the ledger") func aDifferentSigningKeyCannotReopenTheLedger() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        try ledger.append(sampleRecords(request(1))[0])
        _ = try ledger.checkpoint()
        try ledger.close()
        #expect(throws: LedgerError.signingKeyMismatch) { _ = try openLedger(path, signer: try SigningKey.generate(name: "ledger.example")) }
        #expect(throws: LedgerError.signingKeyMismatch) { _ = try openLedger(path, signer: try SigningKey.generate(name: "other.example")) }
        #expect(throws: LedgerError.signingKeyMismatch) {
            _ = try LedgerVerifier.verify(path: path, verifierKey: try SigningKey.generate(name: "other.example").verifierKey)
        }
        #expect(throws: LedgerError.invalidRecord(index: 1, offset: try LedgerVerifier.entries(path: path)[1].offset, fault: .checkpointSignatureInvalid)) {
            _ = try LedgerVerifier.verify(path: path, verifierKey: try SigningKey.generate(name: "ledger.example").verifierKey)
        }
    }

    @Test("a forward-secure ledger verifies from the first key only") func forwardSecureLedgerVerifiesFromTheFirstKeyOnly() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let (keyPath, pinned, configuration) = try evolvingKey(signer, in: directory, checkpointsPerEpoch: 1)
        let ledger = try openLedger(path, signer: signer, configuration)
        for n in UInt64(0)..<3 {
            for record in sampleRecords(request(n)) { try ledger.append(record) }
            _ = try ledger.checkpoint()
        }
        try ledger.flush()
        #expect(signer.epoch == 3)
        #expect(signer.verifierKey != pinned)
        // The key file now holds the evolved key, not the original.
        #expect(try SigningKey(loadingFrom: keyPath).verifierKey == signer.verifierKey)
        let bundle = try ledger.receiptBundle(forRequest: request(0))
        try ledger.close()
        let verified = try ReceiptBundle.verify(json: bundle.json, verifierKey: pinned)
        // The latest checkpoint covering the receipt was signed in epoch 2, reached via two rotations.
        #expect(verified.keyEpoch == 2 && bundle.keyRotations.count == 2)
        let report = try LedgerVerifier.verify(path: path, verifierKey: pinned)
        #expect(report.keyEpoch == 3 && report.checkpointCount == 3)

        // A fresh checkpoint under the latest key still verifies from the pinned first key.
        let reopened = try openLedger(path, signer: try SigningKey(loadingFrom: keyPath), configuration)
        try reopened.append(.discardReceipt(sampleReceipt(request(7))))
        let late = try reopened.receiptBundle(forRequest: request(7))
        try reopened.close()
        #expect(late.keyRotations.count == 3)
        #expect(try ReceiptBundle.verify(json: late.json, verifierKey: pinned).keyEpoch == 3)
        // Dropping a rotation from the chain breaks verification.
        var broken = late
        broken.keyRotations.remove(at: 1)
        #expect(throws: LedgerError.bundleInvalid(.keyChainInvalid)) { try broken.verify(verifierKey: VerifierKey(pinned)) }
        // A stranger's key cannot continue the ledger.
        #expect(throws: LedgerError.signingKeyMismatch) {
            _ = try openLedger(path, signer: try SigningKey.generate(name: "ledger.example"), configuration)
        }
    }

    @Test("concurrent appenders and flushers lose nothing") func concurrentAppendersAndFlushersLoseNothing() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer, quietConfiguration(checkpointEvery: 50))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in UInt64(0)..<4 {
                group.addTask {
                    for n in UInt64(0)..<100 {
                        try ledger.append(.discardReceipt(sampleReceipt(request(worker * 1000 + n))))
                        if n % 10 == 0 { try ledger.flush() }
                    }
                }
            }
            try await group.waitForAll()
        }
        try ledger.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
        #expect(report.recordCount == 400 + 8)
        #expect(report.checkpointCount == 8)
    }

    @Test("background flusher makes records durable without an explicit flush") func backgroundFlusherMakesRecordsDurableWithoutAnExplicitFlush() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let configuration = LedgerConfiguration(flushIntervalNanoseconds: 1_000_000, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil)
        let ledger = try openLedger(path, signer: signer, configuration)
        try ledger.append(sampleRecords(request(1))[0])
        // Not a timing assertion: waits (up to a generous bound) for the flusher to have run at all.
        // The record and the checkpoint that signs it (signsEveryFlush is the default).
        for _ in 0..<2000 where ledger.durableSize < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(ledger.durableSize == 2)
        try ledger.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey).uncheckpointedRecords == 0)
    }

    @Test("a time-triggered checkpoint is written by the background flusher") func timeTriggeredCheckpointIsWrittenByTheBackgroundFlusher() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        // The stepping clock advances 1 µs per reading, so a 1 ns interval is always due.
        let configuration = LedgerConfiguration(
            flushIntervalNanoseconds: 1_000_000, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: 1, clock: steppingClock())
        let ledger = try openLedger(path, signer: signer, configuration)
        try ledger.append(sampleRecords(request(1))[0])
        for _ in 0..<2000 where ledger.durableSize < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        try ledger.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
        #expect(report.checkpointCount == 1 && report.lastCheckpointTreeSize == 1)
    }

    @Test("a second writer on the same file is refused") func aSecondWriterOnTheSameFileIsRefused() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try openLedger(path, signer: signer)
        #expect(throws: LedgerError.io(.open, errno: EWOULDBLOCK)) { _ = try openLedger(path, signer: signer) }
        try ledger.close()
    }

    @Test("interrupted creation is completed and foreign files are refused") func interruptedCreationIsCompletedAndForeignFilesAreRefused() throws {
        let (directory, _, signer) = try freshLedger()
        defer { directory.cleanup() }
        // A crash while writing the header leaves a prefix of it: the writer completes the header.
        let partial = directory.file("partial.zdr")
        writeFile(partial, Array(LedgerHeader(origin: "ledger.example", flags: []).encoded.prefix(11)))
        let ledger = try openLedger(partial, signer: signer)
        try ledger.append(sampleRecords(request(1))[0])
        try ledger.close()
        #expect(try LedgerVerifier.verify(path: partial, verifierKey: signer.verifierKey).recordCount == 1)
        // Anything else is not ours to overwrite.
        let foreign = directory.file("foreign.txt")
        writeFile(foreign, Array("not a ledger at all\n".utf8))
        #expect(throws: LedgerError.notALedger) { _ = try openLedger(foreign, signer: signer) }
        #expect(readFile(foreign) == Array("not a ledger at all\n".utf8))
    }

    @Test("key epoch cadence survives reopening") func keyEpochCadenceSurvivesReopening() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let (keyPath, pinned, configuration) = try evolvingKey(signer, in: directory, checkpointsPerEpoch: 2)
        var ledger = try openLedger(path, signer: signer, configuration)
        try ledger.append(sampleRecords(request(1))[0])
        _ = try ledger.checkpoint()
        _ = try ledger.checkpoint()  // second checkpoint of epoch 0: rotates to epoch 1
        try ledger.close()
        ledger = try openLedger(path, signer: try SigningKey(loadingFrom: keyPath), configuration)
        _ = try ledger.checkpoint()  // first of epoch 1: no rotation yet
        try ledger.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: pinned).keyEpoch == 1)
        ledger = try openLedger(path, signer: try SigningKey(loadingFrom: keyPath), configuration)
        _ = try ledger.checkpoint()  // second of epoch 1: rotates to epoch 2
        try ledger.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: pinned).keyEpoch == 2)
    }
}
