import Foundation
@testable import RetentionLedger
import RetentionVocabulary
import Testing

/// A checkpoint is of the log its verifier key names. The key alone does not say so: a log key
/// may sign a note with another origin line (a key shared by two logs, an operator presenting a
/// checkpoint of another log), and that note must not pass as this log's.
@Suite("A checkpoint signed by the log's key but naming another origin is refused")
struct OriginTests {
    private static let otherOrigin = "other.example/log"

    /// The ledger's checkpoint re-signed by the same key under `otherOrigin`.
    private static func foreignNote(for note: String, signer: SigningKey) throws -> String {
        let parsed = try SignedCheckpoint.parseUnverified(note: note)
        let body = checkpointBody(origin: otherOrigin, treeSize: parsed.treeSize, rootHash: parsed.rootHash)
        return SignedCheckpoint(
            origin: otherOrigin, treeSize: parsed.treeSize, rootHash: parsed.rootHash, keyName: signer.name,
            keyID: signer.verifier.keyID, signature: signer.sign(body)).noteText
    }

    private static func ledgerWithOneReceipt(_ directory: TemporaryDirectory) throws -> (path: String, signer: SigningKey, bundle: ReceiptBundle) {
        let path = directory.file("l")
        let signer = try SigningKey.generate(name: "ledger.example/origin")
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        _ = try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        _ = try ledger.checkpoint()
        let bundle = try ledger.receiptBundle(forRequest: request(1))
        try ledger.close()
        return (path, signer, bundle)
    }

    @Test("a bundle: refused by default (the key's name is the origin), accepted only when that origin is asked for")
    func bundleOrigin() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (_, signer, bundle) = try Self.ledgerWithOneReceipt(directory)
        #expect(try bundle.verify(verifierKey: signer.verifier).receipt.requestID == request(1))
        var foreign = bundle
        foreign.checkpoint = try Self.foreignNote(for: bundle.checkpoint, signer: signer)
        // The signature itself is good: only the origin is wrong.
        #expect((try? SignedCheckpoint.open(note: foreign.checkpoint, verifierKey: signer.verifier)) != nil)
        #expect(throws: LedgerError.bundleInvalid(.originMismatch)) { try foreign.verify(verifierKey: signer.verifier) }
        #expect(try foreign.verify(verifierKey: signer.verifier, origin: Self.otherOrigin).receipt.requestID == request(1))
    }

    @Test("tiles: a served checkpoint naming another origin is refused, for the checkpoint and for a bundle")
    func tilesOrigin() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (path, signer, _) = try Self.ledgerWithOneReceipt(directory)
        let tiles = directory.file("tiles")
        _ = try LedgerTiles.write(ledgerPath: path, to: tiles, verifierKey: signer.verifier)
        let reader = TileReader(directory: tiles, verifierKey: signer.verifier)
        #expect(try reader.receiptBundle(request: request(1)).leafIndex == 0)
        let checkpointPath = tiles + "/" + TilePath.checkpoint
        let served = try String(contentsOfFile: checkpointPath, encoding: .utf8)
        try Self.foreignNote(for: served, signer: signer).write(toFile: checkpointPath, atomically: true, encoding: .utf8)
        #expect(throws: TileError.ledger(.bundleInvalid(.originMismatch))) { _ = try reader.receiptBundle(request: request(1)) }
        #expect(throws: TileError.ledger(.bundleInvalid(.originMismatch))) { _ = try reader.checkpoint() }
    }
}
