import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

// The ledger index (LEDGER.index/) is a cache: a bundle from it must be the scan's bundle, and
// every kind of bad index must make the fast path decline (nil), never answer wrongly.

/// A ledger with key rotations, several checkpoints and requests with more than one receipt
/// (the latest wins), closed; `appendMore` reopens it with the evolved key and appends.
private struct IndexFixture {
    let directory = TemporaryDirectory()
    let path: String
    let key: VerifierKey
    let keyPath: String
    let configuration: LedgerConfiguration

    init(receipts: Int = 60, first: UInt64 = 0) throws {
        path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let evolving = try evolvingKey(signer, in: directory, checkpointsPerEpoch: 2, checkpointEvery: 7)
        key = try VerifierKey(evolving.pinned)
        keyPath = evolving.keyPath
        // The index here is `zdr ledger index`'s, made stale or damaged by each test: the
        // writer keeping its own (WriterIndexTests) would repair it on close.
        var configuration = evolving.configuration
        configuration.maintainsIndex = false
        self.configuration = configuration
        try appendMore(receipts, first: first)
    }

    func appendMore(_ receipts: Int, first: UInt64 = 0) throws {
        let ledger = try Ledger(path: path, registry: testRegistry, signer: try SigningKey(loadingFrom: keyPath), configuration: configuration)
        for index in 0..<receipts { try ledger.append(.discardReceipt(sampleReceipt(request(first + UInt64(index % 25))))) }
        _ = try ledger.checkpoint()
        try ledger.close()
    }

    func scanned(_ id: RequestID) throws -> ReceiptBundle {
        try LedgerVerifier.receiptBundle(path: path, request: id, verifierKey: key, files: .live)
    }

    func indexed(_ id: RequestID) -> ReceiptBundle? {
        LedgerVerifier.receiptBundleFromIndex(path: path, request: id, verifierKey: key)
    }

    var paths: LedgerIndexPaths { LedgerIndexPaths(ledger: path) }
}

private func overwrite(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    body(&bytes)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Ways an index goes bad: a crash, a bit flip, an old or future version, another ledger's.
enum IndexDamage: String, CaseIterable, CustomTestStringConvertible {
    case manifestMissing, manifestTorn, manifestBitFlip, versionChanged, hashesTruncated, hashesZeroed, hashesBitFlip,
         idsZeroed, idsPointElsewhere, foreign, hugeSizes, slotOffsetHuge
    var testDescription: String { rawValue }
}

@Suite("Ledger index: an untrusted cache for prove (issue 13 §4)")
struct LedgerIndexTests {
    @Test("a bundle from the index is the scan's, byte for byte; an unknown request is not answered from it")
    func indexMatchesScan() throws {
        let fixture = try IndexFixture()
        defer { fixture.directory.cleanup() }
        #expect(fixture.indexed(request(1)) == nil)  // no index yet
        let report = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        #expect(report == (try LedgerVerifier.verify(path: fixture.path, verifierKey: fixture.key)))
        // Request ids and offsets: readable by the ledger's owner only, like the ledger, also
        // when an older, more open index is replaced.
        for file in [fixture.paths.manifest, fixture.paths.hashes, fixture.paths.ids] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        }
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        for file in [fixture.paths.manifest, fixture.paths.hashes, fixture.paths.ids] {
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.paths.directory)[.posixPermissions] as? Int == 0o700)
        for id in [0, 1, 9, 24] {
            let indexed = fixture.indexed(request(UInt64(id)))
            #expect(indexed != nil, "request \(id)")
            #expect(indexed?.json == (try fixture.scanned(request(UInt64(id)))).json, "request \(id)")
            #expect(indexed?.keyRotations.isEmpty == false)
        }
        #expect(fixture.indexed(request(99)) == nil)
        #expect(throws: LedgerError.requestNotFound) {
            _ = try LedgerVerifier.receiptBundle(path: fixture.path, request: request(99), verifierKey: fixture.key.description)
        }
    }

    @Test("records appended after the index come from the ledger's tail: a newer receipt, checkpoint and key win")
    func staleIndexReadsTail() throws {
        let fixture = try IndexFixture()
        defer { fixture.directory.cleanup() }
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        let old = try #require(fixture.indexed(request(3)))
        try fixture.appendMore(40, first: 3)  // request 3 again, and new ones up to 27
        for id in [3, 10, 27, 0] {
            let indexed = fixture.indexed(request(UInt64(id)))
            #expect(indexed != nil, "request \(id)")
            #expect(indexed?.json == (try fixture.scanned(request(UInt64(id)))).json, "request \(id)")
        }
        #expect(fixture.indexed(request(3))!.leafIndex > old.leafIndex)
    }

    @Test("a damaged record after the index's coverage declines the index, and prove reports the damage as a scan does")
    func corruptTailDeclines() throws {
        let fixture = try IndexFixture()
        defer { fixture.directory.cleanup() }
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        try fixture.appendMore(10, first: 100)
        #expect(fixture.indexed(request(100)) != nil)
        try overwrite(fixture.path) { $0[$0.count - 40] ^= 0x10 }
        #expect(fixture.indexed(request(100)) == nil)
        #expect(fixture.indexed(request(9)) == nil)
        #expect(throws: LedgerError.self) {
            _ = try LedgerVerifier.receiptBundle(path: fixture.path, request: request(9), verifierKey: fixture.key.description)
        }
    }

    @Test("a damaged, stale-version, torn or foreign index is declined, and prove still answers by scanning",
          arguments: IndexDamage.allCases)
    func damagedIndexFallsBack(_ damage: IndexDamage) throws {
        let fixture = try IndexFixture()
        defer { fixture.directory.cleanup() }
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        let id = request(9)
        #expect(fixture.indexed(id) != nil)
        let paths = fixture.paths
        switch damage {
        case .manifestMissing:  // a crash before the manifest's rename
            try FileManager.default.removeItem(atPath: paths.manifest)
        case .manifestTorn:
            try overwrite(paths.manifest) { $0.removeLast($0.count / 2) }
        case .manifestBitFlip:
            try overwrite(paths.manifest) { $0[60] ^= 0x04 }
        case .versionChanged:  // a well-formed manifest of another version
            try overwrite(paths.manifest) { bytes in
                bytes[8] = 2
                bytes.removeLast(32)
                bytes += SHA256.hash(bytes).bytes
            }
        case .hashesTruncated:
            try overwrite(paths.hashes) { $0.removeLast(64) }
        case .hashesZeroed:
            try overwrite(paths.hashes) { $0 = [UInt8](repeating: 0, count: $0.count) }
        case .hashesBitFlip:  // every stored node wrong in one bit: no proof from them verifies
            try overwrite(paths.hashes) { bytes in for k in stride(from: 0, to: bytes.count, by: 32) { bytes[k] ^= 1 } }
        case .idsZeroed:
            try overwrite(paths.ids) { $0 = [UInt8](repeating: 0, count: $0.count) }
        case .idsPointElsewhere:  // each slot names the next slot's record
            try overwrite(paths.ids) { bytes in
                let original = bytes
                let slots = bytes.count / 32
                for slot in 0..<slots {
                    let next = (slot + 1) % slots
                    for k in 16..<32 { bytes[slot * 32 + k] = original[next * 32 + k] }
                }
            }
        case .hugeSizes:  // a forged manifest (valid checksum) with sizes near 2^64: no overflow trap
            try overwrite(paths.manifest) { bytes in
                for k in 80..<88 { bytes[k] = 0xFF }  // tree size
                for k in 88..<96 { bytes[k] = 0xFF }  // covered bytes
                for k in 136..<144 { bytes[k] = 0xFF }  // checkpoint offset
                bytes.removeLast(32)
                bytes += SHA256.hash(bytes).bytes
            }
        case .slotOffsetHuge:  // every slot's frame offset near 2^64
            try overwrite(paths.ids) { bytes in
                for slot in 0..<(bytes.count / 32) where bytes[slot * 32 + 24] != 0 {
                    for k in 16..<24 { bytes[slot * 32 + k] = 0xFF }
                }
            }
        case .foreign:  // another ledger of the same origin (and key name): its index copied here
            let other = try IndexFixture(first: 1000)
            defer { other.directory.cleanup() }
            _ = try LedgerVerifier.buildIndex(path: other.path, verifierKey: other.key)
            try FileManager.default.removeItem(atPath: paths.directory)
            try FileManager.default.copyItem(atPath: other.paths.directory, toPath: paths.directory)
        }
        #expect(fixture.indexed(id) == nil)
        let bundle = try LedgerVerifier.receiptBundle(path: fixture.path, request: id, verifierKey: fixture.key.description)
        #expect(bundle.json == (try fixture.scanned(id)).json)
        // Rebuilding repairs it.
        _ = try LedgerVerifier.buildIndex(path: fixture.path, verifierKey: fixture.key)
        #expect(fixture.indexed(id)?.json == bundle.json)
    }

    @Test("streamed consistency proofs and roots equal the in-memory tree's, for every pair of sizes up to 40")
    func streamedConsistency() {
        var tree = MerkleTree()
        var leaves: [Hash32] = []
        for index in 0..<40 {
            let leaf = MerkleHashing.leaf([UInt8(index)])
            leaves.append(leaf)
            tree.append(leafHash: leaf)
        }
        for second in 0...40 {
            for first in 0...second {
                var ranges = StreamingRangeHashes.consistencyRanges(first: UInt64(first), second: UInt64(second))
                let count = ranges.count
                ranges += [(0, UInt64(first)), (0, UInt64(second))]
                var hashes = StreamingRangeHashes(ranges: ranges)
                for leaf in leaves { hashes.append(leafHash: leaf) }
                let roots = hashes.roots
                #expect(Array(roots[0..<count]) == tree.consistencyProof(first: UInt64(first), second: UInt64(second)), "\(first) → \(second)")
                #expect(roots[count] == tree.root(size: UInt64(first)) && roots[count + 1] == tree.root(size: UInt64(second)))
            }
        }
    }
}

@Suite("Ledger index: the software identity in force, from the index and from the tail")
struct LedgerIndexIdentityTests {
    private static func open(_ path: String, _ signer: SigningKey, executable: UInt8) throws -> Ledger {
        let identity = SoftwareIdentityRecord(
            executableSHA256: [UInt8](repeating: executable, count: 32), policySHA256: [UInt8](repeating: 0xB0, count: 32),
            configurationSHA256: [UInt8](repeating: 0xC0, count: 32), version: SoftwareVersion(major: 2, minor: 0, patch: UInt16(executable)))
        var configuration = LedgerConfiguration(flushIntervalNanoseconds: nil, checkpointEveryRecords: nil,
                                                checkpointIntervalNanoseconds: nil, softwareIdentity: identity, clock: steppingClock())
        configuration.maintainsIndex = false  // the tail after `zdr ledger index` stays a tail
        return try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
    }

    @Test("each receipt's bundle names the identity of the binary that recorded it, as the scan's does")
    func identityInForce() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("l")
        let signer = try SigningKey.generate(name: "test.example/index-identity")
        let key = try VerifierKey(signer.verifierKey)
        for (executable, id) in [(UInt8(0xA1), UInt64(1)), (0xA2, 2)] {
            let ledger = try Self.open(path, signer, executable: executable)
            _ = try ledger.append(.discardReceipt(sampleReceipt(request(id))))
            _ = try ledger.checkpoint()
            try ledger.close()
        }
        _ = try LedgerVerifier.buildIndex(path: path, verifierKey: key)
        let tail = try Self.open(path, signer, executable: 0xA3)  // after the index: read from the tail
        _ = try tail.append(.discardReceipt(sampleReceipt(request(3))))
        _ = try tail.checkpoint()
        try tail.close()
        var identities: Set<UInt64> = []
        for id in [UInt64(1), 2, 3] {
            let indexed = try #require(LedgerVerifier.receiptBundleFromIndex(path: path, request: request(id), verifierKey: key))
            let scanned = try LedgerVerifier.receiptBundle(path: path, request: request(id), verifierKey: key, files: .live)
            #expect(indexed == scanned, "request \(id)")
            let identity = try #require(indexed.softwareIdentity)
            identities.insert(identity.leafIndex)
        }
        #expect(identities.count == 3)
    }
}
