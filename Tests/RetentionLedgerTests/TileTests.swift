#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// A ledger file written frame by frame (seconds faster in a debug build than `Ledger` for
/// tens of thousands of records): one repeated filler record, discard receipts where asked,
/// and signed checkpoints, whose roots the writer's verification still has to match.
struct SyntheticLedger {
    let path: String
    let signer: SigningKey
    private(set) var bytes: [UInt8]
    private var tree = MerkleFrontier()
    /// Leaf index of each receipt appended, by request.
    private(set) var receipts: [RequestID: UInt64] = [:]
    private static let at = Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)
    private static let filler = LedgerRecord(recordedAt: at, .serviceHealth(ServiceHealthRecord(
        windowStart: Timestamp(nanosecondsSinceEpoch: 1), windowEnd: Timestamp(nanosecondsSinceEpoch: 2),
        requestsOpened: 1, requestsDiscarded: 1, discardFailures: 0, activeRequests: 0, bytesHeld: 0, budgetUsedPermille: 0)))
        .canonicalBytes

    init(path: String, signer: SigningKey) {
        self.path = path
        self.signer = signer
        bytes = LedgerHeader(origin: signer.name, flags: []).encoded
    }

    var size: UInt64 { tree.size }

    mutating func append(_ record: [UInt8]) {
        appendFrame(record, to: &bytes)
        tree.append(leafHash: MerkleHashing.leaf(record))
    }

    /// Filler records until the tree has `size` leaves.
    mutating func fill(to size: UInt64) {
        while tree.size < size { append(Self.filler) }
    }

    /// The record bytes of each receipt appended, by request.
    private(set) var receiptRecords: [RequestID: [UInt8]] = [:]

    mutating func receipt(_ id: RequestID) {
        receipts[id] = tree.size
        let record = LedgerRecord(recordedAt: Self.at, .discardReceipt(sampleReceipt(id))).canonicalBytes
        receiptRecords[id] = record
        append(record)
    }

    /// A checkpoint of every leaf so far (itself the next leaf), and the file saved.
    mutating func checkpoint() {
        let root = tree.currentRoot.bytes
        let signature = signer.sign(checkpointBody(origin: signer.name, treeSize: tree.size, rootHash: root))
        append(LedgerRecord(recordedAt: Self.at, .checkpoint(
            CheckpointRecord(treeSize: tree.size, rootHash: root, keyEpoch: 0, signature: signature))).canonicalBytes)
        writeFile(path, bytes)
    }

    /// Receipts spread over the tree, filler up to `size`, then a checkpoint of exactly `size`.
    mutating func grow(to size: UInt64, receiptsAt indexes: [UInt64] = []) {
        for index in indexes.sorted() where index < size && index >= tree.size {
            fill(to: index)
            receipt(request(index))
        }
        fill(to: size)
        checkpoint()
    }
}

/// Every regular file under `root`, relative paths.
func filesUnder(_ root: String) -> Set<String> {
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    var files: Set<String> = []
    while let path = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
            files.insert(path)
        }
    }
    return files
}

func inode(_ path: String) -> UInt64? {
    var status = stat()
    return stat(path, &status) == 0 ? UInt64(status.st_ino) : nil
}

private func writeTiles(_ ledger: SyntheticLedger, _ out: String, key: VerifierKey? = nil) throws(TileError) -> TileWriteReport {
    try LedgerTiles.write(ledgerPath: ledger.path, to: out, verifierKey: key ?? ledger.signer.verifier, syncs: false)
}

@Suite("Tiles: C2SP tlog-tiles written from the ledger, read back by the library and by an independent client")
struct TileTests {
    @Test("the spec's own path and shape examples") func specExamples() {
        #expect(TilePath.index(1_234_067) == "x001/x234/067")
        #expect(TilePath.index(0) == "000")
        #expect(TilePath.index(999) == "999")
        #expect(TilePath.index(1000) == "x001/000")
        #expect(TilePath.tile(level: 1, index: 5, width: 17) == "tile/1/005.p/17")
        #expect(TilePath.entries(index: 1_234_067) == "tile/entries/x001/x234/067")
        #expect(SpecTileClient.encode(1_234_067) == "x001/x234/067")
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1."
        #expect(tileShape(treeSize: 70_000, level: 0) == (273, 112))
        #expect(tileShape(treeSize: 70_000, level: 1) == (1, 17))
        #expect(tileShape(treeSize: 70_000, level: 2) == (0, 1))
        #expect(tileShape(treeSize: 70_000, level: 3) == (0, 0))
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        #expect(SpecTileClient.expectedFiles(treeSize: 256) == ["checkpoint", "tile/0/000", "tile/entries/000", "tile/1/000.p/1"])
    }

    @Test("the test's SHA-256 matches FIPS 180-4") func specSHA256() {
        #expect(SpecSHA256.hash(Array("abc".utf8)) == hexBytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(SpecSHA256.hash([]) == hexBytes("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SpecSHA256.hash(long) == hexBytes("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"))
    }

    @Test("exactly the spec's files for the checkpoint's size, verified by the independent client",
          arguments: [1, 2, 255, 256, 257, 511, 513] as [UInt64])
    func layoutAndIndependentInclusion(size: UInt64) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        let receiptIndexes = [0, size / 2, size - 1]
        ledger.grow(to: size, receiptsAt: receiptIndexes)
        let out = directory.file("tiles")
        let report = try writeTiles(ledger, out)
        #expect(report.treeSize == size)
        #expect(filesUnder(out) == SpecTileClient.expectedFiles(treeSize: size))
        #expect(Set(report.written) == SpecTileClient.expectedFiles(treeSize: size))
        #expect(report.written.last == "checkpoint")

        let client = SpecTileClient(prefix: out)
        let key = ledger.signer.verifier
        let checkpoint = try client.checkpoint(key: key)
        #expect(checkpoint.size == size)
        #expect(try client.treeRoot(treeSize: size) == checkpoint.root)
        for (id, index) in ledger.receipts {
            // The receipt bundle the library builds from tiles, checked by the client.
            let bundle = try TileReader(directory: out, verifierKey: key).receiptBundle(request: id)
            #expect(bundle.leafIndex == index)
            try client.verifyInclusion(of: bundle.record, at: bundle.leafIndex, key: key)
            #expect(bundle.inclusionProof == (try client.path(index, 0, size, treeSize: size)))
            _ = try ReceiptBundle.verify(json: bundle.json, verifierKey: key.description)
            // The same bundle the ledger file gives.
            #expect(bundle == (try LedgerVerifier.receiptBundle(path: ledger.path, request: id, verifierKey: key.description)))
        }
    }

    @Test("past 65,536 leaves: level-2 tiles, and an incremental rewrite leaves full tiles alone")
    func largeAndIncremental() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "tiles.example")
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: signer)
        ledger.grow(to: 65_535, receiptsAt: [3, 40_000, 65_534])
        let out = directory.file("tiles")
        let first = try writeTiles(ledger, out)
        let firstNote = readFile(out + "/checkpoint")
        #expect(filesUnder(out) == SpecTileClient.expectedFiles(treeSize: 65_535))
        #expect(first.written.contains("tile/0/255.p/255"))
        #expect(first.written.contains("tile/1/000.p/255"))
        let fullTile = out + "/tile/0/254"
        let fullInode = inode(fullTile)
        let fullModified = try FileManager.default.attributesOfItem(atPath: fullTile)[.modificationDate] as? Date

        ledger.grow(to: 65_538, receiptsAt: [65_536])
        let second = try writeTiles(ledger, out)
        // Only the new right edge: the full tiles that now complete, the new partials, the checkpoint.
        #expect(Set(second.written) == [
            "tile/0/255", "tile/entries/255", "tile/1/000", "tile/0/256.p/2", "tile/entries/256.p/2", "tile/2/000.p/1", "checkpoint",
        ])
        #expect(second.unchanged == 255 * 2)
        // Partials whose full tile now exists were removed; a reader of the old checkpoint
        // falls back to the full tile's prefix.
        #expect(Set(second.removed) == ["tile/0/255.p/255", "tile/entries/255.p/255", "tile/1/000.p/255"])
        #expect(filesUnder(out) == SpecTileClient.expectedFiles(treeSize: 65_538))
        #expect(inode(fullTile) == fullInode)
        #expect(try FileManager.default.attributesOfItem(atPath: fullTile)[.modificationDate] as? Date == fullModified)

        let client = SpecTileClient(prefix: out)
        let key = signer.verifier
        for index in [UInt64(3), 40_000, 65_534, 65_536] {
            #expect(try client.verifyInclusion(of: ledger.receiptRecords[request(index)]!, at: index, key: key) == 65_538)
        }
        let bundle = try TileReader(directory: out, verifierKey: key).receiptBundle(request: request(40_000))
        #expect(bundle.leafIndex == 40_000 && bundle.record == ledger.receiptRecords[request(40_000)])
        // The old checkpoint again: its removed partials are read from the full tiles' prefixes.
        let newNote = readFile(out + "/checkpoint")
        writeFile(out + "/checkpoint", firstNote)
        let reader = TileReader(directory: out, verifierKey: key)
        let old = try reader.checkpoint()
        #expect(old.treeSize == 65_535)
        #expect(try reader.inclusionProof(leafIndex: 65_534, checkpoint: old).entry == ledger.receiptRecords[request(65_534)])
        #expect(try reader.tile(level: 1, index: 0, width: 255) == Array(try reader.tile(level: 1, index: 0, width: 256).prefix(255)))
        writeFile(out + "/checkpoint", newNote)
    }

    @Test("consistency from the tiles: the ledger's own proof for every old size; a forged old root, a larger old size, another origin refused")
    func consistencyFromTiles() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "tiles.example")
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: signer)
        ledger.grow(to: 600)
        let out = directory.file("tiles")
        _ = try writeTiles(ledger, out)
        let reader = TileReader(directory: out, verifierKey: signer.verifier)
        let served = try reader.checkpoint()
        let size = served.treeSize
        #expect(size == 600)
        for old: UInt64 in [0, 1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 599, 600] {
            let proof = try reader.consistencyProof(from: old, to: served)
            #expect(proof == (try LedgerVerifier.consistencyProof(path: ledger.path, firstSize: old, secondSize: size)), "old size \(old)")
            let root = try LedgerVerifier.rootHash(path: ledger.path, size: old)
            #expect(MerkleProofs.verifyConsistency(firstSize: old, secondSize: size, firstRoot: root, secondRoot: served.rootHash, proof: proof))
            let trusted = SignedCheckpoint(origin: signer.name, treeSize: old, rootHash: root, keyName: signer.name, keyID: 0, signature: [])
            try reader.requireConsistency(from: trusted, to: served)
            var forged = root
            forged[0] ^= 1
            let fork = SignedCheckpoint(origin: signer.name, treeSize: old, rootHash: forged, keyName: signer.name, keyID: 0, signature: [])
            #expect(throws: TileError.ledger(.notConsistent(trustedSize: old, currentSize: size)), "old size \(old)") {
                try reader.requireConsistency(from: fork, to: served)
            }
        }
        let larger = SignedCheckpoint(origin: signer.name, treeSize: size + 1, rootHash: served.rootHash, keyName: signer.name, keyID: 0, signature: [])
        #expect(throws: TileError.ledger(.notConsistent(trustedSize: size + 1, currentSize: size))) {
            try reader.requireConsistency(from: larger, to: served)
        }
        let other = SignedCheckpoint(origin: "other.example", treeSize: size, rootHash: served.rootHash, keyName: "other.example", keyID: 0, signature: [])
        #expect(throws: TileError.self) { try reader.requireConsistency(from: other, to: served) }
        #expect(throws: TileError.invalidCoordinates(level: 0, index: size + 1, width: 0)) {
            _ = try reader.consistencyProof(from: size + 1, to: served)
        }
    }

    @Test("growing within one tile keeps the earlier checkpoint's partial tile, as the spec requires")
    func partialsOfEarlierCheckpointsStay() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        ledger.grow(to: 5, receiptsAt: [1])
        let out = directory.file("tiles")
        _ = try writeTiles(ledger, out)
        let old = String(decoding: readFile(out + "/checkpoint"), as: UTF8.self)
        ledger.grow(to: 9)
        let report = try writeTiles(ledger, out)
        #expect(Set(report.written) == ["tile/0/000.p/9", "tile/entries/000.p/9", "checkpoint"])
        #expect(FileManager.default.fileExists(atPath: out + "/tile/0/000.p/5"))
        // The old checkpoint is still served by its own partial tiles.
        let size = try SpecTileClient(prefix: out).verifyInclusion(
            of: readEntry(out, bundle: "tile/entries/000.p/9", index: 1), at: 1, key: ledger.signer.verifier)
        #expect(size == 9)
        writeFile(out + "/checkpoint", Array(old.utf8))
        #expect(try SpecTileClient(prefix: out).verifyInclusion(
            of: readEntry(out, bundle: "tile/entries/000.p/5", index: 1), at: 1, key: ledger.signer.verifier) == 5)
        // Written again for the same checkpoint: only the checkpoint file, put back.
        let again = try writeTiles(ledger, out)
        #expect(again.written == ["checkpoint"] && again.removed.isEmpty && again.unchanged == 0)
        #expect(try writeTiles(ledger, out).written.isEmpty)
    }

    @Test("key rotations: the reader follows the chain in the entries; the bundle is the ledger's")
    func keyRotationChain() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let (_, pinned, configuration) = try evolvingKey(signer, in: directory, checkpointsPerEpoch: 1)
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
        for n in 0..<40 as Range<UInt64> {
            for record in sampleRecords(request(n)) { _ = try ledger.append(record) }
            if n % 10 == 9 { _ = try ledger.checkpoint() }
        }
        try ledger.flush()
        try ledger.close()
        let key = try VerifierKey(pinned)
        let out = directory.file("tiles")
        _ = try LedgerTiles.write(ledgerPath: path, to: out, verifierKey: key, syncs: false)
        let reader = TileReader(directory: out, verifierKey: key)
        let checkpoint = try reader.checkpoint()
        #expect(checkpoint.treeSize > 200)
        let bundle = try reader.receiptBundle(request: request(7))
        #expect(!bundle.keyRotations.isEmpty)
        #expect(try ReceiptBundle.verify(json: bundle.json, verifierKey: pinned).keyEpoch > 0)
        #expect(bundle == (try LedgerVerifier.receiptBundle(path: path, request: request(7), verifierKey: pinned)))
        // Without the key, the rotation chain names the newest checkpoint's key: same note.
        let again = directory.file("tiles-nokey")
        _ = try LedgerTiles.write(ledgerPath: path, to: again, verifierKey: nil, syncs: false)
        #expect(readFile(again + "/checkpoint") == readFile(out + "/checkpoint"))
    }

    @Test("without a verifier key: the epoch-0 key ID comes from the previous run's checkpoint, or the key is asked for")
    func withoutVerifierKey() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        ledger.grow(to: 10)
        let out = directory.file("tiles")
        #expect(throws: TileError.verifierKeyRequired) { _ = try LedgerTiles.write(ledgerPath: ledger.path, to: out, verifierKey: nil, syncs: false) }
        _ = try writeTiles(ledger, out)
        ledger.grow(to: 300)
        let report = try LedgerTiles.write(ledgerPath: ledger.path, to: out, verifierKey: nil, syncs: false)
        #expect(report.treeSize == 300)
        #expect(try TileReader(directory: out, verifierKey: ledger.signer.verifier).checkpoint().treeSize == 300)
    }

    @Test("a cosigned checkpoint is read; the bundle carries the log's own signature line only")
    func cosignedCheckpoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        ledger.grow(to: 20, receiptsAt: [4])
        let out = directory.file("tiles")
        _ = try writeTiles(ledger, out)
        let note = String(decoding: readFile(out + "/checkpoint"), as: UTF8.self)
        // A witness's signature line after the log's (any key: the reader ignores it).
        let witness = try SigningKey.generate(name: "witness.example")
        let body = Array(note.components(separatedBy: "\n\n")[0].utf8) + [0x0A]
        let cosigned = note + signatureLine(keyName: witness.name, keyID: witness.keyID, signature: witness.sign(body))
        writeFile(out + "/checkpoint", Array(cosigned.utf8))
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        #expect(try reader.checkpoint().treeSize == 20)
        let bundle = try reader.receiptBundle(request: request(4))
        #expect(bundle.checkpoint == note)
        _ = try ReceiptBundle.verify(json: bundle.json, verifierKey: ledger.signer.verifierKey)
    }

    @Test("a ledger without a checkpoint has nothing to publish") func noCheckpoint() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        ledger.fill(to: 3)
        writeFile(ledger.path, ledger.bytes)
        #expect(throws: TileError.noCheckpoint) { _ = try writeTiles(ledger, directory.file("tiles")) }
    }
}

/// Entry `index` of the bundle file at `bundle` (test-side parsing, for the client).
private func readEntry(_ out: String, bundle: String, index: Int) -> [UInt8] {
    let bytes = readFile(out + "/" + bundle)
    var offset = 0
    for _ in 0..<index { offset += 2 + (Int(bytes[offset]) << 8 | Int(bytes[offset + 1])) }
    let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
    return Array(bytes[(offset + 2)..<(offset + 2 + length)])
}

@Suite("Tiles under attack: damaged, missing or foreign files are typed errors")
struct TileAttackTests {
    /// A ledger of 600 leaves with a receipt at 300, published.
    static func published() throws -> (TemporaryDirectory, SyntheticLedger, String) {
        let directory = TemporaryDirectory()
        var ledger = SyntheticLedger(path: directory.file("ledger.zdr"), signer: try SigningKey.generate(name: "tiles.example"))
        ledger.grow(to: 600, receiptsAt: [300])
        let out = directory.file("tiles")
        _ = try writeTiles(ledger, out)
        return (directory, ledger, out)
    }

    @Test("a truncated tile") func truncatedTile() throws {
        let (directory, ledger, out) = try Self.published()
        defer { directory.cleanup() }
        let tile = out + "/tile/0/001"
        writeFile(tile, Array(readFile(tile).dropLast(7)))
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        #expect(throws: TileError.wrongSize(path: "tile/0/001", expected: 8192, actual: 8185)) {
            _ = try reader.receiptBundle(request: request(300))
        }
        #expect(throws: TileError.wrongSize(path: "tile/0/001", expected: 8192, actual: 8185)) {
            _ = try reader.tile(level: 0, index: 1, width: 256)
        }
        let record = try LedgerVerifier.receiptBundle(path: ledger.path, request: request(300), verifierKey: ledger.signer.verifierKey).record
        #expect(throws: SpecReaderError.self) { try SpecTileClient(prefix: out).verifyInclusion(of: record, at: 300, key: ledger.signer.verifier) }
    }

    @Test("a tile with one flipped byte") func flippedByte() throws {
        let (directory, ledger, out) = try Self.published()
        defer { directory.cleanup() }
        let tile = out + "/tile/0/001"
        var bytes = readFile(tile)
        bytes[(300 - 256) * 32 + 5] ^= 0x01  // the receipt's own leaf hash
        writeFile(tile, bytes)
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        // The checkpoint's root comes from the level-1 tile, which is intact: only what a proof
        // uses is fetched, and checked there.
        #expect(try reader.checkpoint().treeSize == 600)
        #expect(throws: TileError.entryMismatch(leafIndex: 300)) { _ = try reader.receiptBundle(request: request(300)) }
        // A sibling's hash flipped instead: the proof no longer reaches the root.
        bytes[(300 - 256) * 32 + 5] ^= 0x01
        bytes[(301 - 256) * 32] ^= 0x80
        writeFile(tile, bytes)
        #expect(throws: TileError.rootMismatch(treeSize: 600)) { _ = try reader.receiptBundle(request: request(300)) }
        // A flipped byte in the level-1 tile: the checkpoint's root no longer comes out.
        bytes[(301 - 256) * 32] ^= 0x80
        writeFile(tile, bytes)
        let upper = out + "/tile/1/000.p/2"
        var upperBytes = readFile(upper)
        upperBytes[40] ^= 0x04
        writeFile(upper, upperBytes)
        #expect(throws: TileError.rootMismatch(treeSize: 600)) { _ = try reader.checkpoint() }
        let client = SpecTileClient(prefix: out)
        #expect(try client.treeRoot(treeSize: 600) != (try client.checkpoint(key: ledger.signer.verifier)).root)
    }

    @Test("a checkpoint of a different tree") func checkpointOfAnotherTree() throws {
        let (directory, ledger, out) = try Self.published()
        defer { directory.cleanup() }
        // The same log grown further, its new checkpoint put over the old tiles.
        var grown = ledger
        grown.grow(to: 700)
        let other = directory.file("tiles-grown")
        _ = try writeTiles(grown, other)
        writeFile(out + "/checkpoint", readFile(other + "/checkpoint"))
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        #expect(throws: TileError.missing(path: "tile/0/002.p/188")) { _ = try reader.checkpoint() }
        #expect(throws: TileError.missing(path: "tile/entries/002.p/188")) { _ = try reader.receiptBundle(request: request(300)) }
        // Another log under the same key, same size: the tiles do not hash to its root.
        var foreign = SyntheticLedger(path: directory.file("foreign.zdr"), signer: ledger.signer)
        foreign.grow(to: 600, receiptsAt: [299])
        let foreignOut = directory.file("tiles-foreign")
        _ = try writeTiles(foreign, foreignOut)
        writeFile(out + "/checkpoint", readFile(foreignOut + "/checkpoint"))
        #expect(throws: TileError.rootMismatch(treeSize: 600)) { _ = try reader.checkpoint() }
        #expect(throws: TileError.rootMismatch(treeSize: 600)) { _ = try reader.receiptBundle(request: request(300)) }
        // And the writer will not publish that other log over these tiles.
        #expect(throws: TileError.existingTileDiffers(path: "tile/entries/001")) { _ = try writeTiles(foreign, out) }
        // A checkpoint under another key.
        let stranger = try SigningKey.generate(name: "tiles.example")
        var strangers = SyntheticLedger(path: directory.file("stranger.zdr"), signer: stranger)
        strangers.grow(to: 600)
        let strangerOut = directory.file("tiles-stranger")
        _ = try writeTiles(strangers, strangerOut)
        writeFile(out + "/checkpoint", readFile(strangerOut + "/checkpoint"))
        #expect(throws: TileError.ledger(.bundleInvalid(.checkpointSignatureInvalid))) { _ = try reader.checkpoint() }
    }

    @Test("a missing entry bundle, a malformed one, a missing checkpoint") func missingFiles() throws {
        let (directory, ledger, out) = try Self.published()
        defer { directory.cleanup() }
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        let bundle = out + "/tile/entries/001"
        let saved = readFile(bundle)
        try FileManager.default.removeItem(atPath: bundle)
        #expect(throws: TileError.missing(path: "tile/entries/001")) { _ = try reader.receiptBundle(request: request(300)) }
        writeFile(bundle, Array(saved.dropLast(1)))
        #expect(throws: TileError.malformedEntryBundle(path: "tile/entries/001")) { _ = try reader.receiptBundle(request: request(300)) }
        writeFile(bundle, saved + [0, 1, 0xAA])
        #expect(throws: TileError.malformedEntryBundle(path: "tile/entries/001")) { _ = try reader.entryBundle(index: 1, width: 256) }
        writeFile(bundle, saved)
        #expect(try reader.receiptBundle(request: request(300)).leafIndex == 300)
        #expect(throws: TileError.requestNotFound) { _ = try reader.receiptBundle(request: request(301)) }
        try FileManager.default.removeItem(atPath: out + "/checkpoint")
        #expect(throws: TileError.missing(path: "checkpoint")) { _ = try reader.checkpoint() }
    }

    @Test("coordinates the spec does not allow") func badCoordinates() throws {
        let (directory, ledger, out) = try Self.published()
        defer { directory.cleanup() }
        let reader = TileReader(directory: out, verifierKey: ledger.signer.verifier)
        #expect(throws: TileError.invalidCoordinates(level: 64, index: 0, width: 256)) { _ = try reader.tile(level: 64, index: 0, width: 256) }
        #expect(throws: TileError.invalidCoordinates(level: 0, index: 0, width: 0)) { _ = try reader.tile(level: 0, index: 0, width: 0) }
        #expect(throws: TileError.invalidCoordinates(level: 0, index: 0, width: 257)) { _ = try reader.entryBundle(index: 0, width: 257) }
        #expect(throws: TileError.missing(path: "tile/0/x001/000")) { _ = try reader.tile(level: 0, index: 1000, width: 256) }
        // A directory where a tile should be is not a panic either.
        try FileManager.default.createDirectory(atPath: out + "/tile/3/000", withIntermediateDirectories: true)
        #expect(throws: (any Error).self) { _ = try reader.tile(level: 3, index: 0, width: 256) }
    }
}
