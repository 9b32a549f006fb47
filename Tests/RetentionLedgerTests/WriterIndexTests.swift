import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

// The writer reopens from its ledger index (issue 13 §4): only the records from the index's
// checkpoint on are replayed, and every answer (bundles, proofs, lookups) is the same as after
// a full replay. A bad index of any kind is not used.

private struct WriterFixture {
    let directory = TemporaryDirectory()
    let path: String
    let signer: SigningKey
    let key: VerifierKey

    init() throws {
        path = directory.file("ledger.zdr")
        signer = try SigningKey.generate(name: "test.example/writer-index")
        key = try VerifierKey(signer.verifierKey)
    }

    func configuration(index: Bool = true, signs: Bool = true) -> LedgerConfiguration {
        var configuration = quietConfiguration(signsEveryFlush: signs)
        configuration.maintainsIndex = index
        return configuration
    }

    func open(index: Bool = true, signs: Bool = true) throws -> Ledger {
        try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration(index: index, signs: signs))
    }

    /// Opens, appends receipts for `ids` in flushes of `batch`, closes.
    func session(_ ids: Range<UInt64>, batch: Int = 7, index: Bool = true) throws {
        let ledger = try open(index: index)
        for (k, id) in ids.enumerated() {
            try ledger.append(.discardReceipt(sampleReceipt(request(id))))
            if k % batch == batch - 1 { try ledger.flush() }
        }
        try ledger.close()
    }

    var paths: LedgerIndexPaths { LedgerIndexPaths(ledger: path) }

    /// The bundle verifies offline and is the one `zdr ledger prove`'s scan builds.
    func expectBundle(_ ledger: Ledger, _ id: UInt64, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bundle = try ledger.receiptBundle(forRequest: request(id))
        let verified = try bundle.verify(verifierKey: key)
        #expect(verified.receipt.requestID == request(id), sourceLocation: sourceLocation)
        let scanned = try LedgerVerifier.receiptBundle(path: path, request: request(id), verifierKey: key, files: .live)
        #expect(bundle.json == scanned.json, "request \(id)", sourceLocation: sourceLocation)
    }
}

private func overwrite(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    body(&bytes)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Ways the writer's index goes bad.
enum WriterIndexDamage: String, CaseIterable, CustomTestStringConvertible {
    case manifestMissing, manifestBitFlip, versionChanged, hashesTruncated, frontierBitFlip, foreign, checkpointOffsetWrong
    var testDescription: String { rawValue }
}

@Suite("Ledger writer: reopen from the ledger index (issue 13 §4)")
struct WriterIndexTests {
    @Test("reopen replays only the index's checkpoint; bundles, proofs and lookups before and after it verify")
    func reopenUsesIndex() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<120)
        let first = try fixture.open()
        let sizeAtOpen = first.size
        #expect(first.openedFromIndex)
        #expect(first.framesReplayedAtOpen == 1)  // the seal checkpoint `close()` ended with
        #expect(first.indexedBase == sizeAtOpen - 1)
        for id: UInt64 in [0, 1, 57, 119] {
            #expect(first.hasReceipt(for: request(id)))
            try fixture.expectBundle(first, id)
        }
        #expect(!first.hasReceipt(for: request(500)))
        #expect(throws: LedgerError.requestNotFound) { _ = try first.receiptBundle(forRequest: request(500)) }
        for id: UInt64 in 200..<230 { try first.append(.discardReceipt(sampleReceipt(request(id)))) }
        try first.append(.discardReceipt(sampleReceipt(request(3))))  // a newer receipt wins
        let latest = try first.checkpoint()
        try first.flush()
        try fixture.expectBundle(first, 3)
        #expect(try first.receiptBundle(forRequest: request(3)).leafIndex >= sizeAtOpen)
        try fixture.expectBundle(first, 215)
        try fixture.expectBundle(first, 4)
        // Consistency from sizes inside the index to the new checkpoint.
        for old: UInt64 in [1, 13, sizeAtOpen - 1, sizeAtOpen + 5] {
            let proof = try first.consistencyProof(from: old, to: latest.treeSize)
            let oldRoot = try replayLedger(readFile(fixture.path), pinnedKey: nil).1.tree.root(size: old).bytes
            #expect(MerkleProofs.verifyConsistency(
                firstSize: old, secondSize: latest.treeSize, firstRoot: oldRoot, secondRoot: latest.rootHash, proof: proof), "from \(old)")
        }
        try first.close()
        // The index was extended by close: the next open replays one frame again, and the
        // records of both sessions answer.
        let second = try fixture.open()
        #expect(second.openedFromIndex && second.framesReplayedAtOpen == 1)
        for id: UInt64 in [0, 3, 119, 229] { try fixture.expectBundle(second, id) }
        try second.close()
        #expect(try LedgerVerifier.verify(path: fixture.path, verifierKey: fixture.key).recordCount == second.size)
    }

    @Test("a stale index (records appended without it) is caught up by replaying from its checkpoint")
    func staleIndexCaughtUp() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<50)
        let indexed = try fixture.open(index: false)
        let base = indexed.size
        try indexed.close()
        try fixture.session(50..<90, index: false)  // the index now lags by 40 receipts and their seals
        let ledger = try fixture.open()
        #expect(ledger.openedFromIndex)
        #expect(ledger.framesReplayedAtOpen == ledger.size - (base - 1))
        for id: UInt64 in [0, 49, 50, 89] {
            #expect(ledger.hasReceipt(for: request(id)))
            try fixture.expectBundle(ledger, id)
        }
        try ledger.close()
    }

    @Test("a damaged, foreign or other-version index is not used, and the ledger opens as a full replay would",
          arguments: WriterIndexDamage.allCases)
    func damagedIndexFallsBack(_ damage: WriterIndexDamage) throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<40)
        let paths = fixture.paths
        switch damage {
        case .manifestMissing:
            try FileManager.default.removeItem(atPath: paths.manifest)
        case .manifestBitFlip:
            try overwrite(paths.manifest) { $0[60] ^= 0x04 }
        case .versionChanged:
            try overwrite(paths.manifest) { bytes in
                bytes[8] = 2
                bytes.removeLast(32)
                bytes += SHA256.hash(bytes).bytes
            }
        case .hashesTruncated:
            try overwrite(paths.hashes) { $0.removeLast(64) }
        case .frontierBitFlip:  // every stored node wrong: the frontier no longer has the signed root
            try overwrite(paths.hashes) { bytes in for k in stride(from: 0, to: bytes.count, by: 32) { bytes[k] ^= 1 } }
        case .checkpointOffsetWrong:  // a forged manifest (valid checksum) naming a receipt as the checkpoint
            try overwrite(paths.manifest) { bytes in
                for k in 136..<144 { bytes[k] = 0 }
                bytes[136] = 16  // the first frame, just after the header
                bytes.removeLast(32)
                bytes += SHA256.hash(bytes).bytes
            }
        case .foreign:  // another ledger of the same origin and key: its index copied here
            let other = try WriterFixture()
            defer { other.directory.cleanup() }
            let ledger = try Ledger(path: other.path, registry: testRegistry, signer: fixture.signer, configuration: fixture.configuration())
            for id: UInt64 in 1000..<1040 { try ledger.append(.discardReceipt(sampleReceipt(request(id)))) }
            try ledger.close()
            try FileManager.default.removeItem(atPath: paths.directory)
            try FileManager.default.copyItem(atPath: other.paths.directory, toPath: paths.directory)
        }
        let ledger = try fixture.open()
        #expect(!ledger.openedFromIndex)
        #expect(ledger.framesReplayedAtOpen == ledger.size)
        // The index was rebuilt by the open, and memory holds only the frontier.
        #expect(ledger.indexedBase == ledger.size)
        #expect(FileManager.default.fileExists(atPath: paths.manifest))
        for id: UInt64 in [0, 39] { try fixture.expectBundle(ledger, id) }
        #expect(!ledger.hasReceipt(for: request(1000)))
        try ledger.close()
        // The open rebuilt it, and close extended it: the next open uses it.
        let again = try fixture.open()
        #expect(again.openedFromIndex)
        try fixture.expectBundle(again, 20)
        try again.close()
    }

    @Test("an index that leads the ledger (the file cut at a record boundary after it) is refused")
    func leadingIndexRefused() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        // Records after the last checkpoint, unsigned, so the index's checkpoint survives the cut.
        let ledger = try fixture.open(index: false, signs: false)
        for id: UInt64 in 0..<10 { try ledger.append(.discardReceipt(sampleReceipt(request(id)))) }
        _ = try ledger.checkpoint()
        for id: UInt64 in 10..<13 { try ledger.append(.discardReceipt(sampleReceipt(request(id)))) }
        try ledger.flush()
        let cut = readFile(fixture.path)
        let sizeAtCut = ledger.size
        for id: UInt64 in 13..<16 { try ledger.append(.discardReceipt(sampleReceipt(request(id)))) }
        try ledger.close()
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        writeFile(fixture.path, cut)  // rolled back by three records; the index still has them
        let reopened = try fixture.open(signs: false)
        #expect(!reopened.openedFromIndex)
        #expect(reopened.size == sizeAtCut)
        for id: UInt64 in 13..<16 { #expect(!reopened.hasReceipt(for: request(id)), "request \(id)") }
        #expect(reopened.hasReceipt(for: request(12)))
        try fixture.expectBundle(reopened, 12)
        try reopened.close()
    }

    @Test("a table slot naming another record is not believed: the ledger is read instead")
    func wrongSlotNotBelieved() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<30)
        try overwrite(fixture.paths.ids) { bytes in  // each filled slot names the next filled slot's record
            let original = bytes
            let filled = (0..<(bytes.count / 32)).filter { slot in (24..<26).contains { original[slot * 32 + $0] != 0 } }
            for (k, slot) in filled.enumerated() {
                let next = filled[(k + 1) % filled.count]
                for byte in 16..<32 { bytes[slot * 32 + byte] = original[next * 32 + byte] }
            }
        }
        let ledger = try fixture.open()
        #expect(ledger.openedFromIndex)
        for id: UInt64 in [0, 17, 29] { try fixture.expectBundle(ledger, id) }
        try ledger.close()
    }

    @Test("a stored node that is wrong does not reach a proof: bundles and consistency proofs are hashed from the ledger")
    func wrongNodeNotBelieved() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<64)
        // Leaves 0..<64 wrong (positions 0, 2, …, 126), the frontier of the index's base intact
        // (the node over [0, 64) and those after it).
        try overwrite(fixture.paths.hashes) { bytes in for k in stride(from: 0, to: 64 * 64, by: 64) { bytes[k] ^= 1 } }
        let ledger = try fixture.open()
        #expect(ledger.openedFromIndex)
        for id: UInt64 in [0, 33, 63] { try fixture.expectBundle(ledger, id) }
        let latest = try ledger.checkpoint()
        try ledger.flush()
        let proof = try ledger.consistencyProof(from: 5, to: latest.treeSize)
        let oldRoot = try replayLedger(readFile(fixture.path), pinnedKey: nil).1.tree.root(size: 5).bytes
        #expect(MerkleProofs.verifyConsistency(firstSize: 5, secondSize: latest.treeSize, firstRoot: oldRoot, secondRoot: latest.rootHash, proof: proof))
        try ledger.close()
    }

    @Test("a bundle under a checkpoint signed before the reopen (a witness's cosigned size) is read from the ledger")
    func bundleUnderOldCheckpoint() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        let ledger = try fixture.open()
        for id: UInt64 in 0..<10 { try ledger.append(.discardReceipt(sampleReceipt(request(id)))) }
        let old = try ledger.checkpoint()
        try ledger.close()
        try fixture.session(10..<20)
        let reopened = try fixture.open()
        #expect(reopened.openedFromIndex)
        let bundle = try reopened.receiptBundle(forRequest: request(4), checkpointSize: old.treeSize)
        #expect(bundle.treeSize == old.treeSize)
        _ = try bundle.verify(verifierKey: fixture.key)
        #expect(throws: LedgerError.requestNotFound) { _ = try reopened.receiptBundle(forRequest: request(15), checkpointSize: old.treeSize) }
        try reopened.close()
    }

    @Test("the background flusher extends the index as records become durable; a writer that stops without close() reopens from it")
    func flusherExtendsIndex() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        var configuration = fixture.configuration()
        configuration.flushIntervalNanoseconds = 1_000_000
        configuration.indexRefreshEveryRecords = 40
        var sizeAtStop: UInt64 = 0
        var baseAtStop: UInt64 = 0
        do {
            let ledger = try Ledger(path: fixture.path, registry: testRegistry, signer: fixture.signer, configuration: configuration)
            for id: UInt64 in 0..<150 {
                try ledger.append(.discardReceipt(sampleReceipt(request(id))))
                if id % 10 == 9 { try ledger.flush() }
            }
            // The flusher runs every millisecond; give it up to five seconds to catch up.
            var waited = 0
            while ledger.durableSize >= ledger.indexedBase + 40 && waited < 5_000 {
                usleep(1_000)
                waited += 1
            }
            // Extended at least twice (the first extension covers the first 40-odd records).
            #expect(ledger.indexedBase >= 80)
            for id: UInt64 in [0, 77, 149] {
                #expect(ledger.hasReceipt(for: request(id)))
                try fixture.expectBundle(ledger, id)
            }
            sizeAtStop = ledger.size
            baseAtStop = ledger.indexedBase
            // No close(): the process stops here (deinit only closes the file).
        }
        let reopened = try fixture.open()
        #expect(reopened.openedFromIndex)
        #expect(reopened.framesReplayedAtOpen <= sizeAtStop - baseAtStop + 1)
        for id: UInt64 in [0, 77, 149] { try fixture.expectBundle(reopened, id) }
        try reopened.close()
    }

    @Test("the id table grows past its load limit as the writer appends (rehash), and keeps every receipt")
    func tableGrows() throws {
        let fixture = try WriterFixture()
        defer { fixture.directory.cleanup() }
        try fixture.session(0..<5, batch: 5)
        let slotsBefore = try #require(LedgerIndexStore(ledger: fixture.path, header: LedgerHeader(origin: fixture.signer.name, flags: []), files: .live)).manifest.idSlots
        try fixture.session(5..<100, batch: 19)
        let store = try #require(LedgerIndexStore(ledger: fixture.path, header: LedgerHeader(origin: fixture.signer.name, flags: []), files: .live))
        #expect(store.manifest.idSlots > slotsBefore)
        #expect(store.manifest.idCount == 100)
        let ledger = try fixture.open()
        #expect(ledger.openedFromIndex)
        for id: UInt64 in 0..<100 { #expect(ledger.hasReceipt(for: request(id)), "request \(id)") }
        try fixture.expectBundle(ledger, 2)
        try ledger.close()
        #expect(LedgerVerifier.receiptBundleFromIndex(path: fixture.path, request: request(77), verifierKey: fixture.key) != nil)
    }
}
