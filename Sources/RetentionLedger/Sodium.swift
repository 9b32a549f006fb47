import Glibc
internal import CVaultSodium

/// Calls `sodium_init()` once per process; libsodium makes repeated calls cheap and thread-safe,
/// and the static `let` makes the first one happen exactly once.
private let sodiumReady: Bool = sodium_init() >= 0

@inline(__always)
internal func ledgerSodiumInit() {
    precondition(sodiumReady, "libsodium failed to initialize")
}

// MARK: - Secrets in libsodium's memory

// The libsodium boundary for secrets: the pointer to a seed or secret key never leaves this
// file. SigningKey.swift works with `SecretBytes` values and the `Ed25519` calls below.

/// Bytes in sodium_malloc'ed memory (guard pages, mlock'ed, wiped by sodium_free on deinit),
/// for seeds and secret keys.
/// `@unchecked Sendable`: the memory is owned uniquely (`~Copyable`), and `SigningKey` touches
/// its secret only under its mutex.
struct SecretBytes: ~Copyable, @unchecked Sendable {
    fileprivate let base: UnsafeMutablePointer<UInt8>
    let count: Int

    /// `count` zeroed bytes, or ENOMEM (as an I/O error) when libsodium cannot map them.
    init(count: Int) throws(LedgerError) {
        ledgerSodiumInit()
        guard let raw = sodium_malloc(count) else { throw .io(.open, errno: ENOMEM) }
        // Initializing the fresh memory as bytes types it: no rebinding needed.
        base = raw.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        self.count = count
    }

    deinit { sodium_free(base) }

    /// One byte (a key-type tag); `index` must be below `count`.
    subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "SecretBytes index out of range")
        return base[index]
    }

    /// Fills the bytes from libsodium's CSPRNG.
    mutating func randomize() { randombytes_buf(base, count) }

    /// Decodes standard padded base64 `text` into these bytes; returns the decoded length, or
    /// nil if `text` is not base64 or does not fit. `text` is read in place (no String copy of a
    /// secret).
    mutating func decodeBase64(_ text: [UInt8]) -> Int? {
        var length = 0
        let status = text.withUnsafeBufferPointer { input in
            input.withMemoryRebound(to: CChar.self) { chars in
                sodium_base642bin(base, count, chars.baseAddress, chars.count, nil, &length, nil, Int32(sodium_base64_VARIANT_ORIGINAL))
            }
        }
        return status == 0 ? length : nil
    }
}

/// The Ed25519 and BLAKE2b calls the signing key makes on secrets. Offsets and sizes are
/// checked: a wrong one is a bug in the caller, never input from outside.
enum Ed25519 {
    /// Derives the key pair of the 32-byte seed at `seed[offset..<(offset + 32)]`: the 64-byte
    /// secret key (seed ‖ public key) goes into `secret`, the public key is returned.
    static func keyPair(seed: borrowing SecretBytes, at offset: Int = 0, into secret: inout SecretBytes) -> [UInt8] {
        precondition(offset >= 0 && seed.count >= offset + 32 && secret.count == 64)
        var publicKey = [UInt8](repeating: 0, count: 32)
        crypto_sign_seed_keypair(&publicKey, secret.base, seed.base + offset)
        return publicKey
    }

    /// Copies the 32-byte seed out of the 64-byte `secret` into `out[0..<32]`.
    static func seed(of secret: borrowing SecretBytes, into out: inout SecretBytes) {
        precondition(secret.count == 64 && out.count >= 32)
        crypto_sign_ed25519_sk_to_seed(out.base, secret.base)
    }

    /// The detached signature (64 bytes) of `message` under `secret`.
    static func sign(_ message: [UInt8], with secret: borrowing SecretBytes) -> [UInt8] {
        precondition(secret.count == 64)
        var signature = [UInt8](repeating: 0, count: 64)
        crypto_sign_detached(&signature, nil, message, UInt64(message.count), secret.base)
        return signature
    }

    /// BLAKE2b-256 of `message` keyed with `scratch[0..<32]`, written to `scratch[32..<64]`
    /// (the next seed of key evolution, derived from the current one in the same secret memory).
    static func deriveSeed(_ message: [UInt8], in scratch: inout SecretBytes) {
        precondition(scratch.count == 64)
        crypto_generichash(scratch.base + 32, 32, message, UInt64(message.count), scratch.base, 32)
    }

    /// Copies `secret`'s 32-byte seed into `out[offset..<(offset + 32)]`, a Swift array the
    /// caller wipes (saving a key file).
    static func seed(of secret: borrowing SecretBytes, into out: inout [UInt8], at offset: Int) throws(LedgerError) {
        precondition(offset >= 0 && out.count >= offset + 32)
        var seed = try SecretBytes(count: 32)
        Self.seed(of: secret, into: &seed)
        for index in 0..<32 { out[offset + index] = seed[index] }
    }
}
