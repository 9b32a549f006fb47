internal import CVaultSodium
import RetentionVocabulary

/// Sealing and opening chunks: the scope's AEAD calls and the locked buffers they write into.
extension RequestScope {
    func seal(_ bytes: UnsafeRawBufferPointer, into dataClass: DataClass, final: Bool) throws(VaultError) {
        let algorithm = aead
        let limit = perKeyByteLimit
        guard bytes.count <= limit else { throw .chunkTooLarge(byteCount: bytes.count, limit: limit) }
        try withOpenState { (state: inout ScopeState) throws(VaultError) in
            // Changed in place through the table's `default:` subscript: the chunk array stays
            // uniquely referenced so appends are O(1) (a copy of the slot made every append copy
            // the whole stream: quadratic, measured on a 1 MiB stream).
            try Self.seal(
                bytes, into: &state.slots[dataClass, default: SlotState()], dataClass: dataClass,
                requestID: id, final: final, algorithm: algorithm, limit: limit, pool: pool)
            state.recordSealed(bytes.count)
        }
    }

    /// Seals one chunk into `slot` (the caller holds the scope's lock).
    private static func seal(
        _ bytes: UnsafeRawBufferPointer, into slot: inout SlotState, dataClass: DataClass, requestID: RequestID,
        final: Bool, algorithm: AEADAlgorithm, limit: Int, pool: SecureMemoryPool
    ) throws(VaultError) {
        guard !slot.finished else { throw .slotFinished(slot: dataClass) }
        // Rotate before the current key would pass its byte limit.
        if slot.currentKey == nil || slot.bytesUnderCurrentKey > limit - bytes.count {
            try ScopeState.rotateKey(&slot, dataClass: dataClass, pool: pool)
        }
        let generation = slot.generation
        let index = UInt64(slot.chunks.count)
        var chunk: LockedBuffer
        // Ciphertext only (the tag is kept beside it); at least one byte, as the pool hands out.
        chunk = try allocateLocked(pool, byteCount: max(bytes.count, 1), purpose: .content)
        var tag: AEAD.Tag = (0, 0)
        let sealed = AEAD.seal(
            algorithm, bytes, into: &chunk, tag: &tag,
            nonce: AEAD.nonce(algorithm, prefix: slot.noncePrefix, index: index),
            associatedData: AEAD.associatedData(request: requestID, dataClass: dataClass, index: index, isFinal: final),
            key: slot.currentKey!.buffer!)
        guard sealed else { throw .sealFailed(slot: dataClass) }
        slot.chunks.append(SealedChunk(chunk, plaintextCount: bytes.count, generation: generation, tag: tag))
        slot.plaintextBytes += bytes.count
        slot.bytesUnderCurrentKey += bytes.count
        slot.finished = final
    }

    /// Opens chunk `index` of `slot` into `output` (which has room for its plaintext).
    private func open(
        _ slot: SlotState, dataClass: DataClass, index: Int, into output: UnsafeMutableRawBufferPointer
    ) throws(VaultError) {
        let chunk = slot.chunks[index]
        guard let key = slot.key(generation: chunk.generation) else { throw .authenticationFailed(slot: dataClass, chunk: index) }
        let algorithm = aead
        let isFinal = slot.finished && index == slot.chunks.count - 1
        // The output is sized from the recorded plaintext length; a buffer of any other length
        // is not this chunk (and AES-GCM writes before it verifies).
        guard chunk.withBytes({ $0.count }) == max(chunk.plaintextCount, 1) else {
            throw .authenticationFailed(slot: dataClass, chunk: index)
        }
        let opened = AEAD.open(
            algorithm, chunk.buffer!, length: chunk.plaintextCount, tag: chunk.tag,
            nonce: AEAD.nonce(algorithm, prefix: slot.noncePrefix, index: UInt64(index)),
            associatedData: AEAD.associatedData(request: id, dataClass: dataClass, index: UInt64(index), isFinal: isFinal),
            key: key.buffer!, into: output)
        guard opened else { throw .authenticationFailed(slot: dataClass, chunk: index) }
    }

    /// The whole slot decrypted into one locked scratch buffer, or nil when the slot is empty.
    ///
    /// The scratch is sized from the chunk list as it is now, and that size must equal the bytes
    /// counted when sealing: a chunk list that was duplicated, reordered or cut (found by
    /// FuzzSealedChunk) is refused before anything is written, instead of being opened into a
    /// scratch sized from the old count. Every chunk is opened, empty ones too, so a slot of only
    /// empty chunks is still authenticated.
    func decryptSlot(_ dataClass: DataClass) throws(VaultError) -> LockedBuffer? {
        let pool = self.pool
        return try withOpenState { (state: inout ScopeState) throws(VaultError) -> LockedBuffer? in
            guard let slot = state.slots[dataClass], !slot.chunks.isEmpty || slot.plaintextBytes > 0 else { return nil }
            let listed = slot.chunks.reduce(0) { $0 + $1.plaintextCount }
            guard listed == slot.plaintextBytes, !slot.chunks.isEmpty else {
                throw .authenticationFailed(slot: dataClass, chunk: slot.chunks.count)
            }
            var scratch: LockedBuffer
            scratch = try allocateLocked(pool, byteCount: max(listed, 1), purpose: .scratch)
            try scratch.withUnsafeMutableBytes { (output) throws(VaultError) in
                var offset = 0
                for index in slot.chunks.indices {
                    // On failure `scratch` (partly filled) is wiped by its deinit as the error leaves.
                    try open(slot, dataClass: dataClass, index: index, into: UnsafeMutableRawBufferPointer(rebasing: output[offset...]))
                    offset += slot.chunks[index].plaintextCount
                }
            }
            guard listed > 0 else { return nil }
            scratch.truncate(to: listed)
            return scratch
        }
    }

    /// Chunk `index` decrypted into locked scratch (at least 1 byte, so an empty chunk fits),
    /// with its plaintext length; nil past the last chunk.
    func decryptChunk(_ dataClass: DataClass, at index: Int) throws(VaultError) -> DecryptedChunk? {
        let pool = self.pool
        return try withOpenState { (state: inout ScopeState) throws(VaultError) -> DecryptedChunk? in
            guard let slot = state.slots[dataClass] else { return nil }
            guard index < slot.chunks.count else {
                // The end of the list must account for every byte sealed into it: a list with
                // chunks removed (found by FuzzSealedChunk: all removed) is not a clean end.
                let listed = slot.chunks.reduce(0) { $0 + $1.plaintextCount }
                guard listed == slot.plaintextBytes else {
                    throw .authenticationFailed(slot: dataClass, chunk: index)
                }
                return nil
            }
            let count = slot.chunks[index].plaintextCount
            var scratch: LockedBuffer
            scratch = try allocateLocked(pool, byteCount: max(count, 1), purpose: .scratch)
            try scratch.withUnsafeMutableBytes { (output) throws(VaultError) in
                try open(slot, dataClass: dataClass, index: index, into: output)
            }
            return DecryptedChunk(scratch: scratch, plaintextCount: count)
        }
    }
}

/// `pool.allocate` with the error wrapped for the vault. `purpose` keeps keys, sealed chunks
/// and plaintext scratch in separate regions (see ``MemoryPurpose``).
@inline(__always)
func allocateLocked(_ pool: SecureMemoryPool, byteCount: Int, purpose: MemoryPurpose) throws(VaultError) -> LockedBuffer {
    do throws(LockedMemoryError) {
        return try pool.allocate(byteCount: byteCount, purpose: purpose)
    } catch {
        throw .memory(error)
    }
}
