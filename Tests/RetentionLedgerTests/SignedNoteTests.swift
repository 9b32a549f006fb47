// C2SP signed-note / Ed25519 against the published example of golang.org/x/mod/sumdb/note
// (note.go package documentation and note_test.go; also quoted in the C2SP signed-note spec):
// signer key PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz,
// verifier key PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW. Ed25519 is
// deterministic (RFC 8032), so our signature line must reproduce theirs byte for byte.

import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

let goSignerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
private let goVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
private let goText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
private let goNote = goText + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

@Suite("Signed notes and keys: C2SP signed-note, key files, key evolution")
struct SignedNoteTests {
    @Test("the Go signer key yields the published verifier key") func signerKeyFromGoExampleYieldsPublishedVerifierKey() throws {
        let key = try SigningKey(signerKey: goSignerKey)
        #expect(key.name == "PeterNeumann")
        #expect(key.verifierKey == goVerifierKey)
        #expect(try VerifierKey(goVerifierKey).description == goVerifierKey)
    }

    @Test("signing the Go example reproduces the published note") func signingGoExampleReproducesPublishedNote() throws {
        let key = try SigningKey(signerKey: goSignerKey)
        let signature = key.sign(Array(goText.utf8))
        let note = goText + "\n" + signatureLine(keyName: key.name, keyID: key.keyID, signature: signature)
        #expect(note == goNote)
    }

    @Test("the published note verifies and tampered note does not") func publishedNoteVerifiesAndTamperedNoteDoesNot() throws {
        let verifier = try VerifierKey(goVerifierKey)
        let (body, signatures) = try splitNote(goNote)
        #expect(body == Array(goText.utf8))
        #expect(signatures.count == 1)
        #expect(signatures[0].0 == "PeterNeumann" && signatures[0].1 == verifier.keyID)
        #expect(verifier.isValidSignature(signatures[0].2, of: body))
        let (tamperedBody, tamperedSignatures) = try splitNote(goNote.replacingOccurrences(of: "cryptography", with: "cryptographY"))
        #expect(!verifier.isValidSignature(tamperedSignatures[0].2, of: tamperedBody))
    }

    @Test("malformed verifier keys are refused") func malformedVerifierKeysAreRefused() {
        // Wrong key id, truncated key, wrong algorithm byte, missing parts.
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
            "PeterNeumann+c74f20a3+AhpcC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "",
        ] {
            #expect(throws: LedgerError.malformedKey) { try VerifierKey(bad) }
        }
    }

    @Test("a checkpoint note has the tlog-checkpoint shape and verifies") func checkpointNoteHasTlogCheckpointShapeAndVerifies() throws {
        let key = try SigningKey.generate(name: "example.com/zdr-ledger")
        let root = MerkleHashing.emptyRoot.bytes
        let body = checkpointBody(origin: key.name, treeSize: 0, rootHash: root)
        #expect(String(decoding: body, as: UTF8.self) == "example.com/zdr-ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
        let signed = SignedCheckpoint(origin: key.name, treeSize: 0, rootHash: root, keyName: key.name, keyID: key.keyID,
                                      signature: key.sign(body))
        let opened = try SignedCheckpoint.open(note: signed.noteText, verifierKey: key.verifierKey)
        #expect(opened.treeSize == 0 && opened.rootHash == root && opened.origin == key.name)
        let other = try SigningKey.generate(name: "example.com/zdr-ledger")
        #expect(throws: LedgerError.bundleInvalid(.checkpointSignatureInvalid)) {
            try SignedCheckpoint.open(note: signed.noteText, verifierKey: other.verifierKey)
        }
        // Every byte of the note matters: changing any one is refused.
        let bytes = Array(signed.noteText.utf8)
        for index in bytes.indices {
            var flipped = bytes
            flipped[index] ^= 0x01
            let text = String(decoding: flipped, as: UTF8.self)
            #expect(throws: LedgerError.self) { try SignedCheckpoint.open(note: text, verifierKey: key.verifierKey) }
        }
    }

    @Test("key files round-trip and must be mode 0600") func keyFilesRoundTripAndMustBeMode0600() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let key = try SigningKey.generate(name: "ledger.example")
        let path = directory.file("signer.key")
        try key.save(to: path)
        #expect(throws: LedgerError.io(.open, errno: EEXIST)) { try key.save(to: path) }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let loaded = try SigningKey(loadingFrom: path)
        #expect(loaded.verifierKey == key.verifierKey)
        chmod(path, 0o644)
        #expect(throws: LedgerError.keyFilePermissions) { try SigningKey(loadingFrom: path) }
        chmod(path, 0o400)
        #expect(throws: LedgerError.keyFilePermissions) { try SigningKey(loadingFrom: path) }
    }

    @Test("key evolution is deterministic and signed by the previous key") func keyEvolutionIsDeterministicAndSignedByThePreviousKey() throws {
        let first = try SigningKey(signerKey: goSignerKey)
        let second = try SigningKey(signerKey: goSignerKey)
        let original = first.verifier
        let rotation = try first.evolve(treeSize: 42)
        _ = try second.evolve(treeSize: 42)
        #expect(first.publicKey == second.publicKey)
        #expect(first.publicKey != original.publicKey)
        #expect(first.epoch == 1)
        #expect(original.isValidSignature(rotation.signature, of: keyRotationStatement(epoch: 1, newPublicKey: rotation.newPublicKey, treeSize: 42)))
        #expect(rotation.newPublicKey == first.publicKey)
    }
}
