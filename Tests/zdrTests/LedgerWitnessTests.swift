// `zdr ledger check-receipt --witness VKEY … --quorum K` against bundles cosigned by the test
// witness (Support/TestWitness.swift, the RetentionLedgerTests file), and a forked or
// rolled-back ledger refused by the witness and then by check-receipt.

import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

@Suite("zdr ledger check-receipt with witness cosignatures")
struct LedgerWitnessTests {
    /// Sends `note` from `old` (with `proof`) to `witness`; returns its cosignatures or fails.
    private func cosign(_ witness: TestWitness, note: String, old: UInt64 = 0, proof: [[UInt8]] = [], log: VerifierKey) throws -> [Cosignature] {
        let request = try AddCheckpointRequest(oldSize: old, consistencyProof: proof, checkpointNote: note)
        let response = witness.handle(request.body)
        let outcome = AddCheckpointOutcome.interpret(
            status: response.status, contentType: response.contentType, body: response.body,
            checkpoint: try SignedCheckpoint.open(note: note, verifierKey: log), witness: witness.verifierKey)
        guard case .cosigned(let cosignatures) = outcome else {
            Issue.record("not cosigned: \(outcome)")
            return []
        }
        return cosignatures
    }

    /// Proves `request` from the fixture's ledger into `name` and returns the bundle.
    private func prove(_ fixture: LedgerFixture, _ request: RequestID, _ name: String) throws -> (path: String, bundle: ReceiptBundle) {
        let path = fixture.path(name)
        let run = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", request.description, "--key", fixture.verifierKey, "--out", path])
        try #require(run.status == 0, "\(run.err)")
        return (path, try ReceiptBundle(json: String(contentsOfFile: path, encoding: .utf8)))
    }

    private func write(_ bundle: ReceiptBundle, cosignatures: [Cosignature], key: VerifierKey, to path: String) throws {
        var cosigned = bundle
        cosigned.checkpoint = try CosignedCheckpoint.open(note: bundle.checkpoint, verifierKey: key).adding(cosignatures)
        try cosigned.json.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func check(_ path: String, _ fixture: LedgerFixture, _ extra: [String]) throws -> ZDRRun {
        try ZDR.run(["ledger", "check-receipt", path, "--key", fixture.verifierKey, "--json"] + extra)
    }

    private func fault(_ run: ZDRRun) throws -> String? {
        (try run.json()["error"] as? [String: Any])?["fault"] as? String
    }

    @Test("fewer than K valid cosignatures from the given witnesses fail; K pass")
    func quorumIsRequired() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let log = try VerifierKey(fixture.verifierKey)
        let first = try TestWitness(name: "w1.example/zdr-test", logs: [log])
        let second = try TestWitness(name: "w2.example/zdr-test", logs: [log])
        let witnesses = ["--witness", first.verifierKey.description, "--witness", second.verifierKey.description]
        let (path, bundle) = try prove(fixture, fixture.requests[0], "receipt.json")

        // No cosignature at all: a quorum of one fails, and no witness means no quorum asked.
        let none = try check(path, fixture, witnesses + ["--quorum", "1"])
        #expect(none.status == 1)
        #expect(try fault(none) == "witnessQuorumNotMet")
        #expect(try check(path, fixture, []).status == 0)

        let one = try cosign(first, note: bundle.checkpoint, log: log)
        try write(bundle, cosignatures: one, key: log, to: path)
        let quorumOne = try check(path, fixture, witnesses + ["--quorum", "1"])
        #expect(quorumOne.status == 0, "\(quorumOne.out)")
        #expect(try quorumOne.json()["cosigners"] as? [String] == ["w1.example/zdr-test"])
        // The default quorum is every given witness: one of two is not enough.
        let quorumAll = try check(path, fixture, witnesses)
        #expect(quorumAll.status == 1)
        #expect(try fault(quorumAll) == "witnessQuorumNotMet")
        // The same witness twice counts once.
        let twice = try check(path, fixture, ["--witness", first.verifierKey.description, "--witness", first.verifierKey.description,
                                              "--witness", second.verifierKey.description, "--quorum", "2"])
        #expect(twice.status == 1)
        // A bundle with cosignatures still verifies without --witness.
        #expect(try check(path, fixture, []).status == 0)

        let two = try cosign(second, note: bundle.checkpoint, log: log)
        try write(bundle, cosignatures: one + two, key: log, to: path)
        let quorumTwo = try check(path, fixture, witnesses + ["--quorum", "2"])
        #expect(quorumTwo.status == 0, "\(quorumTwo.out)")
        #expect(try quorumTwo.json()["cosigners"] as? [String] == ["w1.example/zdr-test", "w2.example/zdr-test"])
        let human = try ZDR.run(["ledger", "check-receipt", path, "--key", fixture.verifierKey] + witnesses)
        #expect(human.status == 0)
        #expect(human.out.contains("cosigned by 2 of 2 pinned witnesses (quorum 2)"))

        // A tampered cosignature of a given witness makes the bundle invalid.
        let tampered = Cosignature(name: one[0].name, keyID: one[0].keyID, timestamp: one[0].timestamp + 1, signature: one[0].signature)
        try write(bundle, cosignatures: [tampered] + two, key: log, to: path)
        let bad = try check(path, fixture, witnesses + ["--quorum", "1"])
        #expect(bad.status == 1)
        #expect(try fault(bad) == "cosignatureInvalid")
    }

    @Test("--quorum must be between 1 and the number of distinct witnesses, and --witness a cosigner key")
    func usage() throws {
        let fixture = try LedgerFixture(requests: 1)
        defer { fixture.cleanup() }
        let (path, _) = try prove(fixture, fixture.requests[0], "receipt.json")
        let witness = try TestWitness(name: "w1.example/usage", logs: [try VerifierKey(fixture.verifierKey)])
        #expect(try check(path, fixture, ["--quorum", "1"]).status == 64)
        #expect(try check(path, fixture, ["--witness", witness.verifierKey.description, "--quorum", "2"]).status == 64)
        #expect(try check(path, fixture, ["--witness", witness.verifierKey.description, "--quorum", "0"]).status == 64)
        // The log's own key (type 0x01) is not a cosigner key.
        #expect(try check(path, fixture, ["--witness", fixture.verifierKey]).status == 2)
    }

    @Test("a forked ledger is refused by the witness (409), so its receipts fail check-receipt")
    func forkIsRefused() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let log = try VerifierKey(fixture.verifierKey)
        let witness = try TestWitness(name: "w1.example/fork", logs: [log])
        let (_, honest) = try prove(fixture, fixture.requests[0], "honest.json")
        let size = try SignedCheckpoint.open(note: honest.checkpoint, verifierKey: log).treeSize
        let honestCosignatures = try cosign(witness, note: honest.checkpoint, log: log)
        try #require(honestCosignatures.count == 1)

        // The same key writes other records: a ledger of the same size with another root.
        let forkPath = fixture.path("fork.ledger")
        let (forkRequests, forkNote) = try LedgerFixture.append(requests: 3, to: forkPath, keyPath: fixture.keyPath)
        let fork = try SignedCheckpoint.open(note: forkNote, verifierKey: log)
        let honestRoot = try SignedCheckpoint.open(note: honest.checkpoint, verifierKey: log).rootHash
        #expect(fork.treeSize == size && fork.rootHash != honestRoot)
        let response = witness.handle(try AddCheckpointRequest(oldSize: size, consistencyProof: [], checkpointNote: forkNote).body)
        #expect(response.status == 409)
        #expect(AddCheckpointOutcome.interpret(status: response.status, contentType: response.contentType, body: response.body,
                                               checkpoint: fork, witness: witness.verifierKey) == .refused(.conflictingRoot))

        // The fork's receipt carries no cosignature of the witness: refused under a quorum.
        let bundle = fixture.path("fork.json")
        #expect(try ZDR.run(["ledger", "prove", forkPath, "--request", forkRequests[0].description, "--key", fixture.verifierKey,
                             "--out", bundle]).status == 0)
        let run = try check(bundle, fixture, ["--witness", witness.verifierKey.description, "--quorum", "1"])
        #expect(run.status == 1)
        #expect(try fault(run) == "witnessQuorumNotMet")
        // A cosignature of the honest checkpoint moved onto the fork's does not verify there.
        let forkBundle = try ReceiptBundle(json: String(contentsOfFile: bundle, encoding: .utf8))
        var withMoved = forkBundle
        withMoved.checkpoint = forkBundle.checkpoint + honestCosignatures[0].line
        try withMoved.json.write(toFile: bundle, atomically: true, encoding: .utf8)
        let moved = try check(bundle, fixture, ["--witness", witness.verifierKey.description])
        #expect(moved.status == 1)
        #expect(try fault(moved) == "cosignatureInvalid")
    }

    @Test("a rolled-back ledger is refused by the witness (409 with its larger size), so its receipts fail check-receipt")
    func rollbackIsRefused() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let log = try VerifierKey(fixture.verifierKey)
        let witness = try TestWitness(name: "w1.example/rollback", logs: [log])
        let backup = fixture.path("backup.ledger")
        try FileManager.default.copyItem(atPath: fixture.ledgerPath, toPath: backup)
        let (_, first) = try prove(fixture, fixture.requests[0], "first.json")
        let firstSize = try SignedCheckpoint.open(note: first.checkpoint, verifierKey: log).treeSize
        #expect(try cosign(witness, note: first.checkpoint, log: log).count == 1)
        let (_, grown) = try LedgerFixture.append(requests: 3, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let grownSize = try SignedCheckpoint.open(note: grown, verifierKey: log).treeSize
        let proof = try LedgerVerifier.consistencyProof(path: fixture.ledgerPath, firstSize: firstSize, secondSize: grownSize)
        #expect(try cosign(witness, note: grown, old: firstSize, proof: proof, log: log).count == 1)

        // Restore the backup and write on: a checkpoint below the size the witness cosigned.
        try FileManager.default.removeItem(atPath: fixture.ledgerPath)
        try FileManager.default.copyItem(atPath: backup, toPath: fixture.ledgerPath)
        let (requests, rolledNote) = try LedgerFixture.append(requests: 1, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let rolled = try SignedCheckpoint.open(note: rolledNote, verifierKey: log)
        #expect(rolled.treeSize < grownSize)
        let proofFromFirst = try LedgerVerifier.consistencyProof(path: fixture.ledgerPath, firstSize: firstSize, secondSize: rolled.treeSize)
        let response = witness.handle(try AddCheckpointRequest(oldSize: firstSize, consistencyProof: proofFromFirst, checkpointNote: rolledNote).body)
        #expect(response.status == 409)
        let outcome = AddCheckpointOutcome.interpret(status: response.status, contentType: response.contentType, body: response.body,
                                                     checkpoint: rolled, witness: witness.verifierKey)
        #expect(outcome == .conflict(witnessSize: grownSize))

        let (path, _) = try prove(fixture, requests[0], "rolled.json")
        let run = try check(path, fixture, ["--witness", witness.verifierKey.description, "--quorum", "1"])
        #expect(run.status == 1)
        #expect(try fault(run) == "witnessQuorumNotMet")
        #expect(try check(path, fixture, []).status == 0)
    }
}

@Suite("zdr ledger witness-request over HTTP to test witnesses on 127.0.0.1")
struct LedgerWitnessRequestTests {
    @Test("the ledger's checkpoints are cosigned as it grows; a rollback is refused; receipts carry the cosignatures")
    func witnessRequest() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let log = try VerifierKey(fixture.verifierKey)
        let first = try TestWitness(name: "w1.example/http", logs: [log])
        let second = try TestWitness(name: "w2.example/http", logs: [log])
        let servers = [try WitnessHTTPServer(handler: first.handle), try WitnessHTTPServer(handler: second.handle)]
        defer { servers.forEach { $0.stop() } }
        let witnessArguments = ["--witness", "\(first.verifierKey)=\(servers[0].url)", "--witness", "\(second.verifierKey)=\(servers[1].url)"]
        let backup = fixture.path("backup.ledger")
        try FileManager.default.copyItem(atPath: fixture.ledgerPath, toPath: backup)
        let note = fixture.path("cosigned.note")
        func request(_ extra: [String] = []) throws -> ZDRRun {
            try ZDR.run(["ledger", "witness-request", fixture.ledgerPath, "--key", fixture.verifierKey, "--out", note, "--json"]
                        + witnessArguments + extra)
        }

        let initial = try request()
        #expect(initial.status == 0, "\(initial.out)\(initial.err)")
        #expect(try initial.json()["cosigned"] as? Int == 2)
        #expect(servers[0].paths == ["/witness/add-checkpoint"])
        let size = try #require(first.latest(log.name)?.size)
        let initialNote = fixture.path("initial.note")
        try FileManager.default.copyItem(atPath: note, toPath: initialNote)

        // Receipts carry the cosigned checkpoint and meet a quorum of two.
        let bundle = fixture.path("receipt.json")
        let prove = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                                 "--key", fixture.verifierKey, "--cosigned", note, "--out", bundle])
        #expect(prove.status == 0, "\(prove.err)")
        let check = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--json",
                                 "--witness", first.verifierKey.description, "--witness", second.verifierKey.description])
        #expect(check.status == 0, "\(check.out)")
        #expect((try check.json()["cosigners"] as? [String])?.count == 2)

        // The ledger grows: each witness answers the first request (old 0) with 409 and its size,
        // and cosigns the retry with the consistency proof from that size.
        try LedgerFixture.append(requests: 2, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let grown = try request()
        #expect(grown.status == 0, "\(grown.out)")
        #expect(servers[0].paths.count == 3)
        let grownSize = try #require(first.latest(log.name)?.size)
        #expect(grownSize > size)
        // The old cosigned note no longer covers the newest checkpoint's receipts.
        let stale = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                                 "--key", fixture.verifierKey, "--cosigned", initialNote])
        #expect(stale.status == 1)
        #expect(stale.err.contains("is not the checkpoint covering the receipt"))

        // Rolled back: the backup, written on. The witnesses hold a larger size and refuse.
        try FileManager.default.removeItem(atPath: fixture.ledgerPath)
        try FileManager.default.copyItem(atPath: backup, toPath: fixture.ledgerPath)
        try LedgerFixture.append(requests: 1, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let rolled = try request()
        #expect(rolled.status == 1)
        let witnesses = try #require(try rolled.json()["witnesses"] as? [[String: Any]])
        #expect(witnesses.count == 2)
        for witness in witnesses {
            #expect(witness["cosigned"] as? Bool == false)
            #expect(witness["witnessTreeSize"] as? Int == Int(grownSize))
            #expect((witness["problem"] as? String)?.contains("rolled back or forked") == true)
        }
        #expect(first.latest(log.name)?.size == grownSize)

        // A refusal is a finding (1) even when the other witness is unreachable; no witness
        // reachable at all is a failure (2).
        servers[1].stop()
        #expect(try request(["--quorum", "1"]).status == 1)
        servers[0].stop()
        #expect(try request(["--quorum", "1"]).status == 2)
    }
}
