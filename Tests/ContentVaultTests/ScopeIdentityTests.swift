import Testing
@testable import ContentVault
import RetentionVocabulary

@Suite("Scope ids and slot keys are random, distinct and non-zero")
struct ScopeIdentityTests {
    @Test("ids and slot keys are distinct and non-zero; a key slot holds exactly a key")
    func idsAreUnique() throws {
        let vault = try makeVault()
        var seenIDs = Set<RequestID>()
        var seenKeys = Set<[UInt8]>()
        for _ in 0..<2000 {
            let scope = try vault.openScope()
            #expect(scope.id != RequestID(high: 0, low: 0))
            #expect(seenIDs.insert(scope.id).inserted)
            try scope.append([1], to: .textInput)
            let key = scope.withStateForTesting { state in
                state.slots[.textInput]!.currentKey!.withBytes { Array($0) }
            }
            #expect(key.count == AEADAlgorithm.keyByteCount)
            #expect(key != [UInt8](repeating: 0, count: key.count))
            #expect(seenKeys.insert(key).inserted)
            scope.discard(reason: .completed)
        }
    }

    @Test("a scope opened under a vault-made id keeps that id")
    func givenID() throws {
        let vault = try makeVault()
        let id = try Vault.makeRequestID()
        let scope = try vault.openScope(requestID: id, timeToLive: nil)
        #expect(scope.id == id)
        scope.discard(reason: .completed)
    }
}

@Suite("Reads refuse a chunk list that lost chunks")
struct ChunkListTests {
    /// Found by FuzzSealedChunk: with every chunk removed, the streaming read ended cleanly.
    @Test("forEachChunk and withPlaintext refuse a slot whose chunks were removed")
    func emptiedSlot() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append([1, 2, 3], to: .completion)
        scope.withStateForTesting { state in state.slots[.completion]!.chunks.removeAll() }
        #expect(throws: VaultError.self) { try scope.forEachChunk(of: .completion) { _, _ in } }
        #expect(throws: VaultError.self) { try scope.withPlaintext(of: .completion) { _ in } }
        scope.discard(reason: .completed)
    }
}

/// The slot capacity behind a sealed chunk.
private func chunkCapacity(_ chunk: SealedChunk) -> Int {
    switch chunk.buffer {
    case .some(let buffer): return buffer.capacity
    case .none: return 0
    }
}

@Suite("Detached tags")
struct DetachedTagTests {
    @Test("a 4 KiB chunk takes a 4 KiB slot, and a flipped tag bit fails authentication", arguments: availableAEADs)
    func tagBesideTheChunk(aead: AEADAlgorithm) throws {
        let vault = try makeVault(aead: aead)
        let scope = try vault.openScope()
        try scope.append(content(4096), to: .audioInput)
        let capacity = scope.withStateForTesting { chunkCapacity($0.slots[.audioInput]!.chunks[0]) }
        #expect(capacity == 4096)
        scope.withStateForTesting { state in
            let chunk = state.slots[.audioInput]!.chunks[0]
            let buffer = chunk.buffer.take()!
            state.slots[.audioInput]!.chunks[0] = SealedChunk(
                buffer, plaintextCount: chunk.plaintextCount, generation: chunk.generation,
                tag: (chunk.tag.0 ^ 1, chunk.tag.1))
        }
        #expect(throws: VaultError.authenticationFailed(slot: .audioInput, chunk: 0)) {
            try scope.withPlaintext(of: .audioInput) { _ in }
        }
        scope.discard(reason: .completed)
        #expect(vault.statistics.pool.liveBuffers == 0)
    }
}
