import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

/// `zdr ledger tiles` and `zdr ledger prove --tiles`: the ledger published as C2SP tlog-tiles
/// and a receipt bundle rebuilt from the directory alone.
@Suite("zdr ledger tiles and prove --tiles") struct LedgerTilesCommandTests {
    @Test("tiles, then a bundle from the tiles that check-receipt accepts and the ledger agrees with")
    func tilesThenProveFromTiles() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        let write = try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath])
        #expect(write.status == 0)
        #expect(write.out.contains("wrote tile/0/000.p/9\n"))
        #expect(write.out.contains("wrote tile/entries/000.p/9\n"))
        #expect(write.out.contains("wrote checkpoint\n"))
        #expect(write.out.contains("tree size 9"))
        #expect(FileManager.default.fileExists(atPath: tiles + "/checkpoint"))

        let id = fixture.requests[1].description
        let bundle = fixture.path("from-tiles.json")
        let prove = try ZDR.run(["ledger", "prove", "--tiles", tiles, "--request", id, "--key", fixture.verifierKey, "--out", bundle])
        #expect(prove.status == 0, "\(prove.err)")
        let check = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--request", id, "--json"])
        #expect(check.status == 0)
        #expect(try check.json()["valid"] as? Bool == true)
        let fromLedger = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey])
        #expect(fromLedger.out == String(decoding: try Data(contentsOf: URL(fileURLWithPath: bundle)), as: UTF8.self))
    }

    @Test("incremental: a grown ledger adds only its new right edge; without --key the previous checkpoint names the key")
    func incremental() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let again = try ZDR.run(["ledger", "tiles", "--out", tiles, fixture.ledgerPath])
        #expect(again.status == 0)
        #expect(!again.out.contains("wrote"))
        let grown = try LedgerFixture.append(requests: 90, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let update = try ZDR.run(["ledger", "tiles", "--out", tiles, fixture.ledgerPath])
        #expect(update.status == 0, "\(update.err)")
        // 9 + 1 + 270 = 280 records under the new checkpoint: one full tile, partials of 24.
        #expect(update.out.contains("wrote tile/0/000\n"))
        #expect(update.out.contains("wrote tile/entries/000\n"))
        #expect(update.out.contains("wrote tile/0/001.p/24\n"))
        #expect(update.out.contains("wrote tile/1/000.p/1\n"))
        #expect(update.out.contains("removed tile/0/000.p/9\n"))
        #expect(try String(contentsOfFile: tiles + "/checkpoint", encoding: .utf8) == grown.checkpoint)
        let prove = try ZDR.run(["ledger", "prove", "--tiles", tiles, "--request", grown.requests[80].description,
                                 "--key", fixture.verifierKey])
        #expect(prove.status == 0)
    }

    @Test("exit codes: no key for a new directory, damaged tiles, unknown request, no checkpoint")
    func exitCodes() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        let noKey = try ZDR.run(["ledger", "tiles", "--out", tiles, fixture.ledgerPath])
        #expect(noKey.status == 64)
        #expect(noKey.err.contains("pass --key"))
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let id = fixture.requests[0].description
        #expect(try ZDR.run(["ledger", "prove", "--tiles", tiles, "--request", RequestID.random().description,
                             "--key", fixture.verifierKey]).status == 1)
        // A truncated level-0 tile: a finding, and nothing on standard output.
        let tile = tiles + "/tile/0/000.p/9"
        let saved = try Data(contentsOf: URL(fileURLWithPath: tile))
        try saved.dropLast(3).write(to: URL(fileURLWithPath: tile))
        let damaged = try ZDR.run(["ledger", "prove", "--tiles", tiles, "--request", id, "--key", fixture.verifierKey])
        #expect(damaged.status == 1)
        #expect(damaged.out.isEmpty)
        #expect(damaged.err.contains("tile/0/000.p/9"))
        // The writer will not overwrite a tile that differs.
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 1)
        // Not a tiles directory at all: a failure.
        let nothing = try ZDR.run(["ledger", "prove", "--tiles", fixture.path("nowhere"), "--request", id, "--key", fixture.verifierKey])
        #expect(nothing.status == 2)
        // A ledger whose checkpoint covers no record: the checkpoint alone, no tile.
        let empty = fixture.path("empty.ledger")
        try LedgerFixture.append(requests: 0, to: empty, keyPath: fixture.keyPath)
        let bare = try ZDR.run(["ledger", "tiles", "--out", fixture.path("tiles-empty"), "--key", fixture.verifierKey, empty])
        #expect(bare.status == 0)
        #expect(bare.out.hasPrefix("wrote checkpoint\n"))
        #expect(bare.out.contains("tree size 0;"))
        #expect(!bare.out.contains("tile/"))
    }
}
