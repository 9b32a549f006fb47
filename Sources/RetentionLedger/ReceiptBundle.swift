public import RetentionVocabulary
// The discard-receipt bundle (Docs/LedgerFormat.md §7): everything an auditor needs to check one
// discard offline with only the pinned verifier key and any RFC 6962 + signed-note code.

import FoundationEssentials

/// A discard receipt with its inclusion proof and a signed checkpoint covering it.
public struct ReceiptBundle: Sendable, Hashable {
    /// The receipt's canonical record bytes.
    public var record: [UInt8]
    public var leafIndex: UInt64
    public var treeSize: UInt64
    /// RFC 9162 inclusion proof, 32-byte hashes, leaf to root.
    public var inclusionProof: [[UInt8]]
    /// The C2SP signed note of the checkpoint (tree size `treeSize`).
    public var checkpoint: String
    /// Key-rotation records (canonical bytes) leading from the pinned key to the checkpoint's
    /// key, oldest first; empty without forward security.
    public var keyRotations: [[UInt8]]
    /// The software-identity record in force when the receipt was recorded (the last kind-9
    /// record before it), with its own inclusion proof under the same checkpoint; `nil` when
    /// the log recorded no identity before the receipt.
    public var softwareIdentity: SoftwareIdentityProof?

    public init(
        record: [UInt8], leafIndex: UInt64, treeSize: UInt64, inclusionProof: [[UInt8]], checkpoint: String,
        keyRotations: [[UInt8]] = [], softwareIdentity: SoftwareIdentityProof? = nil
    ) {
        self.record = record
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.inclusionProof = inclusionProof
        self.checkpoint = checkpoint
        self.keyRotations = keyRotations
        self.softwareIdentity = softwareIdentity
    }

    /// The bundle as one JSON object, keys in a fixed order. `key_rotations` appears only
    /// when non-empty and `software_identity` only when present, so a bundle without key
    /// evolution or identity has exactly the five standard keys.
    public var json: String {
        var out = "{\"record\":\"\(Base64.encode(record))\",\"leaf_index\":\(leafIndex),\"tree_size\":\(treeSize),"
        out += "\"inclusion_proof\":" + Self.hashArray(inclusionProof) + ","
        out += "\"checkpoint\":" + jsonString(checkpoint)
        if !keyRotations.isEmpty {
            out += ",\"key_rotations\":" + Self.hashArray(keyRotations)
        }
        if let identity = softwareIdentity {
            out += ",\"software_identity\":{\"record\":\"\(Base64.encode(identity.record))\",\"leaf_index\":\(identity.leafIndex),"
            out += "\"inclusion_proof\":" + Self.hashArray(identity.inclusionProof) + "}"
        }
        return out + "}"
    }

    private static func hashArray(_ elements: [[UInt8]]) -> String {
        "[" + elements.map { "\"\(Base64.encode($0))\"" }.joined(separator: ",") + "]"
    }

    private struct Wire: Decodable {
        var record: String
        var leaf_index: UInt64
        var tree_size: UInt64
        var inclusion_proof: [String]
        var checkpoint: String
        var key_rotations: [String]?
        var software_identity: IdentityWire?
    }

    private struct IdentityWire: Decodable {
        var record: String
        var leaf_index: UInt64
        var inclusion_proof: [String]
    }

    private static func decodeProof(_ elements: [String]) throws(LedgerError) -> [[UInt8]] {
        var proof: [[UInt8]] = []
        for element in elements {
            guard let hash = Base64.decode(element), hash.count == 32 else { throw .bundleInvalid(.malformedProof) }
            proof.append(hash)
        }
        return proof
    }

    /// Parses bundle JSON (no verification). Only the canonical form ``json`` produces is
    /// accepted (one trailing newline aside): known keys in their fixed order, no whitespace, no
    /// extra field, so a bundle cannot carry text beside what it proves.
    public init(json: String) throws(LedgerError) {
        guard json.utf8.count <= 256 * 1024 else { throw .bundleInvalid(.malformedJSON) }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(json.utf8))
        } catch {
            throw .bundleInvalid(.malformedJSON)
        }
        guard let record = Base64.decode(wire.record) else { throw .bundleInvalid(.malformedRecord) }
        let proof = try Self.decodeProof(wire.inclusion_proof)
        var rotations: [[UInt8]] = []
        for element in wire.key_rotations ?? [] {
            guard let bytes = Base64.decode(element) else { throw .bundleInvalid(.keyChainInvalid) }
            rotations.append(bytes)
        }
        var identity: SoftwareIdentityProof?
        if let wired = wire.software_identity {
            guard let bytes = Base64.decode(wired.record) else { throw .bundleInvalid(.softwareIdentityInvalid) }
            identity = SoftwareIdentityProof(record: bytes, leafIndex: wired.leaf_index, inclusionProof: try Self.decodeProof(wired.inclusion_proof))
        }
        self.init(record: record, leafIndex: wire.leaf_index, treeSize: wire.tree_size, inclusionProof: proof,
                  checkpoint: wire.checkpoint, keyRotations: rotations, softwareIdentity: identity)
        let canonical = self.json
        guard json == canonical || json == canonical + "\n" else { throw .bundleInvalid(.notCanonical) }
    }

    /// Verifies a bundle with only the pinned verifier key: follows the key chain, checks the
    /// checkpoint signature and origin, then the inclusion proof against the checkpoint's root.
    public static func verify(json: String, verifierKey: String, origin: String? = nil) throws(LedgerError) -> VerifiedReceipt {
        try ReceiptBundle(json: json).verify(verifierKey: VerifierKey(verifierKey), origin: origin)
    }

    /// Verifies this bundle under the pinned `verifierKey`. The checkpoint's origin must be
    /// `origin`, by default the key's name (this ledger names its log after its key): a valid
    /// signature over another log's checkpoint proves nothing about this one.
    public func verify(verifierKey: VerifierKey, origin: String? = nil) throws(LedgerError) -> VerifiedReceipt {
        try verify(verifierKey: verifierKey, origin: origin, witnesses: [], quorum: 0)
    }

    /// As ``verify(verifierKey:origin:)``, and the checkpoint must carry valid cosignatures
    /// (C2SP tlog-cosignature) from at least `quorum` distinct keys among `witnesses`: fewer is
    /// ``BundleFault/witnessQuorumNotMet``, and a cosignature line of one of these keys that
    /// does not verify is ``BundleFault/cosignatureInvalid``. Lines of other keys are ignored.
    public func verify(
        verifierKey: VerifierKey, origin: String? = nil, witnesses: [CosignerKey], quorum: Int
    ) throws(LedgerError) -> VerifiedReceipt {
        var key = verifierKey
        var epoch: UInt32 = 0
        for bytes in keyRotations {
            guard let record = try? LedgerRecord(canonicalBytes: bytes), case .keyRotation(let rotation) = record.body,
                  rotation.epoch == epoch + 1,
                  key.isValidSignature(rotation.signature, of: keyRotationStatement(epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, treeSize: rotation.treeSize)),
                  let next = VerifierKey(name: key.name, publicKey: rotation.newPublicKey)
            else { throw .bundleInvalid(.keyChainInvalid) }
            key = next
            epoch = rotation.epoch
        }
        let (signed, cosignatures) = try SignedCheckpoint.openCanonical(note: checkpoint, verifierKey: key)
        guard signed.origin == (origin ?? verifierKey.name) else { throw .bundleInvalid(.originMismatch) }
        let cosigned = CosignedCheckpoint(checkpoint: signed, cosignatures: cosignatures, body: try splitNote(checkpoint).body)
        let cosigners = try cosigned.requireQuorum(quorum, of: witnesses)
        guard signed.treeSize == treeSize else { throw .bundleInvalid(.malformedCheckpoint) }
        guard leafIndex < treeSize else { throw .bundleInvalid(.leafOutsideTree) }
        guard let decoded = try? LedgerRecord(canonicalBytes: record) else { throw .bundleInvalid(.malformedRecord) }
        guard case .discardReceipt(let receipt) = decoded.body else { throw .bundleInvalid(.notADiscardReceipt) }
        guard MerkleProofs.verifyInclusion(
            leafIndex: leafIndex, treeSize: treeSize, leafHash: MerkleProofs.leafHash(record), proof: inclusionProof,
            root: signed.rootHash)
        else { throw .bundleInvalid(.inclusionProofInvalid) }
        let identity = try softwareIdentity.map { (proof) throws(LedgerError) in try proof.verify(before: leafIndex, under: signed) }
        return VerifiedReceipt(receipt: receipt, recordedAt: decoded.recordedAt, leafIndex: leafIndex, checkpoint: signed, keyEpoch: epoch,
                               cosigners: cosigners, softwareIdentity: identity)
    }
}

/// A software-identity record (kind 9) and its RFC 9162 inclusion proof under a receipt
/// bundle's checkpoint: what the log says was running when the receipt was recorded.
///
/// The proof shows the record is in the signed log before the receipt; that it is the *last*
/// identity record before it (the one in force) is what ``LedgerVerifier/identityTally(path:)``
/// checks over the whole log (`zdr ledger verify --expect-binary`). The identity is the host's
/// own report until it is bound to hardware attestation (Docs/ThreatModel.md).
public struct SoftwareIdentityProof: Sendable, Hashable {
    /// The identity record's canonical bytes.
    public var record: [UInt8]
    public var leafIndex: UInt64
    /// RFC 9162 inclusion proof, 32-byte hashes, leaf to root of the bundle's checkpoint.
    public var inclusionProof: [[UInt8]]

    public init(record: [UInt8], leafIndex: UInt64, inclusionProof: [[UInt8]]) {
        self.record = record
        self.leafIndex = leafIndex
        self.inclusionProof = inclusionProof
    }

    /// The identity, once its record decodes as kind 9, precedes `receiptIndex`, and its
    /// proof leads to `checkpoint`'s root; otherwise ``BundleFault/softwareIdentityInvalid``.
    func verify(before receiptIndex: UInt64, under checkpoint: SignedCheckpoint) throws(LedgerError) -> VerifiedSoftwareIdentity {
        guard leafIndex < receiptIndex,
              let decoded = try? LedgerRecord(canonicalBytes: record), case .softwareIdentity(let identity) = decoded.body,
              MerkleProofs.verifyInclusion(
                  leafIndex: leafIndex, treeSize: checkpoint.treeSize, leafHash: MerkleProofs.leafHash(record),
                  proof: inclusionProof, root: checkpoint.rootHash)
        else { throw .bundleInvalid(.softwareIdentityInvalid) }
        return VerifiedSoftwareIdentity(identity: identity, leafIndex: leafIndex, recordedAt: decoded.recordedAt)
    }
}

/// A software identity whose inclusion under a receipt's checkpoint has been verified.
public struct VerifiedSoftwareIdentity: Sendable, Hashable {
    public let identity: SoftwareIdentityRecord
    public let leafIndex: UInt64
    public let recordedAt: Timestamp
}

/// A receipt whose inclusion under a signed checkpoint has been verified.
public struct VerifiedReceipt: Sendable, Hashable {
    public let receipt: DiscardReceipt
    public let recordedAt: Timestamp
    public let leafIndex: UInt64
    public let checkpoint: SignedCheckpoint
    /// The key epoch that signed the checkpoint (0 without forward security).
    public let keyEpoch: UInt32
    /// The pinned witness keys whose cosignatures on the checkpoint verified (empty when none
    /// were asked for).
    public let cosigners: [CosignerKey]
    /// The software identity the bundle names, verified; `nil` when it names none.
    public let softwareIdentity: VerifiedSoftwareIdentity?
}

/// A JSON string literal for `text` (escapes quotes, backslashes and control characters).
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
