/// A locked buffer in a class box, so arrays and dictionaries can hold it and discard can take
/// it out for an explicit, verified release. Only touched under the owning scope's lock, which
/// is what makes the `@unchecked Sendable` true.
final class KeyBox: @unchecked Sendable {
    /// Unchecked: only touched under the scope's lock, which already serializes every access;
    /// the runtime check cost a thread-local lookup per access on the hot path.
    @exclusivity(unchecked) var buffer: LockedBuffer?
    /// The slot key generation this key seals.
    let generation: UInt32

    init(_ buffer: consuming LockedBuffer, generation: UInt32) {
        self.buffer = .some(buffer)
        self.generation = generation
    }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        buffer!.withUnsafeBytes(body)
    }
}

/// One sealed chunk: the ciphertext in locked memory (as long as the plaintext, at least one
/// byte) and its authentication tag beside it (not secret).
final class SealedChunk: @unchecked Sendable {
    /// Unchecked for the reason given on ``KeyBox/buffer``.
    @exclusivity(unchecked) var buffer: LockedBuffer?
    let plaintextCount: Int
    let generation: UInt32
    let tag: (UInt64, UInt64)

    init(_ buffer: consuming LockedBuffer, plaintextCount: Int, generation: UInt32, tag: (UInt64, UInt64)) {
        self.buffer = .some(buffer)
        self.plaintextCount = plaintextCount
        self.generation = generation
        self.tag = tag
    }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        buffer!.withUnsafeBytes(body)
    }
}

/// A decrypted chunk in locked scratch (wiped when this value ends).
struct DecryptedChunk: ~Copyable {
    var scratch: LockedBuffer
    let plaintextCount: Int
}
