// C2SP tlog-cosignature (Ed25519, cosignature/v1): a witness's timestamped signature over a
// checkpoint, carried as one more signed-note signature line. Docs/LedgerFormat.md §11.
//
// The signed message is "cosignature/v1\n" || "time <decimal>\n" || the note text of the
// checkpoint (every line before the blank line, final newline included). The signature blob is
// key ID (4 bytes) || timestamp (u64 big-endian) || Ed25519 signature (64 bytes). The key ID is
// SHA-256(name || 0x0A || 0x04 || public key)[:4], and a cosigner's vkey carries type 0x04.

/// Signature type of timestamped Ed25519 witness cosignatures (C2SP signed-note, 0x04).
let cosignatureKeyType: UInt8 = 0x04

/// Bytes of a cosignature blob after the key ID: the u64 timestamp and the Ed25519 signature.
let timestampedSignatureBytes = 8 + 64

/// Most cosignature lines a receipt bundle's checkpoint may carry (the signed-note spec asks
/// verifiers to accept at least 16 signatures; the log's own line is one of them).
let maximumCosignatureLines = 15

/// The 4-byte key ID of a cosigner key: SHA-256(name || 0x0A || 0x04 || public key)[0..<4].
func cosignerKeyID(name: String, publicKey: [UInt8]) -> UInt32 {
    let digest = SHA256.hash(Array(name.utf8) + [0x0A, cosignatureKeyType] + publicKey).bytes
    return UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
}

/// The cosignature/v1 signed message for the checkpoint note text `body` at `timestamp`.
func cosignatureMessage(body: [UInt8], timestamp: UInt64) -> [UInt8] {
    Array("cosignature/v1\ntime \(timestamp)\n".utf8) + body
}

/// A witness's public key as a C2SP vkey, `name+keyid+base64(0x04 || Ed25519 public key)`:
/// what an auditor pins to check cosignatures (`zdr ledger check-receipt --witness`).
public struct CosignerKey: Sendable, Hashable, CustomStringConvertible {
    /// The witness name (a schema-less URL by convention).
    public let name: String
    /// SHA-256(name || 0x0A || 0x04 || public key), first four bytes, big-endian.
    public let keyID: UInt32
    /// The Ed25519 public key (32 bytes).
    public let publicKey: [UInt8]

    /// Builds a key from its parts; nil for an invalid name or key length.
    public init?(name: String, publicKey: [UInt8]) {
        guard isValidKeyName(name), publicKey.count == 32 else { return nil }
        self.name = name
        self.publicKey = publicKey
        self.keyID = cosignerKeyID(name: name, publicKey: publicKey)
    }

    /// Parses `name+keyid+base64(0x04 || key)`. The type byte must be 0x04 and the key ID must
    /// match the name and key; anything else is ``LedgerError/malformedKey``.
    public init(_ text: String) throws(LedgerError) {
        guard let (name, id, publicKey) = parseVKey(text, type: cosignatureKeyType),
              let key = CosignerKey(name: name, publicKey: publicKey), key.keyID == id
        else { throw .malformedKey }
        self = key
    }

    /// The vkey text, `name+keyid+base64(0x04 || key)`.
    public var description: String {
        "\(name)+\(hex8(keyID))+\(Base64.encode([cosignatureKeyType] + publicKey))"
    }

    /// Whether `cosignature` is this key's (same name and key ID) and verifies over the note
    /// text `body`. A timestamp above 2^63 − 1 never verifies (the spec forbids it).
    public func verifies(_ cosignature: Cosignature, body: [UInt8]) -> Bool {
        guard cosignature.name == name, cosignature.keyID == keyID, cosignature.timestamp <= UInt64(Int64.max),
              cosignature.signature.count == 64
        else { return false }
        let message = cosignatureMessage(body: body, timestamp: cosignature.timestamp)
        return VerifierKey(name: name, publicKey: publicKey)?.isValidSignature(cosignature.signature, of: message) ?? false
    }
}

/// One cosignature line: `— <name> base64(key ID || u64 timestamp || Ed25519 signature)`.
public struct Cosignature: Sendable, Hashable {
    /// The cosigner's key name.
    public let name: String
    /// The key ID the line names.
    public let keyID: UInt32
    /// POSIX seconds at which the witness signed.
    public let timestamp: UInt64
    /// The 64-byte Ed25519 signature over the cosignature/v1 message.
    public let signature: [UInt8]

    /// A cosignature from its parts (no verification).
    public init(name: String, keyID: UInt32, timestamp: UInt64, signature: [UInt8]) {
        self.name = name
        self.keyID = keyID
        self.timestamp = timestamp
        self.signature = signature
    }

    /// The signed-note signature line, newline-terminated.
    public var line: String {
        signatureLine(keyName: name, keyID: keyID, signature: timestampBytes + signature)
    }

    private var timestampBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: timestamp >> (56 - 8 * UInt64($0))) }
    }

    /// The cosignature a signature line's parts carry, or nil when the blob after the key ID
    /// is not exactly a timestamp and an Ed25519 signature (72 bytes) or the name is not a
    /// valid key name.
    init?(name: String, keyID: UInt32, blob: [UInt8]) {
        guard isValidKeyName(name), blob.count == timestampedSignatureBytes else { return nil }
        var timestamp: UInt64 = 0
        for byte in blob[0..<8] { timestamp = timestamp << 8 | UInt64(byte) }
        self.init(name: name, keyID: keyID, timestamp: timestamp, signature: Array(blob[8...]))
    }

    /// Parses one or more signature lines (each `— name base64\n`), such as a witness's
    /// add-checkpoint response body. Lines of another shape are
    /// ``BundleFault/malformedCosignature``; the result is not verified.
    public static func parseLines(_ text: String) throws(LedgerError) -> [Cosignature] {
        let lines: [(String, UInt32, [UInt8])]
        do { lines = try parseSignatureLines(Array(text.utf8)[...]) } catch { throw .bundleInvalid(.malformedCosignature) }
        var result: [Cosignature] = []
        for (name, keyID, blob) in lines {
            guard let cosignature = Cosignature(name: name, keyID: keyID, blob: blob) else {
                throw .bundleInvalid(.malformedCosignature)
            }
            result.append(cosignature)
        }
        return result
    }
}

/// A witness's signer: an Ed25519 key whose signatures are cosignature/v1 statements. It is the
/// same kind of key as the log's (a ``SigningKey``), used with another message and key ID.
public final class Cosigner: Sendable {
    private let key: SigningKey

    /// A cosigner over `key`; the key's name is the witness name. Use a key of its own: the
    /// cosignature message does not commit to the name, so one key must serve one witness.
    public init(key: SigningKey) {
        self.key = key
    }

    /// The witness's vkey (type 0x04) for verifiers to pin.
    public var verifierKey: CosignerKey {
        CosignerKey(name: key.name, publicKey: key.publicKey)!
    }

    /// Cosigns the checkpoint note text `body` (every line before the note's blank line,
    /// final newline included) at `timestamp` (POSIX seconds). A timestamp above 2^63 − 1,
    /// which the spec forbids, is ``LedgerError/invalidField(_:)``.
    public func cosign(body: [UInt8], timestamp: UInt64) throws(LedgerError) -> Cosignature {
        guard timestamp <= UInt64(Int64.max) else { throw .invalidField("cosignature timestamp") }
        let signature = key.sign(cosignatureMessage(body: body, timestamp: timestamp))
        let verifier = verifierKey
        return Cosignature(name: verifier.name, keyID: verifier.keyID, timestamp: timestamp, signature: signature)
    }

    /// Cosigns `checkpoint` (its note text as the log signed it) at `timestamp`.
    public func cosign(_ checkpoint: SignedCheckpoint, timestamp: UInt64) throws(LedgerError) -> Cosignature {
        try cosign(body: try splitNote(checkpoint.noteText).body, timestamp: timestamp)
    }
}

/// A checkpoint verified under the log's key, with the cosignature lines its note carries.
public struct CosignedCheckpoint: Sendable, Hashable {
    /// The checkpoint, verified under the log's key.
    public let checkpoint: SignedCheckpoint
    /// Every signature line after the log's that has the shape of a cosignature (not verified).
    public let cosignatures: [Cosignature]
    /// The note text the signatures cover.
    let body: [UInt8]

    /// Verifies the log's signature exactly as ``SignedCheckpoint/open(note:verifierKey:)-(_,VerifierKey)`` and
    /// collects the cosignature-shaped lines (other signature lines are ignored, as the
    /// signed-note spec requires of unknown keys).
    public static func open(note: String, verifierKey: VerifierKey) throws(LedgerError) -> CosignedCheckpoint {
        let checkpoint = try SignedCheckpoint.open(note: note, verifierKey: verifierKey)
        let (body, lines) = try splitNote(note)
        let cosignatures = lines.compactMap { line -> Cosignature? in
            if line.0 == verifierKey.name && line.1 == verifierKey.keyID { return nil }
            return Cosignature(name: line.0, keyID: line.1, blob: line.2)
        }
        return CosignedCheckpoint(checkpoint: checkpoint, cosignatures: cosignatures, body: body)
    }

    init(checkpoint: SignedCheckpoint, cosignatures: [Cosignature], body: [UInt8]) {
        self.checkpoint = checkpoint
        self.cosignatures = cosignatures
        self.body = body
    }

    /// The distinct keys among `witnesses` that cosigned this checkpoint with a valid
    /// signature, in the order given. A line that names one of the keys (name and key ID) but
    /// does not verify is ``BundleFault/cosignatureInvalid``: the signed-note spec says to
    /// reject the whole note then. Lines of other keys are ignored.
    public func validCosigners(among witnesses: [CosignerKey]) throws(LedgerError) -> [CosignerKey] {
        var valid: [CosignerKey] = []
        for witness in witnesses where !valid.contains(witness) {
            var verified = false
            for cosignature in cosignatures where cosignature.name == witness.name && cosignature.keyID == witness.keyID {
                guard witness.verifies(cosignature, body: body) else { throw .bundleInvalid(.cosignatureInvalid) }
                verified = true
            }
            if verified { valid.append(witness) }
        }
        return valid
    }

    /// The valid cosigners among `witnesses`, which must be at least `quorum` distinct keys;
    /// fewer is ``BundleFault/witnessQuorumNotMet``.
    public func requireQuorum(_ quorum: Int, of witnesses: [CosignerKey]) throws(LedgerError) -> [CosignerKey] {
        let valid = try validCosigners(among: witnesses)
        guard valid.count >= quorum else { throw .bundleInvalid(.witnessQuorumNotMet) }
        return valid
    }

    /// The note text with `cosignatures` appended as signature lines after the existing ones
    /// (lines already present are not repeated).
    public func adding(_ cosignatures: [Cosignature]) -> String {
        var note = checkpoint.noteText
        var present = Set(self.cosignatures)
        for cosignature in cosignatures where present.insert(cosignature).inserted {
            note += cosignature.line
        }
        return note
    }
}
