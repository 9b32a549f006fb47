import RetentionLedger
import RetentionVocabulary

/// Signed-note and key parsing. The first input byte picks what the rest is:
/// 0 — a checkpoint note, opened under the fixed test key (seeds are real checkpoints, so
///     mutations reach the body parser after a valid signature only through extension lines
///     and extra signatures; the rest exercises the splitter and the signature lines);
/// 1 — a verifier key (`name+keyid+base64`);
/// 2 — a signer key (`PRIVATE+KEY+…`).
/// Properties: what opens keeps its exact text and reopens equal; a parsed verifier key prints
/// back as its input; a parsed signer key's verifier key parses and has its name.
public func fuzzSignedNote(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    guard let mode = input.first else { return }
    let text = String(decoding: input.dropFirst(), as: UTF8.self)
    switch mode % 3 {
    case 0:
        guard let checkpoint = try? SignedCheckpoint.open(note: text, verifierKey: FuzzLedgerKey.verifier) else { return }
        try require(checkpoint.noteText == text, "an opened note does not keep its text")
        try require(checkpoint.rootHash.count == 32, "an opened checkpoint's root is not 32 bytes")
        let again = try? SignedCheckpoint.open(note: checkpoint.noteText, verifierKey: FuzzLedgerKey.verifier)
        try require(again == checkpoint, "an opened note does not reopen to the same checkpoint")
    case 1:
        guard let key = try? VerifierKey(text) else { return }
        try require(key.description == text, "a parsed verifier key does not print back as its input")
        try require(key.publicKey.count == 32, "a parsed verifier key is not 32 bytes")
    default:
        guard let signer = try? SigningKey(signerKey: text) else { return }
        let verifier = try? VerifierKey(signer.verifierKey)
        try require(verifier?.name == signer.name, "a signer key's verifier key does not parse")
    }
}
