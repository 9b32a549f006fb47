// Needs the scope's test hook (`withStateForTesting`), so ContentVault is imported @testable:
// the replay tests get testability from `swift test`, the fuzz build passes -enable-testing.
@testable import ContentVault
import RetentionVocabulary
import RetentionLedger

/// Sealed chunks opened after tampering with the vault's own memory: bits flipped in the
/// ciphertext or the tag, chunks reordered, dropped, duplicated, or swapped with another slot's
/// or another request's. The slot under test holds 1–4 chunks, the last sealed `final`.
///
/// Properties: opening returns the original plaintext exactly when the chunk sequence is the
/// original one with no net bit flip; otherwise it throws `authenticationFailed` naming the
/// first chunk out of place (for a stream cut short: its new last chunk; for a list whose
/// lengths no longer add up, the whole-slot read may name the position past the end), and
/// `forEachChunk` yields the intact chunks before it and nothing else. No read writes past a
/// locked buffer (the pool would quarantine it); whatever happened, both scopes discard and
/// every locked buffer returns to the pool.
public func fuzzSealedChunk(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    guard input.count >= 2 else { return }
    let useAES = input[0] & 1 == 1 && AEADAlgorithm.aes256gcm.isAvailable
    let vault = FuzzVaults.vault(aes: useAES)
    let quarantinedBefore = vault.pool.statistics.quarantinedSlots
    var violation: FuzzPropertyViolation?
    do { try tamperAndOpen(input, vault) } catch { violation = error }
    // Every chunk the scopes (or this harness) held is gone now: nothing may be left live, and
    // no read may have written past a buffer (the pool quarantines a slot whose canaries broke).
    let statistics = vault.pool.statistics
    if statistics.quarantinedSlots != quarantinedBefore {
        // The overrun may have damaged a neighbouring buffer: later inputs get a fresh vault.
        FuzzVaults.replace()
        throw FuzzPropertyViolation("a locked buffer was overrun (slot quarantined)")
    }
    try require(statistics.liveBuffers == 0, "locked buffers left after discarding both scopes")
    if let violation { throw violation }
}

/// Seals, tampers, opens and checks; both scopes are discarded on the way out.
private func tamperAndOpen(_ input: [UInt8], _ vault: Vault) throws(FuzzPropertyViolation) {
    let chunkCount = Int(input[1] % 4) + 1
    var cursor = 2
    func take(_ count: Int) -> [UInt8] {
        let slice = input[min(cursor, input.count)..<min(cursor + count, input.count)]
        cursor += count
        return Array(slice)
    }
    var originals: [[UInt8]] = []
    for _ in 0..<chunkCount {
        let length = Int(take(1).first ?? 0) % 64
        originals.append(take(length))
    }

    let scope: RequestScope
    let other: RequestScope
    do {
        scope = try vault.openScope()
        other = try vault.openScope()
    } catch {
        throw FuzzPropertyViolation("opening a scope failed: \(error)")
    }
    defer {
        _ = scope.discard(reason: .completed)
        _ = other.discard(reason: .completed)
    }
    do {
        for (index, chunk) in originals.enumerated() {
            try chunk.withUnsafeBytes { try scope.append(to: .completion, copying: $0, final: index == chunkCount - 1) }
            try chunk.withUnsafeBytes { try other.append(to: .completion, copying: $0, final: index == chunkCount - 1) }
        }
        try [0x42, 0x43].withUnsafeBytes { try scope.append(to: .textInput, copying: $0, final: true) }
    } catch {
        throw FuzzPropertyViolation("sealing failed: \(error)")
    }

    // Tamper. Chunks are tracked by identity; flips by (chunk, bit), cancelling in pairs. A forged
    // chunk inherits its source's ciphertext flips and sealed ancestor, and adds a tag flip (tag
    // bits are numbered from 1_000_000 so they never cancel a ciphertext bit).
    let sealed = scope.withStateForTesting { $0.slots[.completion]!.chunks }
    let foreign = other.withStateForTesting { $0.slots[.completion]!.chunks } + scope.withStateForTesting { $0.slots[.textInput]!.chunks }
    var flips: [ObjectIdentifier: Set<Int>] = [:]
    var ancestor: [ObjectIdentifier: ObjectIdentifier] = [:]
    var forged: [SealedChunk] = []  // kept alive so object identities stay unique
    while cursor + 3 <= input.count {
        // Kinds 0-5 from the byte mod 6; 0xF0 and up: 6, forge (kept apart so that saved inputs
        // keep their meaning).
        let kind = input[cursor] >= 0xF0 ? 6 : input[cursor] % 6
        let (a, b) = (Int(input[cursor + 1]), Int(input[cursor + 2]))
        cursor += 3
        scope.withStateForTesting { state in
            var chunks = state.slots[.completion]!.chunks
            switch kind {
            case 0 where !chunks.isEmpty:
                let chunk = chunks[a % chunks.count]
                chunk.withBytes { bytes in
                    // Only the ciphertext is authenticated: as long as the plaintext (the tag is
                    // kept beside it; an empty chunk's one-byte buffer carries nothing).
                    let ciphertextCount = min(chunk.plaintextCount, bytes.count)
                    guard ciphertextCount > 0 else { return }
                    let bit = (b * 8 + a) % (ciphertextCount * 8)
                    UnsafeMutableRawPointer(mutating: bytes.baseAddress!).storeBytes(
                        of: bytes[bit / 8] ^ UInt8(1 << (bit % 8)), toByteOffset: bit / 8, as: UInt8.self)
                    flips[ObjectIdentifier(chunk), default: []].formSymmetricDifference([bit])
                }
            case 1 where !chunks.isEmpty: chunks.swapAt(a % chunks.count, b % chunks.count)
            case 2 where !chunks.isEmpty: chunks.remove(at: a % chunks.count)
            case 3 where !chunks.isEmpty: chunks.insert(chunks[a % chunks.count], at: b % (chunks.count + 1))
            case 4 where !chunks.isEmpty: chunks[a % chunks.count] = foreign[b % foreign.count]
            case 5: chunks.insert(foreign[b % foreign.count], at: a % (chunks.count + 1))
            case 6 where !chunks.isEmpty:
                // The same ciphertext, generation and length with one tag bit flipped (the tag
                // lives beside the ciphertext, so this is the way to reach it).
                let index = a % chunks.count
                let original = chunks[index]
                var tag = original.tag
                let tagBit = b % 128
                withUnsafeMutableBytes(of: &tag) { $0[tagBit / 8] ^= UInt8(1 << (tagBit % 8)) }
                if let copy = forgeChunk(original, tag: tag, pool: vault.pool) {
                    let source = ObjectIdentifier(original)
                    flips[ObjectIdentifier(copy)] = flips[source, default: []].symmetricDifference([1_000_000 + tagBit])
                    ancestor[ObjectIdentifier(copy)] = ancestor[source] ?? source
                    forged.append(copy)
                    chunks[index] = copy
                }
            default: break
            }
            state.slots[.completion]!.chunks = chunks
        }
    }
    let tampered = scope.withStateForTesting { $0.slots[.completion]!.chunks }
    let lengthsDisagree = tampered.reduce(0) { $0 + $1.plaintextCount } != sealed.reduce(0) { $0 + $1.plaintextCount }

    // What the reference model expects.
    // A chunk opens only as itself, unflipped, at its own position, and as the last chunk
    // exactly when it was sealed final (which also catches a stream cut short).
    func intact(_ index: Int) -> Bool {
        index < sealed.count
            && (ancestor[ObjectIdentifier(tampered[index])] ?? ObjectIdentifier(tampered[index])) == ObjectIdentifier(sealed[index])
            && flips[ObjectIdentifier(tampered[index]), default: []].isEmpty
            && (index == sealed.count - 1) == (index == tampered.count - 1)
    }
    let firstBad: Int? = tampered.indices.first { !intact($0) }

    // Whole-slot read. Before the fix found here (Docs/Fuzzing.md, findings) it wrote past its
    // scratch, skipped authentication of empty chunks, and returned never-decrypted bytes;
    // Fuzz/FailCases/FuzzSealedChunk/decrypt-slot-* are those inputs.
    var plaintext: [UInt8]? = nil
    var failure: (any Error)? = nil
    do {
        plaintext = try scope.withUnsafePlaintext(of: .completion) { Array($0) }
    } catch { failure = error }
    if let firstBad {
        try require(plaintext == nil, "tampered slot opened (first bad chunk \(firstBad) of \(tampered.count))")
        // The read names the first chunk out of place; when the chunks' lengths no longer add up
        // to what was sealed it refuses the list as a whole, before opening anything, and names
        // the position past the end.
        let named: Int? = if case .authenticationFailed(.completion, let chunk) = failure as? VaultError { chunk } else { nil }
        try require(
            named == firstBad || (lengthsDisagree && named == tampered.count),
            "tampered slot failed with \(String(describing: failure)), expected chunk \(firstBad)")
    } else if tampered.isEmpty && !sealed.isEmpty && lengthsDisagree {
        // Every chunk removed: nothing to return, and the sealed length says something is missing.
        try require(plaintext == nil && failure != nil, "an emptied slot read without an error")
    } else if tampered.isEmpty {
        // Every (empty) chunk removed: reads as empty or fails, never returns bytes.
        try require(plaintext == [] || failure != nil, "an emptied slot returned content")
    } else {
        try require(plaintext == originals.flatMap { $0 }, "untampered slot did not return its plaintext: \(String(describing: failure))")
    }

    var yielded: [[UInt8]] = []
    var streamFailure: (any Error)? = nil
    do {
        try scope.forEachChunk(of: .completion) { _, span in
            yielded.append(span.withUnsafeBytes { Array($0) })
        }
    } catch { streamFailure = error }
    if tampered.isEmpty {
        try require(yielded.isEmpty, "forEachChunk yielded chunks from an emptied slot")
        // With every chunk removed no chunk is left to carry the final flag; the stream must
        // still not end cleanly when sealing recorded content (fixed on main in 7aadeae).
        try require(
            !lengthsDisagree || (streamFailure as? VaultError) == .authenticationFailed(slot: .completion, chunk: 0),
            "forEachChunk read a slot with every chunk removed as \(String(describing: streamFailure))")
    } else if let firstBad {
        try require(yielded == Array(originals.prefix(firstBad)), "forEachChunk yielded \(yielded.count) chunks, expected \(firstBad)")
        try require(
            (streamFailure as? VaultError) == .authenticationFailed(slot: .completion, chunk: firstBad),
            "forEachChunk failed with \(String(describing: streamFailure)), expected chunk \(firstBad)")
    } else {
        try require(yielded == originals, "forEachChunk yielded \(yielded.count) chunks, expected \(originals.count)")
        try require(streamFailure == nil, "untampered stream failed: \(String(describing: streamFailure))")
    }
}

/// A new chunk object holding a copy of `original`'s ciphertext under another tag.
private func forgeChunk(_ original: SealedChunk, tag: (UInt64, UInt64), pool: SecureMemoryPool) -> SealedChunk? {
    var copy: LockedBuffer
    do { copy = try pool.allocate(byteCount: max(original.plaintextCount, 1)) } catch { return nil }
    original.withBytes { source in
        copy.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix($0.count))) }
    }
    return SealedChunk(copy, plaintextCount: original.plaintextCount, generation: original.generation, tag: tag)
}

/// One vault per AEAD, kept across inputs (vault start is the expensive part) until an input
/// damaged it. Not thread-safe: libFuzzer runs one input at a time and the replay suite is
/// serialized.
enum FuzzVaults {
    nonisolated(unsafe) private static var vaults: [Bool: Vault] = [:]

    static func vault(aes: Bool) -> Vault {
        if let vault = vaults[aes] { return vault }
        let algorithm: AEADAlgorithm = aes ? .aes256gcm : .xchacha20poly1305
        let vault = try! Vault(configuration: .init(aead: .fixed(algorithm), reaperInterval: nil))
        vaults[aes] = vault
        return vault
    }

    static func replace() { vaults = [:] }
}
