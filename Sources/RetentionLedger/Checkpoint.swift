// C2SP tlog-checkpoint bodies inside C2SP signed notes, signed with Ed25519 (key type 0x01).
// The ledger stores only the signature in its checkpoint record; the note text is rebuilt from
// the origin (file header), the tree size and the root hash, byte for byte.

/// "— " (U+2014 EM DASH, then a space) starts every signed-note signature line.
private let signatureLinePrefix: [UInt8] = [0xE2, 0x80, 0x94, 0x20]

/// Most bytes a note may have; anything larger is refused before parsing.
private let maximumNoteBytes = 16 * 1024

/// The checkpoint body: `<origin>\n<tree size>\n<base64 root hash>\n`.
func checkpointBody(origin: String, treeSize: UInt64, rootHash: [UInt8]) -> [UInt8] {
    Array("\(origin)\n\(treeSize)\n\(Base64.encode(rootHash))\n".utf8)
}

/// A signed-note signature line for `body` under `key`.
func signatureLine(keyName: String, keyID: UInt32, signature: [UInt8]) -> String {
    let idBytes = [UInt8(keyID >> 24), UInt8(truncatingIfNeeded: keyID >> 16), UInt8(truncatingIfNeeded: keyID >> 8), UInt8(truncatingIfNeeded: keyID)]
    return "\u{2014} \(keyName) \(Base64.encode(idBytes + signature))\n"
}

/// A signed checkpoint: the signed note text and what it commits to.
public struct SignedCheckpoint: Sendable, Hashable {
    /// The log origin (the signing key's name).
    public let origin: String
    /// Number of records the checkpoint covers.
    public let treeSize: UInt64
    /// RFC 6962 root hash of those records (32 bytes).
    public let rootHash: [UInt8]
    /// The complete C2SP signed note (checkpoint body, blank line, signature line).
    public let noteText: String

    init(origin: String, treeSize: UInt64, rootHash: [UInt8], keyName: String, keyID: UInt32, signature: [UInt8]) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        let body = String(decoding: checkpointBody(origin: origin, treeSize: treeSize, rootHash: rootHash), as: UTF8.self)
        self.noteText = body + "\n" + signatureLine(keyName: keyName, keyID: keyID, signature: signature)
    }

    private init(origin: String, treeSize: UInt64, rootHash: [UInt8], noteText: String) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.noteText = noteText
    }

    /// Verifies a signed note under `verifierKey` (a signature line with the key's name and ID
    /// must verify; other signatures are ignored, as the signed-note spec allows) and parses the
    /// checkpoint body. Extension lines after the root hash are permitted and ignored.
    public static func open(note: String, verifierKey: VerifierKey) throws(LedgerError) -> SignedCheckpoint {
        let (body, signatures) = try splitNote(note)
        var verified = false
        for (name, keyID, signature) in signatures where name == verifierKey.name && keyID == verifierKey.keyID {
            if verifierKey.isValidSignature(signature, of: body) { verified = true }
        }
        guard verified else { throw .bundleInvalid(.checkpointSignatureInvalid) }
        let lines = body.split(separator: 0x0A, omittingEmptySubsequences: false)
        // body ends with "\n", so the split yields a trailing empty element.
        guard lines.count >= 4, let origin = Optional(String(decoding: lines[0], as: UTF8.self)), isValidOrigin(origin),
              let size = parseDecimal(lines[1]),
              let root = Base64.decode(String(decoding: lines[2], as: UTF8.self)), root.count == 32
        else { throw .bundleInvalid(.malformedCheckpoint) }
        return SignedCheckpoint(origin: origin, treeSize: size, rootHash: root, noteText: note)
    }

    /// As ``open(note:verifierKey:)``, and the note must be what this ledger writes: the three
    /// checkpoint lines and the signature line by `verifierKey`, then at most
    /// `maximumCosignatureLines` cosignature lines (C2SP tlog-cosignature: a valid key name and
    /// exactly key ID, timestamp and Ed25519 signature, each rendered canonically, none
    /// repeated). Extension lines and other signatures, which the signed-note format permits,
    /// would be a channel for free text in a receipt bundle: refused as
    /// ``BundleFault/notCanonical``. The cosignatures are returned unverified.
    static func openCanonical(note: String, verifierKey: VerifierKey) throws(LedgerError) -> (SignedCheckpoint, [Cosignature]) {
        let signed = try open(note: note, verifierKey: verifierKey)
        let (_, signatures) = try splitNote(note)
        guard let (_, _, signature) = signatures.first, signatures.count <= 1 + maximumCosignatureLines else {
            throw .bundleInvalid(.notCanonical)
        }
        var canonical = SignedCheckpoint(origin: signed.origin, treeSize: signed.treeSize, rootHash: signed.rootHash,
                                         keyName: verifierKey.name, keyID: verifierKey.keyID, signature: signature).noteText
        var cosignatures: [Cosignature] = []
        for (name, keyID, blob) in signatures.dropFirst() {
            guard let cosignature = Cosignature(name: name, keyID: keyID, blob: blob), !cosignatures.contains(cosignature),
                  name != verifierKey.name || keyID != verifierKey.keyID
            else { throw .bundleInvalid(.notCanonical) }
            cosignatures.append(cosignature)
            canonical += cosignature.line
        }
        guard canonical == note else { throw .bundleInvalid(.notCanonical) }
        return (signed, cosignatures)
    }

    /// The checkpoint body of `note` parsed without checking any signature: only for a
    /// monitor's own state file, which it wrote after verifying the note (a later epoch's key
    /// may have signed it, which the pinned key alone cannot check).
    public static func parseUnverified(note: String) throws(LedgerError) -> SignedCheckpoint {
        let (body, _) = try splitNote(note)
        let lines = body.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count >= 4, let origin = Optional(String(decoding: lines[0], as: UTF8.self)), isValidOrigin(origin),
              let size = parseDecimal(lines[1]),
              let root = Base64.decode(String(decoding: lines[2], as: UTF8.self)), root.count == 32
        else { throw .bundleInvalid(.malformedCheckpoint) }
        return SignedCheckpoint(origin: origin, treeSize: size, rootHash: root, noteText: note)
    }

    /// Convenience: parses `verifierKey` (`name+keyid+base64`) first.
    public static func open(note: String, verifierKey: String) throws(LedgerError) -> SignedCheckpoint {
        try open(note: note, verifierKey: VerifierKey(verifierKey))
    }
}

/// Origins are non-empty single lines of printable UTF-8; we accept printable ASCII only.
func isValidOrigin(_ origin: String) -> Bool {
    !origin.isEmpty && origin.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
}

/// Canonical decimal (no sign, no leading zeros), as tlog-checkpoint requires.
func parseDecimal(_ bytes: some Collection<UInt8>) -> UInt64? {
    guard !bytes.isEmpty, bytes.count <= 20, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    if bytes.count > 1 && bytes.first == 0x30 { return nil }
    return UInt64(String(decoding: bytes, as: UTF8.self))
}

/// Splits a signed note into its signed text (ending in "\n") and its signature lines.
func splitNote(_ note: String) throws(LedgerError) -> (body: [UInt8], signatures: [(String, UInt32, [UInt8])]) {
    let bytes = Array(note.utf8)
    guard bytes.count <= maximumNoteBytes, bytes.last == 0x0A else { throw .bundleInvalid(.malformedCheckpoint) }
    // The text ends at the last "\n\n": everything after is signature lines.
    var split: Int?
    var index = bytes.count - 2
    while index >= 0 {
        if bytes[index] == 0x0A && bytes[index + 1] == 0x0A { split = index; break }
        index -= 1
    }
    guard let split else { throw .bundleInvalid(.malformedCheckpoint) }
    let body = Array(bytes[0...split])
    // Control characters other than newline are not allowed in the text.
    guard body.allSatisfy({ $0 >= 0x20 || $0 == 0x0A }) else { throw .bundleInvalid(.malformedCheckpoint) }
    return (body, try parseSignatureLines(bytes[(split + 2)...]))
}

/// Parses newline-terminated signed-note signature lines (`— name base64(keyid || sig)\n`),
/// at least one; anything else is ``BundleFault/malformedCheckpoint``.
func parseSignatureLines(_ bytes: ArraySlice<UInt8>) throws(LedgerError) -> [(String, UInt32, [UInt8])] {
    guard bytes.count <= maximumNoteBytes, bytes.last == 0x0A else { throw .bundleInvalid(.malformedCheckpoint) }
    var signatures: [(String, UInt32, [UInt8])] = []
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
    guard !lines.isEmpty else { throw .bundleInvalid(.malformedCheckpoint) }
    for line in lines {
        let lineBytes = Array(line)
        guard lineBytes.count > signatureLinePrefix.count, Array(lineBytes[0..<4]) == signatureLinePrefix else {
            throw .bundleInvalid(.malformedCheckpoint)
        }
        let rest = lineBytes[4...]
        guard let space = rest.lastIndex(of: 0x20) else { throw .bundleInvalid(.malformedCheckpoint) }
        let name = String(decoding: rest[rest.startIndex..<space], as: UTF8.self)
        guard let blob = Base64.decode(String(decoding: rest[(space + 1)...], as: UTF8.self)), blob.count >= 5 else {
            throw .bundleInvalid(.malformedCheckpoint)
        }
        let keyID = UInt32(blob[0]) << 24 | UInt32(blob[1]) << 16 | UInt32(blob[2]) << 8 | UInt32(blob[3])
        signatures.append((name, keyID, Array(blob[4...])))
    }
    return signatures
}
