import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

/// A log is tamper-evident only against a checkpoint someone kept. Each version of a truncated
/// or forked file verifies on its own; these tests keep a checkpoint and show that `verify
/// --trusted` and `monitor` catch the rollback, and that receipts carry nothing but what they
/// prove.
@Suite("zdr ledger: rollback, truncation and forks against a kept checkpoint")
struct LedgerRollbackTests {
    @Test("a file cut at a record boundary still verifies alone, and fails against the kept checkpoint")
    func truncationAtARecordBoundary() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let trusted = fixture.path("trusted.checkpoint")
        let second = try LedgerFixture.append(requests: 2, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        try second.checkpoint.write(toFile: trusted, atomically: true, encoding: .utf8)
        #expect(try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--trusted", trusted]).status == 0)

        // Cut at every frame boundary from the first checkpoint on: each file is valid on its own.
        let offsets = try fixture.frameOffsets()
        let original = try Data(contentsOf: URL(fileURLWithPath: fixture.ledgerPath))
        for cut in offsets.dropFirst(9) {
            try original.write(to: URL(fileURLWithPath: fixture.ledgerPath))
            try fixture.truncate(to: cut)
            let alone = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey])
            #expect(alone.status == 0, "cut at \(cut): the file alone verifies")
            let kept = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey,
                                    "--trusted", trusted, "--json"])
            #expect(kept.status == 1, "cut at \(cut)")
            #expect((try kept.json()["error"] as? [String: Any])?["kind"] as? String == "notConsistent")
        }
    }

    @Test("monitor: first run trusts and keeps, a grown log is consistent, a rolled-back one is caught")
    func monitorFollowsAndCatchesRollback() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let state = fixture.path("monitor.state")
        let first = try ZDR.run(["ledger", "monitor", fixture.ledgerPath, "--key", fixture.verifierKey, "--state", state])
        #expect(first.status == 0)
        #expect(first.out.contains("first run"))
        let kept = try String(contentsOfFile: state, encoding: .utf8)
        #expect(kept.hasPrefix("test.example/zdr\n9\n"))

        let grown = try LedgerFixture.append(requests: 2, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let second = try ZDR.run(["ledger", "monitor", fixture.ledgerPath, "--key", fixture.verifierKey, "--state", state, "--json"])
        #expect(second.status == 0)
        let object = try second.json()
        #expect(object["consistent"] as? Bool == true)
        #expect(object["previousTreeSize"] as? Int == 9)
        #expect(object["treeSize"] as? Int == 16)
        #expect(try String(contentsOfFile: state, encoding: .utf8) == grown.checkpoint)

        // Roll back to the first checkpoint (records and the second checkpoint gone).
        let offsets = try fixture.frameOffsets()
        try fixture.truncate(to: offsets[10])
        let rolledBack = try ZDR.run(["ledger", "monitor", fixture.ledgerPath, "--key", fixture.verifierKey, "--state", state])
        #expect(rolledBack.status == 1)
        #expect(rolledBack.out.contains("NOT CONSISTENT"))
        #expect(rolledBack.out.contains("checkpoint seen last time") && rolledBack.out.contains("newest checkpoint now"))
        #expect(rolledBack.out.contains("    test.example/zdr\n    16\n"))  // the kept checkpoint itself is shown
        #expect(try String(contentsOfFile: state, encoding: .utf8) == grown.checkpoint)  // state unchanged
    }

    @Test("monitor never echoes a state file that is not a checkpoint of this log")
    func monitorDoesNotEchoForeignState() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let state = fixture.path("monitor.state")
        try "Patient John Doe, diagnosis: CANARY-state-7f3a\n\n— test.example/zdr AAAA\n".write(toFile: state, atomically: true, encoding: .utf8)
        for arguments in [["--json"], []] {
            let run = try ZDR.run(["ledger", "monitor", fixture.ledgerPath, "--key", fixture.verifierKey, "--state", state] + arguments)
            #expect(run.status == 1)
            #expect(!run.out.contains("CANARY") && !run.err.contains("CANARY"))
        }
    }

    @Test("monitor: a fork under the same key (other records, same origin) is caught")
    func monitorCatchesAFork() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let state = fixture.path("monitor.state")
        #expect(try ZDR.run(["ledger", "monitor", fixture.ledgerPath, "--key", fixture.verifierKey, "--state", state]).status == 0)
        // Another history signed by the same key: what an operator could show a second auditor.
        let forkPath = fixture.path("fork.ledger")
        try LedgerFixture.append(requests: 4, to: forkPath, keyPath: fixture.keyPath)
        #expect(try ZDR.run(["ledger", "verify", forkPath, "--key", fixture.verifierKey]).status == 0)
        let run = try ZDR.run(["ledger", "monitor", forkPath, "--key", fixture.verifierKey, "--state", state])
        #expect(run.status == 1)
        #expect(run.out.contains("NOT CONSISTENT"))
    }

    @Test("consistency prints a proof that verifies between the two roots")
    func consistencyProof() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        try LedgerFixture.append(requests: 2, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        let run = try ZDR.run(["ledger", "consistency", fixture.ledgerPath, "--from", "9", "--to", "16", "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        let proof = try #require(object["proof"] as? [String]).map(hexDecode)
        let fromRoot = hexDecode(try #require(object["fromRoot"] as? String))
        let toRoot = hexDecode(try #require(object["toRoot"] as? String))
        #expect(MerkleProofs.verifyConsistency(firstSize: 9, secondSize: 16, firstRoot: fromRoot, secondRoot: toRoot, proof: proof))
        var wrong = toRoot
        wrong[0] ^= 1
        #expect(!MerkleProofs.verifyConsistency(firstSize: 9, secondSize: 16, firstRoot: fromRoot, secondRoot: wrong, proof: proof))
        let plain = try ZDR.run(["ledger", "consistency", fixture.ledgerPath, "--from", "9", "--to", "16"])
        #expect(plain.out.split(separator: "\n").map(String.init) == (object["proof"] as? [String]))
        #expect(try ZDR.run(["ledger", "consistency", fixture.ledgerPath, "--from", "9", "--to", "99"]).status == 64)
    }

    /// Every way to make a bundle carry text beside what it proves.
    @Test("check-receipt refuses a bundle with text beside what it proves", arguments: [
        "extra field", "reordered keys", "whitespace", "extra signature line", "checkpoint extension line",
    ])
    func bundlesAreCanonical(variant: String) throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let prove = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                                 "--key", fixture.verifierKey])
        try #require(prove.status == 0)
        var json = String(decoding: prove.stdout, as: UTF8.self).trimmingCharacters(in: .newlines)
        let checkpoint = try #require(try JSONSerialization.jsonObject(with: prove.stdout) as? [String: Any])["checkpoint"] as? String
        func replacingCheckpoint(_ note: String) -> String {
            let encode = { (text: String) in String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: .withoutEscapingSlashes), as: UTF8.self).dropFirst().dropLast() }
            return json.replacingOccurrences(of: encode(checkpoint!), with: encode(note))
        }
        switch variant {
        case "extra field": json = String(json.dropLast()) + ",\"note\":\"Patient John Doe, diagnosis\"}"
        case "reordered keys":
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            json = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        case "whitespace": json = json.replacingOccurrences(of: "\"leaf_index\":", with: "\"leaf_index\": ")
        case "extra signature line": json = replacingCheckpoint(checkpoint! + "\u{2014} Patient-John-Doe AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
        default:
            // "origin\nsize\nroot\n" + "extension\n" then the blank line and signature.
            let parts = checkpoint!.components(separatedBy: "\n\n")
            json = replacingCheckpoint(parts[0] + "\nPatient John Doe\n\n" + parts[1])
        }
        let bundle = fixture.path("bundle.json")
        try json.write(toFile: bundle, atomically: true, encoding: .utf8)
        let run = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--json"])
        #expect(run.status == 1, "\(variant)")
        #expect(!run.out.contains("Patient"))
    }

    @Test("check-receipt requires the checkpoint to be of the log the key (or --origin) names")
    func originIsChecked() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let bundle = fixture.path("receipt.json")
        #expect(try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                             "--key", fixture.verifierKey, "--out", bundle]).status == 0)
        #expect(try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--origin", "test.example/zdr"]).status == 0)
        let other = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--origin", "other.example/log", "--json"])
        #expect(other.status == 1)
        #expect((try other.json()["error"] as? [String: Any])?["fault"] as? String == "originMismatch")
    }
}

private func hexDecode(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
