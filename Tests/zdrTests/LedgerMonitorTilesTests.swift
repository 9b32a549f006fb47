// `zdr ledger monitor --tiles DIR|URL` and `--fleet FILE`: the monitor over C2SP tlog-tiles. A
// rolled-back log is tiles written from an older copy of the ledger into a fresh directory; a
// forked one is another ledger under the same key; both must be exit 1 with the state unchanged.

import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

@Suite("zdr ledger monitor --tiles and --fleet")
struct LedgerMonitorTilesTests {
    private func tiles(_ ledger: String, into directory: String, key: String) throws {
        let run = try ZDR.run(["ledger", "tiles", "--out", directory, "--key", key, ledger])
        try #require(run.status == 0, "\(run.err)")
    }

    private func monitor(_ location: String, state: String, key: String, _ extra: [String] = []) throws -> ZDRRun {
        try ZDR.run(["ledger", "monitor", "--tiles", location, "--state", state, "--key", key] + extra)
    }

    private func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("a tiles directory: first run trusts, a grown log passes and advances the state, a rolled-back one is exit 1 with the state unchanged")
    func directoryGrowsThenRollsBack() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let state = fixture.path("monitor.state")
        let served = fixture.path("tiles")
        let older = fixture.path("older.ledger")
        try tiles(fixture.ledgerPath, into: served, key: fixture.verifierKey)
        try FileManager.default.copyItem(atPath: fixture.ledgerPath, toPath: older)

        let first = try monitor(served, state: state, key: fixture.verifierKey, ["--json"])
        #expect(first.status == 0, "\(first.err)")
        let firstObject = try first.json()
        #expect(firstObject["firstRun"] as? Bool == true)
        let firstSize = try #require(firstObject["treeSize"] as? Int)
        #expect(FileManager.default.fileExists(atPath: state))

        // The log grows (past a full tile of 256 entries, so the proof crosses tiles).
        try LedgerFixture.append(requests: 90, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        try tiles(fixture.ledgerPath, into: served, key: fixture.verifierKey)
        let grown = try monitor(served, state: state, key: fixture.verifierKey)
        #expect(grown.status == 0, "\(grown.err)")
        #expect(grown.out.contains("consistent"))
        #expect(grown.out.contains("size \(firstSize) →"))
        let kept = try SignedCheckpoint.parseUnverified(note: String(decoding: try contents(state), as: UTF8.self))
        #expect(kept.treeSize > 256)
        let again = try monitor(served, state: state, key: fixture.verifierKey, ["--json"])
        #expect(try again.json()["previousTreeSize"] as? Int == Int(kept.treeSize))

        // Rolled back: the tiles of the older copy, served from a fresh directory.
        let rolledBack = fixture.path("tiles-rolled-back")
        try tiles(older, into: rolledBack, key: fixture.verifierKey)
        let before = try contents(state)
        let rollback = try monitor(rolledBack, state: state, key: fixture.verifierKey)
        #expect(rollback.status == 1)
        #expect(rollback.out.contains("NOT CONSISTENT"))
        #expect(rollback.out.contains("rolled back"))
        #expect(rollback.out.contains("checkpoint seen last time"))
        #expect(rollback.out.contains("\(kept.treeSize)"))
        #expect(rollback.out.contains("the checkpoint the log serves now"))
        #expect(try contents(state) == before)
        let rollbackJSON = try monitor(rolledBack, state: state, key: fixture.verifierKey, ["--json"])
        #expect(rollbackJSON.status == 1)
        let object = try rollbackJSON.json()
        #expect((object["problem"] as? [String: Any])?["kind"] as? String == "rollback")
        #expect(object["trustedCheckpoint"] as? String != nil)
        #expect(object["servedCheckpoint"] as? String != nil)
        #expect(try contents(state) == before)
    }

    @Test("a fork: another ledger under the same key, of the same size, is exit 1 with the state unchanged")
    func fork() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let state = fixture.path("monitor.state")
        let served = fixture.path("tiles")
        try tiles(fixture.ledgerPath, into: served, key: fixture.verifierKey)
        #expect(try monitor(served, state: state, key: fixture.verifierKey).status == 0)
        let before = try contents(state)

        let forkLedger = fixture.path("fork.ledger")
        try LedgerFixture.append(requests: 3, to: forkLedger, keyPath: fixture.keyPath)
        let forkTiles = fixture.path("tiles-fork")
        try tiles(forkLedger, into: forkTiles, key: fixture.verifierKey)
        let run = try monitor(forkTiles, state: state, key: fixture.verifierKey, ["--json"])
        #expect(run.status == 1)
        let object = try run.json()
        #expect(object["previousTreeSize"] as? Int == object["treeSize"] as? Int, "not the same size: not the fork asked for")
        #expect((object["problem"] as? [String: Any])?["kind"] as? String == "fork")
        #expect(try contents(state) == before)
        let human = try monitor(forkTiles, state: state, key: fixture.verifierKey)
        #expect(human.status == 1)
        #expect(human.out.contains("forked"))
        // A longer history under the same key does not extend it either: the consistency proof
        // from the tiles fails against the trusted root.
        let longerLedger = fixture.path("longer.ledger")
        try LedgerFixture.append(requests: 100, to: longerLedger, keyPath: fixture.keyPath)
        let longerTiles = fixture.path("tiles-longer")
        try tiles(longerLedger, into: longerTiles, key: fixture.verifierKey)
        let longer = try monitor(longerTiles, state: state, key: fixture.verifierKey, ["--json"])
        #expect(longer.status == 1)
        let longerObject = try longer.json()
        #expect((longerObject["treeSize"] as? Int ?? 0) > (longerObject["previousTreeSize"] as? Int ?? .max))
        #expect((longerObject["problem"] as? [String: Any])?["kind"] as? String == "fork")
        #expect(try contents(state) == before)
        // The right log still passes afterwards.
        #expect(try monitor(served, state: state, key: fixture.verifierKey).status == 0)
    }

    @Test("--witness and --quorum: the served checkpoint's cosignatures count; too few is exit 1 and the state stays")
    func witnessQuorum() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let served = fixture.path("tiles")
        try tiles(fixture.ledgerPath, into: served, key: fixture.verifierKey)
        let log = try VerifierKey(fixture.verifierKey)
        let first = try TestWitness(name: "w1.example/monitor", logs: [log])
        let second = try TestWitness(name: "w2.example/monitor", logs: [log])
        let checkpointPath = served + "/checkpoint"
        let note = String(decoding: try contents(checkpointPath), as: UTF8.self)
        let request = try AddCheckpointRequest(oldSize: 0, consistencyProof: [], checkpointNote: note)
        let response = first.handle(request.body)
        let outcome = AddCheckpointOutcome.interpret(
            status: response.status, contentType: response.contentType, body: response.body,
            checkpoint: try SignedCheckpoint.open(note: note, verifierKey: log), witness: first.verifierKey)
        guard case .cosigned(let cosignatures) = outcome else {
            Issue.record("not cosigned: \(outcome)")
            return
        }
        try CosignedCheckpoint.open(note: note, verifierKey: log).adding(cosignatures).write(toFile: checkpointPath, atomically: true, encoding: .utf8)

        let state = fixture.path("monitor.state")
        let both = ["--witness", first.verifierKey.description, "--witness", second.verifierKey.description]
        let short = try monitor(served, state: state, key: fixture.verifierKey, both + ["--json"])
        #expect(short.status == 1)
        #expect((try short.json()["problem"] as? [String: Any])?["kind"] as? String == "quorum")
        #expect(!FileManager.default.fileExists(atPath: state))
        let one = try monitor(served, state: state, key: fixture.verifierKey, both + ["--quorum", "1"])
        #expect(one.status == 0, "\(one.out)\(one.err)")
        #expect(one.out.contains("cosigned by 1 of 2 pinned witnesses (quorum 1)"))
        // The state keeps the log's own note, not the witnesses' lines.
        let kept = String(decoding: try contents(state), as: UTF8.self)
        #expect(!kept.contains("w1.example/monitor"))
        #expect(kept.hasPrefix(String(note.prefix(while: { $0 != "\n" }))))
    }

    @Test("a fleet file with a healthy log and a rolled-back one: both rows, exit 1; --json parses")
    func fleet() throws {
        let healthy = try LedgerFixture(name: "a.example/zdr")
        defer { healthy.cleanup() }
        let other = try LedgerFixture(name: "b.example/zdr")
        defer { other.cleanup() }
        let healthyTiles = healthy.path("tiles")
        try tiles(healthy.ledgerPath, into: healthyTiles, key: healthy.verifierKey)
        let older = other.path("older.ledger")
        try FileManager.default.copyItem(atPath: other.ledgerPath, toPath: older)
        try LedgerFixture.append(requests: 5, to: other.ledgerPath, keyPath: other.keyPath)
        let otherTiles = other.path("tiles")
        try tiles(other.ledgerPath, into: otherTiles, key: other.verifierKey)

        let stateDirectory = healthy.path("fleet-state")
        let fleet = healthy.path("fleet.txt")
        func writeFleet(_ otherLocation: String) throws {
            try """
                # the fleet: origin verifier-key tiles-location
                a.example/zdr \(healthy.verifierKey) \(healthyTiles)

                b.example/zdr\t\(other.verifierKey)   \(otherLocation)
                """.write(toFile: fleet, atomically: true, encoding: .utf8)
        }
        try writeFleet(otherTiles)
        let first = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory])
        #expect(first.status == 0, "\(first.out)\(first.err)")
        #expect(first.out.contains("a.example/zdr") && first.out.contains("b.example/zdr"))
        let stateFiles = try FileManager.default.contentsOfDirectory(atPath: stateDirectory).sorted()
        #expect(stateFiles.count == 4)
        #expect(stateFiles.allSatisfy { !$0.contains("/") && ($0.hasSuffix(".checkpoint") || $0.hasSuffix(".tally")) })
        #expect(stateFiles.filter { $0.hasSuffix(".tally") }.map { $0.dropLast(".tally".count) }
            == stateFiles.filter { $0.hasSuffix(".checkpoint") }.map { $0.dropLast(".checkpoint".count) })
        let otherState = try #require(stateFiles.first { $0.hasPrefix("b.example_zdr-") })
        let otherBefore = try contents(stateDirectory + "/" + otherState)

        // The healthy log grows; the other is served rolled back, from a fresh directory.
        try LedgerFixture.append(requests: 2, to: healthy.ledgerPath, keyPath: healthy.keyPath)
        try tiles(healthy.ledgerPath, into: healthyTiles, key: healthy.verifierKey)
        let rolledBack = other.path("tiles-rolled-back")
        try tiles(older, into: rolledBack, key: other.verifierKey)
        try writeFleet(rolledBack)

        let table = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory])
        #expect(table.status == 1)
        let lines = table.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ORIGIN") == true)
        let healthyRow = lines.first { $0.hasPrefix("a.example/zdr ") }
        let otherRow = lines.first { $0.hasPrefix("b.example/zdr ") }
        #expect(healthyRow?.contains("consistent") == true, "\(table.out)")
        #expect(otherRow?.contains("ROLLBACK") == true, "\(table.out)")
        #expect(table.out.contains("recordedAt"))
        #expect(try contents(stateDirectory + "/" + otherState) == otherBefore)

        let json = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory, "--json"])
        #expect(json.status == 1)
        let object = try json.json()
        #expect(object["consistent"] as? Bool == false)
        let logs = try #require(object["logs"] as? [[String: Any]])
        #expect(logs.count == 2)
        #expect(logs.first { $0["origin"] as? String == "a.example/zdr" }?["status"] as? String == "consistent")
        let otherLog = logs.first { $0["origin"] as? String == "b.example/zdr" }
        #expect(otherLog?["status"] as? String == "finding")
        #expect((otherLog?["problem"] as? [String: Any])?["kind"] as? String == "rollback")
        #expect((otherLog?["ageSeconds"] as? Int).map { $0 >= 0 && $0 < 3600 } == true)
        #expect(try contents(stateDirectory + "/" + otherState) == otherBefore)

        // The other log served as it was: consistent again, exit 0.
        try writeFleet(otherTiles)
        #expect(try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory]).status == 0)
    }

    @Test("a fleet log that cannot be read is exit 2; with a rolled-back or forked log beside it, exit 1 (a finding outranks a failure)")
    func fleetFailureAndPrecedence() throws {
        let healthy = try LedgerFixture(name: "a.example/zdr")
        defer { healthy.cleanup() }
        let healthyTiles = healthy.path("tiles")
        try tiles(healthy.ledgerPath, into: healthyTiles, key: healthy.verifierKey)
        let absent = try LedgerFixture(name: "c.example/zdr")
        defer { absent.cleanup() }
        let fleet = healthy.path("fleet.txt")
        let stateDirectory = healthy.path("state")
        let lines = "a.example/zdr \(healthy.verifierKey) \(healthyTiles)\nc.example/zdr \(absent.verifierKey) \(absent.path("no-tiles-here"))\n"
        try lines.write(toFile: fleet, atomically: true, encoding: .utf8)
        let run = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory, "--json"])
        #expect(run.status == 2, "\(run.out)\(run.err)")
        let logs = try #require(try run.json()["logs"] as? [[String: Any]])
        #expect(logs.map { $0["status"] as? String } == ["first_run", "failure"])
        #expect((logs.last?["problem"] as? [String: Any])?["kind"] as? String == "unavailable")

        // The healthy log replaced by a fork under its key: now a finding beside the failure.
        let forkLedger = healthy.path("fork.ledger")
        try LedgerFixture.append(requests: 3, to: forkLedger, keyPath: healthy.keyPath)
        let forkTiles = healthy.path("tiles-fork")
        try tiles(forkLedger, into: forkTiles, key: healthy.verifierKey)
        try lines.replacingOccurrences(of: healthyTiles, with: forkTiles).write(toFile: fleet, atomically: true, encoding: .utf8)
        let table = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", stateDirectory])
        #expect(table.status == 1)
        #expect(table.out.split(separator: "\n").contains { $0.hasPrefix("a.example/zdr ") && $0.contains("FORK") }, "\(table.out)")
        #expect(table.out.split(separator: "\n").contains { $0.hasPrefix("c.example/zdr ") && $0.contains("UNAVAILABLE") }, "\(table.out)")
    }

    /// Discard receipts and distinct executable hashes among the ledger's first `size` records.
    private func expectedCounts(_ ledger: String, size: Int) throws -> (receipts: Int, identities: [String]) {
        var receipts = 0
        var identities: [String] = []
        for entry in try LedgerVerifier.entries(path: ledger).prefix(size) {
            switch entry.record.body {
            case .discardReceipt: receipts += 1
            case .softwareIdentity(let identity):
                let hex = identity.executableSHA256.map { String(format: "%02x", $0) }.joined()
                if !identities.contains(hex) { identities.append(hex) }
            default: break
            }
        }
        return (receipts, identities)
    }

    private func identity(_ executable: UInt8) -> SoftwareIdentityRecord {
        SoftwareIdentityRecord(
            executableSHA256: [UInt8](repeating: executable, count: 32), policySHA256: [UInt8](repeating: 0xB0, count: 32),
            configurationSHA256: [UInt8](repeating: 0xC0, count: 32), version: SoftwareVersion(major: 1, minor: 2, patch: 3))
    }

    /// A log of more than one entry bundle (two identities), its tiles, and a fleet file for it.
    private func countedLog() throws -> (fixture: LedgerFixture, tiles: String, fleet: String) {
        let fixture = try LedgerFixture(name: "a.example/zdr")
        try LedgerFixture.append(requests: 100, to: fixture.ledgerPath, keyPath: fixture.keyPath, identity: identity(0xA1))
        let tiles = fixture.path("tiles")
        try self.tiles(fixture.ledgerPath, into: tiles, key: fixture.verifierKey)
        let fleet = fixture.path("fleet.txt")
        try "a.example/zdr \(fixture.verifierKey) \(tiles)\n".write(toFile: fleet, atomically: true, encoding: .utf8)
        return (fixture, tiles, fleet)
    }

    private func fleetRow(_ run: ZDRRun) throws -> [String: Any] {
        try #require((try run.json()["logs"] as? [[String: Any]])?.first)
    }

    @Test("--fleet counts receipts and identities from verified entries; with --state-dir only the entries added since are read")
    func fleetCountsIncrementally() throws {
        let (fixture, tiles, fleet) = try countedLog()
        defer { fixture.cleanup() }
        let state = fixture.path("state")
        let first = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state, "--json"])
        #expect(first.status == 0, "\(first.out)\(first.err)")
        let row = try fleetRow(first)
        let size = try #require(row["treeSize"] as? Int)
        #expect(size > 256)
        let expected = try expectedCounts(fixture.ledgerPath, size: size)
        #expect(row["receipts"] as? Int == expected.receipts)
        #expect(expected.receipts >= 100)
        #expect(row["identities"] as? [String] == expected.identities)
        #expect(row["identitiesSeen"] as? Int == 1)
        #expect(row["entriesRead"] as? Int == size)
        #expect(FileManager.default.fileExists(atPath: state + "/" + (try #require(
            try FileManager.default.contentsOfDirectory(atPath: state).first { $0.hasSuffix(".tally") }))))

        // The log grows under a second binary: only the new entries are read.
        try LedgerFixture.append(requests: 4, to: fixture.ledgerPath, keyPath: fixture.keyPath, identity: identity(0xA2))
        try self.tiles(fixture.ledgerPath, into: tiles, key: fixture.verifierKey)
        let second = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state, "--json"])
        #expect(second.status == 0, "\(second.out)\(second.err)")
        let grown = try fleetRow(second)
        let newSize = try #require(grown["treeSize"] as? Int)
        let expectedGrown = try expectedCounts(fixture.ledgerPath, size: newSize)
        #expect(grown["receipts"] as? Int == expectedGrown.receipts)
        #expect(grown["identities"] as? [String] == expectedGrown.identities)
        #expect(grown["identitiesSeen"] as? Int == 2)
        #expect(grown["entriesRead"] as? Int == newSize - size)

        // Nothing new: nothing read, the same counts.
        let again = try fleetRow(try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state, "--json"]))
        #expect(again["entriesRead"] as? Int == 0)
        #expect(again["receipts"] as? Int == expectedGrown.receipts)

        // Without a state directory every entry is read; the table has the columns.
        let alone = try fleetRow(try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--json"]))
        #expect(alone["entriesRead"] as? Int == newSize)
        #expect(alone["receipts"] as? Int == expectedGrown.receipts)
        let table = try ZDR.run(["ledger", "monitor", "--fleet", fleet])
        let lines = table.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ").map(String.init) == ["ORIGIN", "SIZE", "AGE", "RECEIPTS", "IDENTITIES", "STATUS"]
            || lines.first?.contains("RECEIPTS  IDENTITIES") == true, "\(table.out)")
        let cells = try #require(lines.first { $0.hasPrefix("a.example/zdr ") }).split(separator: " ").map(String.init)
        #expect(cells.count >= 5 && cells[3] == String(expectedGrown.receipts) && cells[4] == "2", "\(table.out)")
        #expect(table.out.contains("entries read: \(newSize) (no --state-dir"))
    }

    @Test("an entry that does not hash to the verified root is never counted: a finding", arguments: [false, true])
    func fleetRefusesTamperedEntry(withState: Bool) throws {
        let (fixture, tiles, fleet) = try countedLog()
        defer { fixture.cleanup() }
        // One byte of the first bundle's first record, whose length stays: the checkpoint and
        // the hash tiles still verify, and the newest record (in the last bundle) is intact.
        let bundle = tiles + "/tile/entries/000"
        var bytes = try contents(bundle)
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        bytes[2 + length - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: bundle))
        let run = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--json"] + (withState ? ["--state-dir", fixture.path("state")] : []))
        #expect(run.status == 1, "\(run.out)\(run.err)")
        let row = try fleetRow(run)
        #expect((row["problem"] as? [String: Any])?["kind"] as? String == "verification")
        #expect(row["receipts"] is NSNull)
        if withState {
            // Nothing kept: the state is not advanced past entries that did not verify.
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path("state")).isEmpty)
        }
    }

    @Test("a tally file that is not version 1 is a failure of its row, never a reset",
          arguments: ["version", "leading zero", "no newline", "other origin", "identity count", "uppercase", "root"])
    func fleetRefusesCorruptTally(kind: String) throws {
        let (fixture, _, fleet) = try countedLog()
        defer { fixture.cleanup() }
        let state = fixture.path("state")
        #expect(try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state]).status == 0)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: state).first { $0.hasSuffix(".tally") })
        let path = state + "/" + name
        let good = try String(contentsOfFile: path, encoding: .utf8)
        let receipts = try #require(good.split(separator: "\n").first { $0.hasPrefix("receipts ") })
        let bad: String = switch kind {
        case "version": good.replacingOccurrences(of: "tally v1", with: "tally v2")
        case "leading zero": good.replacingOccurrences(of: String(receipts), with: "receipts 0" + receipts.dropFirst("receipts ".count))
        case "no newline": String(good.dropLast())
        case "other origin": good.replacingOccurrences(of: "origin a.example/zdr", with: "origin b.example/zdr")
        case "identity count": good.replacingOccurrences(of: "identities 1", with: "identities 2")
        case "uppercase": good.replacingOccurrences(of: String(repeating: "a1", count: 32), with: String(repeating: "A1", count: 32))
        default: good.replacingOccurrences(of: "\nroot ", with: "\nroot 00")
        }
        #expect(bad != good)
        try bad.write(toFile: path, atomically: true, encoding: .utf8)
        let checkpointName = try #require(try FileManager.default.contentsOfDirectory(atPath: state).first { $0.hasSuffix(".checkpoint") })
        let checkpointBefore = try contents(state + "/" + checkpointName)
        let run = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state, "--json"])
        #expect(run.status == 2, "\(run.out)\(run.err)")
        let row = try fleetRow(run)
        #expect((row["problem"] as? [String: Any])?["kind"] as? String == "state", "\(run.out)")
        #expect(((row["problem"] as? [String: Any])?["message"] as? String)?.contains(name) == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == bad)
        #expect(try contents(state + "/" + checkpointName) == checkpointBefore)
    }

    @Test("a tally whose root is not that of the served tree's first entries is a fork, nothing counted")
    func fleetRefusesForeignTally() throws {
        let (fixture, tiles, fleet) = try countedLog()
        defer { fixture.cleanup() }
        let state = fixture.path("state")
        #expect(try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state]).status == 0)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: state).first { $0.hasSuffix(".tally") })
        let good = try String(contentsOfFile: state + "/" + name, encoding: .utf8)
        let rootLine = try #require(good.split(separator: "\n").first { $0.hasPrefix("root ") })
        // Another (well-formed) root for the same size, and the log grown so entries are read.
        let forged = good.replacingOccurrences(of: String(rootLine), with: "root " + String(repeating: "0", count: 64))
        try forged.write(toFile: state + "/" + name, atomically: true, encoding: .utf8)
        try LedgerFixture.append(requests: 2, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        try self.tiles(fixture.ledgerPath, into: tiles, key: fixture.verifierKey)
        let run = try ZDR.run(["ledger", "monitor", "--fleet", fleet, "--state-dir", state, "--json"])
        #expect(run.status == 1, "\(run.out)\(run.err)")
        let row = try fleetRow(run)
        #expect((row["problem"] as? [String: Any])?["kind"] as? String == "fork")
        #expect(row["receipts"] is NSNull)
        #expect(try String(contentsOfFile: state + "/" + name, encoding: .utf8) == forged)
    }

    @Test("a malformed fleet line is a usage error naming its number", arguments: ["two fields", "bad key", "quorum", "origin"])
    func malformedFleetLine(kind: String) throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let good = "test.example/zdr \(fixture.verifierKey) \(fixture.path("tiles"))"
        let bad: String = switch kind {
        case "two fields": "test.example/zdr \(fixture.verifierKey)"
        case "bad key": "test.example/zdr test.example/zdr+0000+AAAA \(fixture.path("tiles"))"
        case "quorum": "\(good) quorum=1"
        default: "other.example/zdr \(fixture.verifierKey) \(fixture.path("tiles"))"
        }
        let fleet = fixture.path("fleet.txt")
        try "# a comment\n\n\(bad)\n\(good)\n".write(toFile: fleet, atomically: true, encoding: .utf8)
        let run = try ZDR.run(["ledger", "monitor", "--fleet", fleet])
        #expect(run.status == 64)
        #expect(run.out.isEmpty)
        #expect(run.err.contains("\(fleet) line 3:"), "\(run.err)")
    }
}

@Suite("zdr ledger monitor --tiles URL: a log served by nginx", .enabled(if: NginxServer.isAvailable || NginxServer.isRequired))
struct LedgerMonitorOverHTTPTests {
    @Test("the monitor follows a log that grows while nginx serves it, and catches it rolled back")
    func followsGrowingLog() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let served = fixture.path("tiles")
        let older = fixture.path("older.ledger")
        try FileManager.default.copyItem(atPath: fixture.ledgerPath, toPath: older)
        #expect(try ZDR.run(["ledger", "tiles", "--out", served, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let server = try NginxServer(root: served, scratch: fixture.path("nginx"))
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/"
        let state = fixture.path("monitor.state")
        let monitor = ["ledger", "monitor", "--tiles", url, "--state", state, "--key", fixture.verifierKey, "--json"]

        let first = try ZDR.run(monitor)
        #expect(first.status == 0, "\(first.err)")
        let firstSize = try #require(try first.json()["treeSize"] as? Int)
        for round in 1...2 {
            try LedgerFixture.append(requests: 60, to: fixture.ledgerPath, keyPath: fixture.keyPath)
            #expect(try ZDR.run(["ledger", "tiles", "--out", served, fixture.ledgerPath]).status == 0)
            let run = try ZDR.run(monitor)
            #expect(run.status == 0, "round \(round): \(run.out)\(run.err)")
            let object = try run.json()
            #expect(object["status"] as? String == "consistent")
            #expect((object["treeSize"] as? Int ?? 0) > (object["previousTreeSize"] as? Int ?? .max))
            #expect((object["previousTreeSize"] as? Int ?? 0) >= firstSize)
        }

        // The served directory replaced by the tiles of the older copy: rolled back, exit 1.
        let before = try Data(contentsOf: URL(fileURLWithPath: state))
        for name in try FileManager.default.contentsOfDirectory(atPath: served) {
            try FileManager.default.removeItem(atPath: served + "/" + name)
        }
        #expect(try ZDR.run(["ledger", "tiles", "--out", served, "--key", fixture.verifierKey, older]).status == 0)
        let rollback = try ZDR.run(monitor)
        #expect(rollback.status == 1)
        #expect((try rollback.json()["problem"] as? [String: Any])?["kind"] as? String == "rollback")
        #expect(try Data(contentsOf: URL(fileURLWithPath: state)) == before)
    }
}
