// C2SP tlog-cosignature and tlog-witness: cosigner keys and lines against a vector computed
// independently (Python `cryptography`, from the spec's text), the add-checkpoint body against
// the spec's example, and a log driven through TestWitness: growing, forked, rolled back.

import Foundation
import Testing
@testable import RetentionLedger

/// The Go example seed (SignedNoteTests) under another name, as a witness key. The vkey and the
/// cosignature line below were computed with Python's `cryptography` Ed25519 from the spec's
/// definitions: key ID = SHA-256(name || "\n" || 0x04 || key)[:4], message = "cosignature/v1\n"
/// || "time 1679315147\n" || the note text, blob = key ID || u64 timestamp || signature.
private let witnessSignerKey = "PRIVATE+KEY+witness.example/w1+a7f07fd6+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
private let witnessVKey = "witness.example/w1+cc9a7044+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
private let specNoteText = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
private let specCosignatureLine = "\u{2014} witness.example/w1 zJpwRAAAAABkGFDLJeR//pqzhnEKVvEm2wWbh2RJ6oru5+cUUfm5X9NnlaGr8aSH9QE5RVZD4QGlxl2F5UpVIIi94p178KLfqPPsAA==\n"

/// A log for witness tests: a Merkle tree of arbitrary leaves and a key that signs its
/// checkpoints. A value: copying it and appending other leaves makes a fork.
struct TestLog {
    let key: SigningKey
    var tree = MerkleTree()

    init(key: SigningKey) { self.key = key }

    mutating func append(_ count: Int, tag: String) {
        for index in 0..<count { tree.append(leafHash: MerkleHashing.leaf(Array("\(tag)-\(tree.size)-\(index)".utf8))) }
    }

    var checkpoint: SignedCheckpoint {
        let root = tree.currentRoot.bytes
        let body = checkpointBody(origin: key.name, treeSize: tree.size, rootHash: root)
        return SignedCheckpoint(origin: key.name, treeSize: tree.size, rootHash: root, keyName: key.name, keyID: key.keyID,
                                signature: key.sign(body))
    }

    func proof(from old: UInt64) -> [[UInt8]] { tree.consistencyProof(first: old, second: tree.size).map(\.bytes) }

    /// The add-checkpoint body from `old`, built by the library.
    func request(from old: UInt64, proof: [[UInt8]]? = nil) throws -> [UInt8] {
        try AddCheckpointRequest(oldSize: old, consistencyProof: proof ?? self.proof(from: old), checkpointNote: checkpoint.noteText).body
    }
}

private func outcome(_ response: TestWitness.Response, _ log: TestLog, _ witness: TestWitness) -> AddCheckpointOutcome {
    AddCheckpointOutcome.interpret(status: response.status, contentType: response.contentType, body: response.body,
                                   checkpoint: log.checkpoint, witness: witness.verifierKey)
}

private func newLog() throws -> TestLog { TestLog(key: try SigningKey.generate(name: "log.example/witnessed")) }

@Suite("Cosignatures: C2SP tlog-cosignature keys, lines and quorum")
struct CosignatureTests {
    @Test("the cosigner vkey and line reproduce the independently computed vector")
    func vectorReproduces() throws {
        let cosigner = Cosigner(key: try SigningKey(signerKey: witnessSignerKey))
        #expect(cosigner.verifierKey.description == witnessVKey)
        #expect(try CosignerKey(witnessVKey) == cosigner.verifierKey)
        let cosignature = try cosigner.cosign(body: Array(specNoteText.utf8), timestamp: 1_679_315_147)
        #expect(throws: LedgerError.invalidField("cosignature timestamp")) {
            try cosigner.cosign(body: Array(specNoteText.utf8), timestamp: UInt64(Int64.max) + 1)
        }
        #expect(cosignature.line == specCosignatureLine)
        #expect(try Cosignature.parseLines(specCosignatureLine) == [cosignature])
        #expect(try CosignerKey(witnessVKey).verifies(cosignature, body: Array(specNoteText.utf8)))
    }

    @Test("a cosignature does not verify over another text, time, signature or key")
    func tamperedCosignaturesFail() throws {
        let key = try CosignerKey(witnessVKey)
        let good = try #require(try Cosignature.parseLines(specCosignatureLine).first)
        let body = Array(specNoteText.utf8)
        #expect(key.verifies(good, body: body))
        var otherBody = body
        otherBody[30] ^= 1
        #expect(!key.verifies(good, body: otherBody))
        let laterTime = Cosignature(name: good.name, keyID: good.keyID, timestamp: good.timestamp + 1, signature: good.signature)
        #expect(!key.verifies(laterTime, body: body))
        var flipped = good.signature
        flipped[5] ^= 0x10
        #expect(!key.verifies(Cosignature(name: good.name, keyID: good.keyID, timestamp: good.timestamp, signature: flipped), body: body))
        // The same key's plain signed-note signature (type 0x01) over the text is not a cosignature.
        let plain = try SigningKey(signerKey: witnessSignerKey).sign(body)
        #expect(!key.verifies(Cosignature(name: good.name, keyID: good.keyID, timestamp: 0, signature: plain), body: body))
        let other = try #require(CosignerKey(name: "witness.example/w2", publicKey: key.publicKey))
        #expect(!other.verifies(good, body: body))
    }

    @Test("vkeys of one type are refused as the other")
    func keyTypesAreDistinct() throws {
        #expect(throws: LedgerError.malformedKey) { try VerifierKey(witnessVKey) }
        let logKey = try SigningKey(signerKey: witnessSignerKey).verifierKey
        #expect(throws: LedgerError.malformedKey) { try CosignerKey(logKey) }
        // The key ID must be the one of type 0x04.
        #expect(throws: LedgerError.malformedKey) { try CosignerKey(witnessVKey.replacingOccurrences(of: "cc9a7044", with: "a7f07fd6")) }
    }

    @Test("one vkey parser for both key types: each malformed shape is refused by both, a valid one round-trips")
    func sharedVKeyParser() throws {
        // The C2SP example key as a log's vkey (0x01) and this witness's (0x04).
        let logVKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        #expect(try VerifierKey(logVKey).description == logVKey)
        #expect(try CosignerKey(witnessVKey).description == witnessVKey)
        func malformed(_ vkey: String) -> [String] {
            let parts = vkey.split(separator: "+", maxSplits: 2).map(String.init)
            let (name, id, key) = (parts[0], parts[1], parts[2])
            return [
                "\(name)+\(id.uppercased())+\(key)",              // key ID not lowercase hex
                "\(name)+\(id.dropLast())+\(key)",                // 7 hex digits
                "\(name)+\(id)",                                    // no key
                "+\(id)+\(key)",                                    // no name
                "\(name)+\(id)+\(key.dropFirst(4))",               // material not 33 bytes
                "\(name)+\(id)+!\(key.dropFirst())",               // not base64
                "\(name)+00000000+\(key)",                          // key ID of another key
                "\(name) x+\(id)+\(key)",                          // a space in the name
            ]
        }
        for bad in malformed(logVKey) { #expect(throws: LedgerError.malformedKey, "\(bad)") { try VerifierKey(bad) } }
        for bad in malformed(witnessVKey) { #expect(throws: LedgerError.malformedKey, "\(bad)") { try CosignerKey(bad) } }
    }

    @Test("a cosigned note keeps the log's signature check and counts distinct valid witnesses")
    func quorum() throws {
        var log = try newLog()
        log.append(5, tag: "a")
        let first = Cosigner(key: try SigningKey.generate(name: "w1.example/w")), second = Cosigner(key: try SigningKey.generate(name: "w2.example/w"))
        let unknown = Cosigner(key: try SigningKey.generate(name: "w3.example/w"))
        let plain = try CosignedCheckpoint.open(note: log.checkpoint.noteText, verifierKey: log.key.verifier)
        let note = plain.adding([try first.cosign(log.checkpoint, timestamp: 100), try unknown.cosign(log.checkpoint, timestamp: 100),
                                 try first.cosign(log.checkpoint, timestamp: 101)])
        let cosigned = try CosignedCheckpoint.open(note: note, verifierKey: log.key.verifier)
        #expect(cosigned.cosignatures.count == 3)
        let pinned = [first.verifierKey, second.verifierKey, first.verifierKey]
        #expect(try cosigned.validCosigners(among: pinned) == [first.verifierKey])
        #expect(try cosigned.requireQuorum(1, of: pinned) == [first.verifierKey])
        #expect(throws: LedgerError.bundleInvalid(.witnessQuorumNotMet)) { try cosigned.requireQuorum(2, of: pinned) }
        let both = try CosignedCheckpoint.open(note: cosigned.adding([try second.cosign(log.checkpoint, timestamp: 102)]),
                                               verifierKey: log.key.verifier)
        #expect(try both.requireQuorum(2, of: pinned) == [first.verifierKey, second.verifierKey])
        // A note whose log signature is gone does not open, whatever its cosignatures.
        let withoutLog = note.replacingOccurrences(of: log.checkpoint.noteText.components(separatedBy: "\n\n")[1], with: "")
        #expect(throws: LedgerError.self) { try CosignedCheckpoint.open(note: withoutLog, verifierKey: log.key.verifier) }
        // A tampered cosignature by a pinned key rejects the note.
        let line = try first.cosign(log.checkpoint, timestamp: 100)
        let tampered = Cosignature(name: line.name, keyID: line.keyID, timestamp: 99, signature: line.signature)
        let bad = try CosignedCheckpoint.open(note: plain.adding([tampered]), verifierKey: log.key.verifier)
        #expect(throws: LedgerError.bundleInvalid(.cosignatureInvalid)) { try bad.validCosigners(among: [first.verifierKey]) }
        #expect(try bad.validCosigners(among: [second.verifierKey]).isEmpty)
    }
}

@Suite("Witness protocol: C2SP tlog-witness add-checkpoint with a conforming test witness")
struct WitnessProtocolTests {
    @Test("the request body is the spec's example, byte for byte, and parses back")
    func requestBodyMatchesSpec() throws {
        let proof = ["PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=", "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=",
                     "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=", "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0="]
        let note = specNoteText + "\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        let request = try AddCheckpointRequest(oldSize: 20_852_014, consistencyProof: proof.map { Base64.decode($0)! }, checkpointNote: note)
        let expected = "old 20852014\n" + proof.map { $0 + "\n" }.joined() + "\n" + note
        #expect(String(decoding: request.body, as: UTF8.self) == expected)
        #expect(try AddCheckpointRequest(body: request.body) == request)
        #expect(String(decoding: try AddCheckpointRequest(oldSize: 0, consistencyProof: [], checkpointNote: note).body, as: UTF8.self)
            == "old 0\n\n" + note)
        #expect(throws: WitnessRequestError.oldSizeAboveCheckpoint) {
            try AddCheckpointRequest(oldSize: 20_852_164, consistencyProof: [], checkpointNote: note)
        }
        #expect(throws: WitnessRequestError.proofWithoutOldSize) {
            try AddCheckpointRequest(oldSize: 0, consistencyProof: [[UInt8](repeating: 0, count: 32)], checkpointNote: note)
        }
        #expect(throws: WitnessRequestError.malformedProof) {
            try AddCheckpointRequest(oldSize: 1, consistencyProof: Array(repeating: [UInt8](repeating: 0, count: 32), count: 64), checkpointNote: note)
        }
        #expect(throws: WitnessRequestError.malformedBody) { try AddCheckpointRequest(body: Array("old 01\n\n".utf8) + Array(note.utf8)) }
    }

    @Test("responses are interpreted by status: cosignatures, conflict with size, refusals")
    func responsesAreInterpreted() throws {
        var log = try newLog()
        log.append(3, tag: "a")
        let witness = try TestWitness(name: "witness.example/interpret", logs: [log.key.verifier])
        let checkpoint = log.checkpoint
        let key = witness.verifierKey
        func interpret(_ status: Int, _ type: String?, _ body: String) -> AddCheckpointOutcome {
            .interpret(status: status, contentType: type, body: Array(body.utf8), checkpoint: checkpoint, witness: key)
        }
        #expect(interpret(409, "text/x.tlog.size", "42\n") == .conflict(witnessSize: 42))
        #expect(interpret(409, nil, "") == .refused(.conflictingRoot))
        #expect(interpret(409, "text/x.tlog.size", "042\n") == .refused(.malformedResponse))
        #expect(interpret(400, nil, "") == .refused(.badRequest))
        #expect(interpret(403, nil, "") == .refused(.forbidden))
        #expect(interpret(404, nil, "") == .refused(.unknownLog))
        #expect(interpret(422, nil, "") == .refused(.invalidProof))
        #expect(interpret(503, nil, "") == .refused(.unexpectedStatus(503)))
        #expect(interpret(200, nil, "not a signature line\n") == .refused(.malformedResponse))
        let good = try witness.cosigner.cosign(checkpoint, timestamp: 7)
        let other = try Cosigner(key: SigningKey.generate(name: "witness.example/other")).cosign(checkpoint, timestamp: 7)
        #expect(interpret(200, nil, other.line + good.line) == .cosigned([good]))
        #expect(interpret(200, nil, other.line) == .refused(.noValidCosignature))
        let tampered = Cosignature(name: good.name, keyID: good.keyID, timestamp: 8, signature: good.signature)
        #expect(interpret(200, nil, tampered.line) == .refused(.noValidCosignature))
    }

    @Test("a growing log is cosigned at every step, and the cosignatures verify")
    func growingLogIsCosigned() throws {
        var log = try newLog()
        let witness = try TestWitness(name: "witness.example/grow", logs: [log.key.verifier])
        var old: UInt64 = 0
        for (step, count) in [1, 2, 5, 0, 8, 47].enumerated() {
            log.append(count, tag: "grow")
            let response = witness.handle(try log.request(from: old))
            #expect(response.status == 200, "step \(step)")
            guard case .cosigned(let cosignatures) = outcome(response, log, witness) else {
                Issue.record("step \(step): \(outcome(response, log, witness))")
                return
            }
            let note = try CosignedCheckpoint.open(note: log.checkpoint.noteText, verifierKey: log.key.verifier).adding(cosignatures)
            let cosigned = try CosignedCheckpoint.open(note: note, verifierKey: log.key.verifier)
            #expect(try cosigned.requireQuorum(1, of: [witness.verifierKey]) == [witness.verifierKey])
            #expect(witness.latest(log.key.name) == .init(size: log.tree.size, root: log.tree.currentRoot.bytes))
            old = log.tree.size
        }
    }

    @Test("a client that does not know the witness's size learns it from 409 and retries")
    func conflictTellsTheSize() throws {
        var log = try newLog()
        log.append(4, tag: "a")
        let witness = try TestWitness(name: "witness.example/sync", logs: [log.key.verifier])
        #expect(witness.handle(try log.request(from: 0)).status == 200)
        log.append(3, tag: "a")
        let response = witness.handle(try log.request(from: 0))
        #expect(response.status == 409 && response.contentType == "text/x.tlog.size" && response.text == "4\n")
        #expect(outcome(response, log, witness) == .conflict(witnessSize: 4))
        #expect(witness.handle(try log.request(from: 4)).status == 200)
        #expect(witness.latest(log.key.name)?.size == 7)
    }

    @Test("a fork at the same size is refused with 409, and at a larger size with 422")
    func forkIsRefused() throws {
        var log = try newLog()
        log.append(6, tag: "shared")
        var fork = log
        log.append(4, tag: "honest")
        fork.append(4, tag: "forked")
        let witness = try TestWitness(name: "witness.example/fork", logs: [log.key.verifier])
        #expect(witness.handle(try log.request(from: 0)).status == 200)
        // Same size, other root.
        let same = witness.handle(try fork.request(from: 10))
        #expect(same.status == 409)
        #expect(outcome(same, fork, witness) == .refused(.conflictingRoot))
        // The fork grows on: its own proof from 10 does not lead from the root the witness holds.
        fork.append(3, tag: "forked")
        let larger = witness.handle(try fork.request(from: 10))
        #expect(larger.status == 422)
        #expect(outcome(larger, fork, witness) == .refused(.invalidProof))
        #expect(witness.latest(log.key.name) == .init(size: 10, root: log.tree.currentRoot.bytes))
        // The honest log still extends.
        log.append(3, tag: "honest")
        #expect(witness.handle(try log.request(from: 10)).status == 200)
    }

    @Test("a rolled-back log is refused: 409 with the larger size, then 400 for an old size above its own")
    func rollbackIsRefused() throws {
        var log = try newLog()
        log.append(5, tag: "a")
        let rolledBack = log
        log.append(4, tag: "a")
        let witness = try TestWitness(name: "witness.example/rollback", logs: [log.key.verifier])
        #expect(witness.handle(try log.request(from: 0)).status == 200)
        let response = witness.handle(try rolledBack.request(from: 5))
        #expect(response.status == 409 && response.text == "9\n")
        guard case .conflict(let size) = outcome(response, rolledBack, witness) else {
            Issue.record("expected a conflict")
            return
        }
        #expect(size > rolledBack.tree.size)
        // The library will not build a request from an old size above the checkpoint's, so send
        // the bytes by hand.
        let body = "old 9\n\n" + rolledBack.checkpoint.noteText
        #expect(witness.handle(Array(body.utf8)).status == 400)
        #expect(witness.latest(log.key.name)?.size == 9)
    }

    @Test("a wrong consistency proof is refused with 422", arguments: ["flipped", "truncated", "extra"])
    func wrongProofIsRefused(variant: String) throws {
        var log = try newLog()
        log.append(7, tag: "a")
        let witness = try TestWitness(name: "witness.example/proof", logs: [log.key.verifier])
        #expect(witness.handle(try log.request(from: 0)).status == 200)
        log.append(6, tag: "a")
        var proof = log.proof(from: 7)
        switch variant {
        case "flipped": proof[proof.count / 2][3] ^= 0x01
        case "truncated": proof.removeLast()
        default: proof.append([UInt8](repeating: 7, count: 32))
        }
        #expect(witness.handle(try log.request(from: 7, proof: proof)).status == 422)
        #expect(witness.handle(try log.request(from: 7)).status == 200)
    }

    @Test("an unknown log gets 404, a checkpoint not signed by the trusted key 403")
    func unknownAndUntrusted() throws {
        var log = try newLog()
        log.append(2, tag: "a")
        let witness = try TestWitness(name: "witness.example/keys", logs: [log.key.verifier])
        var stranger = TestLog(key: try SigningKey.generate(name: "other.example/log"))
        stranger.append(2, tag: "a")
        #expect(witness.handle(try stranger.request(from: 0)).status == 404)
        var impostor = TestLog(key: try SigningKey.generate(name: log.key.name))
        impostor.append(2, tag: "a")
        let forbidden = witness.handle(try impostor.request(from: 0))
        #expect(forbidden.status == 403)
        #expect(outcome(forbidden, impostor, witness) == .refused(.forbidden))
        #expect(witness.latest(log.key.name) == nil)
    }

    @Test("a receipt bundle carries the cosigned checkpoint and verifies with a quorum")
    func bundleCarriesCosignatures() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        for n in UInt64(0)..<3 {
            for record in sampleRecords(request(n)) { try ledger.append(record) }
        }
        var bundle = try ledger.receiptBundle(forRequest: request(1))
        try ledger.close()
        let first = try TestWitness(name: "w1.example/bundle", logs: [signer.verifier])
        let second = try TestWitness(name: "w2.example/bundle", logs: [signer.verifier])
        let checkpoint = try SignedCheckpoint.open(note: bundle.checkpoint, verifierKey: signer.verifier)
        let request = try AddCheckpointRequest(oldSize: 0, consistencyProof: [], checkpointNote: bundle.checkpoint).body
        let response = first.handle(request)
        guard case .cosigned(let cosignatures) = AddCheckpointOutcome.interpret(
            status: response.status, contentType: response.contentType, body: response.body, checkpoint: checkpoint,
            witness: first.verifierKey)
        else {
            Issue.record("not cosigned")
            return
        }
        bundle.checkpoint = try CosignedCheckpoint.open(note: bundle.checkpoint, verifierKey: signer.verifier).adding(cosignatures)
        let parsed = try ReceiptBundle(json: bundle.json)
        #expect(try parsed.verify(verifierKey: signer.verifier).cosigners.isEmpty)
        let pinned = [first.verifierKey, second.verifierKey]
        #expect(try parsed.verify(verifierKey: signer.verifier, witnesses: pinned, quorum: 1).cosigners == [first.verifierKey])
        #expect(throws: LedgerError.bundleInvalid(.witnessQuorumNotMet)) {
            try parsed.verify(verifierKey: signer.verifier, witnesses: pinned, quorum: 2)
        }
        // Lines that are not cosignatures, or repeat one, are not canonical.
        var extra = parsed
        extra.checkpoint += cosignatures[0].line
        #expect(throws: LedgerError.bundleInvalid(.notCanonical)) { try extra.verify(verifierKey: signer.verifier) }
        var short = parsed
        short.checkpoint += "\u{2014} w9.example/x " + Base64.encode([UInt8](repeating: 1, count: 69)) + "\n"
        #expect(throws: LedgerError.bundleInvalid(.notCanonical)) { try short.verify(verifierKey: signer.verifier) }
    }
}
