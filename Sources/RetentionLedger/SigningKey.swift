// The ledger's Ed25519 signing key, kept in sodium_malloc'ed memory (guard pages, mlock'ed,
// wiped on free) and never copied into Swift arrays except transiently while saving or loading,
// where the buffers are wiped. Key files use the Go `golang.org/x/mod/sumdb/note` signer-key
// text so existing tooling can read them: `PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>`.

import Glibc
internal import CVaultSodium
import Synchronization
import VaultSystem

/// Ed25519 algorithm byte for signed-note keys (C2SP signed-note, key type 0x01).
let ed25519KeyType: UInt8 = 0x01

/// Domain separation for forward-secure seed evolution (Docs/LedgerFormat.md §6).
private let evolutionContext: [UInt8] = Array("zdr-ledger/key-evolution/v1".utf8)

/// Whether `name` is a valid signed-note key name (and checkpoint origin): 1–255 bytes of
/// printable ASCII without '+' or spaces.
func isValidKeyName(_ name: String) -> Bool {
    let utf8 = Array(name.utf8)
    guard (1...255).contains(utf8.count) else { return false }
    return utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "+") }
}

/// The 4-byte key ID of a signed-note Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[0..<4].
func noteKeyID(name: String, publicKey: [UInt8]) -> UInt32 {
    let digest = SHA256.hash(Array(name.utf8) + [0x0A, ed25519KeyType] + publicKey).bytes
    return UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
}

/// The parts of a C2SP vkey, `name+keyid+base64(type || 32-byte public key)`: the key ID as
/// 8 lowercase hex digits and the type byte `type` (0x01 for a log's key, 0x04 for a witness's
/// cosigner key), or nil. The caller builds its key from them and checks the key ID, which
/// depends on the type.
func parseVKey(_ text: String, type: UInt8) -> (name: String, keyID: UInt32, publicKey: [UInt8])? {
    let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, parts[1].utf8.count == 8, let id = UInt32(parts[1], radix: 16),
          parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }),
          let material = Base64.decode(parts[2]), material.count == 33, material[0] == type
    else { return nil }
    return (String(parts[0]), id, Array(material[1...]))
}

func hex8(_ value: UInt32) -> String {
    Hex.encode([UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
}

/// A signed-note verifier key, `name+keyid+base64(0x01 || public key)`.
public struct VerifierKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let keyID: UInt32
    /// The Ed25519 public key (32 bytes).
    public let publicKey: [UInt8]

    /// Builds a key from its parts; nil for an invalid name or key length.
    public init?(name: String, publicKey: [UInt8]) {
        guard isValidKeyName(name), publicKey.count == 32 else { return nil }
        self.name = name
        self.publicKey = publicKey
        self.keyID = noteKeyID(name: name, publicKey: publicKey)
    }

    /// Parses `name+keyid+base64`; the key ID must match the key, as in the signed-note spec.
    public init(_ text: String) throws(LedgerError) {
        guard let (name, id, publicKey) = parseVKey(text, type: ed25519KeyType),
              let key = VerifierKey(name: name, publicKey: publicKey), key.keyID == id
        else { throw .malformedKey }
        self = key
    }

    public var description: String {
        "\(name)+\(hex8(keyID))+\(Base64.encode([ed25519KeyType] + publicKey))"
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` under this key.
    public func isValidSignature(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        ledgerSodiumInit()
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// The secret half, in sodium_malloc'ed memory (freed, and so wiped, with the value). Only
/// ever touched under the key's mutex.
struct KeyMaterial: ~Copyable, Sendable {
    /// 64-byte libsodium Ed25519 secret key (seed || public key).
    var secret: SecretBytes
    var publicKey: [UInt8]
    var epoch: UInt32
}

/// An Ed25519 signing key for checkpoints, with optional forward-secure evolution.
public final class SigningKey: Sendable {
    /// The key name; it is also the ledger's checkpoint origin.
    public let name: String
    private let material: Mutex<KeyMaterial>

    /// The key of the 32-byte seed at `seed[offset..<(offset + 32)]`.
    private init(name: String, seed: borrowing SecretBytes, at offset: Int = 0, epoch: UInt32) throws(LedgerError) {
        var secret = try SecretBytes(count: 64)
        let publicKey = Ed25519.keyPair(seed: seed, at: offset, into: &secret)
        self.name = name
        self.material = Mutex(KeyMaterial(secret: secret, publicKey: publicKey, epoch: epoch))
    }

    /// A fresh key from libsodium's CSPRNG. `name` becomes the checkpoint origin: 1–255 printable
    /// ASCII bytes without '+' or spaces; use something globally unique such as
    /// `example.com/zdr-ledger` (C2SP recommends a schema-less URL).
    public static func generate(name: String = "zdr-ledger") throws(LedgerError) -> SigningKey {
        guard isValidKeyName(name) else { throw .malformedKey }
        var seed = try SecretBytes(count: 32)
        seed.randomize()
        return try SigningKey(name: name, seed: seed, epoch: 0)
    }

    /// Parses a Go signed-note signer key, `PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>`.
    public convenience init(signerKey text: String) throws(LedgerError) {
        var bytes = Array(text.utf8)
        defer { sodium_memzero(&bytes, bytes.count) }
        try self.init(signerKeyBytes: bytes)
    }

    /// Loads a key file written by `save(to:)`. Refuses anything but a regular file with mode 0600.
    public convenience init(loadingFrom path: String) throws(LedgerError) {
        let files = FileSystem.live
        let fd: Int32
        do { fd = try files.open(path, O_RDONLY | O_NOFOLLOW) } catch { throw .io(.open, errno: error.rawValue) }
        defer { files.close(fd) }
        let status: stat
        do { status = try files.status(fd) } catch { throw .io(.stat, errno: error.rawValue) }
        guard status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o777 == 0o600 else { throw .keyFilePermissions }
        guard status.st_size < 1024 else { throw .malformedKey }
        var buffer = [UInt8](repeating: 0, count: 1024)
        defer { sodium_memzero(&buffer, buffer.count) }
        var length = 0
        while length < buffer.count {
            let read: Int
            do { read = try files.read(fd, into: &buffer, from: length) } catch { throw .io(.read, errno: error.rawValue) }
            if read == 0 { break }
            length += read
        }
        var end = length
        while end > 0 && (buffer[end - 1] == 0x0A || buffer[end - 1] == 0x0D) { end -= 1 }
        var text = Array(buffer[0..<end])
        defer { sodium_memzero(&text, text.count) }
        try self.init(signerKeyBytes: text)
    }

    private convenience init(signerKeyBytes bytes: [UInt8]) throws(LedgerError) {
        let prefix = Array("PRIVATE+KEY+".utf8)
        guard bytes.count > prefix.count, Array(bytes[0..<prefix.count]) == prefix else { throw .malformedKey }
        let rest = bytes[prefix.count...]
        // name+keyid+base64: the base64 may itself contain '+', so split at the first two only.
        guard let firstPlus = rest.firstIndex(of: UInt8(ascii: "+")),
              let secondPlus = rest[(firstPlus + 1)...].firstIndex(of: UInt8(ascii: "+"))
        else { throw .malformedKey }
        let name = String(decoding: rest[rest.startIndex..<firstPlus], as: UTF8.self)
        let idText = String(decoding: rest[(firstPlus + 1)..<secondPlus], as: UTF8.self)
        let encoded = Array(rest[(secondPlus + 1)...])
        guard isValidKeyName(name), idText.utf8.count == 8, let keyID = UInt32(idText, radix: 16), encoded.count == 44 else {
            throw .malformedKey
        }
        var decoded = try SecretBytes(count: 33)
        guard decoded.decodeBase64(encoded) == 33, decoded[0] == ed25519KeyType else { throw .malformedKey }
        try self.init(name: name, seed: decoded, at: 1, epoch: 0)
        guard self.keyID == keyID else { throw .malformedKey }
    }

    /// The current public verifier key, `name+keyid+base64(0x01 || public key)`, for auditors
    /// to pin. With key evolution, pin the key as printed *before* the ledger first evolves it
    /// (epoch 0): later keys are reached through the ledger's rotation records.
    public var verifierKey: String { verifier.description }

    /// The current public key as a `VerifierKey`.
    public var verifier: VerifierKey {
        VerifierKey(name: name, publicKey: publicKey)!
    }

    /// The current Ed25519 public key (32 bytes).
    public var publicKey: [UInt8] { material.withLock { $0.publicKey } }

    /// The forward-security epoch (0 until the key is first evolved).
    public var epoch: UInt32 { material.withLock { $0.epoch } }

    var keyID: UInt32 { noteKeyID(name: name, publicKey: publicKey) }

    /// Writes the signer key text to `path` with mode 0600, atomically (temporary file, fsync,
    /// rename). Refuses to replace an existing file unless `overwrite` is set.
    public func save(to path: String, overwrite: Bool = false) throws(LedgerError) {
        if !overwrite {
            var existing = stat()
            if lstat(path, &existing) == 0 { throw .io(.open, errno: EEXIST) }
        }
        var text = try signerKeyText()
        defer { sodium_memzero(&text, text.count) }
        let temporary = path + ".tmp-\(getpid())"
        let files = FileSystem.live
        let fd: Int32
        do { fd = try files.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600) } catch {
            throw .io(.open, errno: error.rawValue)
        }
        var failure: LedgerError?
        if fchmod(fd, 0o600) != 0 { failure = .io(.write, errno: errno) }
        if failure == nil {
            do { try files.writeAll(fd, text) } catch { failure = .io(.write, errno: error.rawValue) }
        }
        if failure == nil {
            do { try files.fsync(fd) } catch { failure = .io(.sync, errno: error.rawValue) }
        }
        files.close(fd)
        if failure == nil {
            do { try files.rename(temporary, to: path) } catch { failure = .io(.rename, errno: error.rawValue) }
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        syncParentDirectory(of: path)
    }

    /// `PRIVATE+KEY+name+keyid+base64(0x01 || seed)\n`; the caller wipes the result.
    private func signerKeyText() throws(LedgerError) -> [UInt8] {
        var out = Array("PRIVATE+KEY+\(name)+\(hex8(keyID))+".utf8)
        try material.withLock { (key: inout KeyMaterial) throws(LedgerError) in
            var raw = [UInt8](repeating: 0, count: 33)
            raw[0] = ed25519KeyType
            try Ed25519.seed(of: key.secret, into: &raw, at: 1)
            var encoded = [CChar](repeating: 0, count: 64)
            sodium_bin2base64(&encoded, encoded.count, raw, raw.count, Int32(sodium_base64_VARIANT_ORIGINAL))
            out.append(contentsOf: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) })
            sodium_memzero(&raw, raw.count)
            sodium_memzero(&encoded, encoded.count)
        }
        out.append(0x0A)
        return out
    }

    /// Ed25519 signature of `message` under the current key.
    func sign(_ message: [UInt8]) -> [UInt8] {
        material.withLock { key in Ed25519.sign(message, with: key.secret) }
    }

    /// Forward security: derives the next seed as BLAKE2b-256 keyed with the current seed over
    /// `context || next epoch (u32 BE)`, signs the rotation statement with the old key, then
    /// replaces (and so wipes) the old secret. Returns the new epoch, public key and signature.
    func evolve(treeSize: UInt64) throws(LedgerError) -> KeyRotationRecord {
        try material.withLock { (key: inout KeyMaterial) throws(LedgerError) -> KeyRotationRecord in
            let nextEpoch = key.epoch &+ 1
            // scratch[0..<32] = current seed, scratch[32..<64] = next seed.
            var scratch = try SecretBytes(count: 64)
            Ed25519.seed(of: key.secret, into: &scratch)
            var message = evolutionContext
            message += [UInt8(nextEpoch >> 24), UInt8(truncatingIfNeeded: nextEpoch >> 16), UInt8(truncatingIfNeeded: nextEpoch >> 8), UInt8(truncatingIfNeeded: nextEpoch)]
            Ed25519.deriveSeed(message, in: &scratch)
            var newSecret = try SecretBytes(count: 64)
            let newPublicKey = Ed25519.keyPair(seed: scratch, at: 32, into: &newSecret)
            let statement = keyRotationStatement(epoch: nextEpoch, newPublicKey: newPublicKey, treeSize: treeSize)
            let signature = Ed25519.sign(statement, with: key.secret)
            // Assigning drops the old KeyMaterial, whose SecretBytes sodium_free()s (wipes) the old secret.
            key = KeyMaterial(secret: newSecret, publicKey: newPublicKey, epoch: nextEpoch)
            return KeyRotationRecord(epoch: nextEpoch, newPublicKey: newPublicKey, treeSize: treeSize, signature: signature)
        }
    }
}

/// The bytes a key-rotation signature covers (Docs/LedgerFormat.md §6).
func keyRotationStatement(epoch: UInt32, newPublicKey: [UInt8], treeSize: UInt64) -> [UInt8] {
    RecordEncoder.bytes { out in
        out.raw(Array("zdr-ledger/key-rotation/v1\n".utf8))
        out.u32(epoch)
        out.raw(newPublicKey)
        out.u64(treeSize)
    }
}

/// Makes a rename or creation in `path`'s directory durable.
func syncParentDirectory(of path: String) {
    var directory = path
    if let slash = directory.lastIndex(of: "/") {
        directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
    } else {
        directory = "."
    }
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
        fsync(fd)
        close(fd)
    }
}

extension SigningKey {
    /// Records which epoch a loaded key belongs to (key files do not store it; the ledger's
    /// rotation chain does).
    func assumeEpoch(_ epoch: UInt32) {
        material.withLock { $0.epoch = epoch }
    }
}
