#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CVaultSodium
public import RetentionVocabulary

/// One request's content: sealed under the request's own key, discarded however the request ends.
///
/// Open a scope with ``Vault/openScope(timeToLive:)`` or, better, ``Vault/withRequestScope(timeToLive:isolation:_:)``.
/// Each `DataClass` is a slot: a stream of chunks, each sealed (AEAD) into locked memory as it
/// is appended. Plaintext exists only inside the closures of the access methods, in a locked
/// scratch buffer that is wiped when the closure returns or throws.
///
/// ```swift
/// let (answer, receipt) = try await vault.withRequestScope { scope in
///     try scope.append(to: .textInput, copying: requestBody)        // sealed at once
///     let tokens = try scope.withPlaintext(of: .textInput) { span in model.run(span) }
///     try scope.writeUnsafe(to: .completion, byteCount: 4096) { out in encode(tokens, into: out) }
///     return tokens.count
/// }
/// ```
///
/// Each slot's key is 32 fresh random bytes in locked memory (see `KeyGenerator`).
/// ``discard(reason:)`` wipes and verifies every chunk, every key and every transfer slot, and
/// calls every registered external holder, exactly once; every later operation throws
/// ``VaultError/discarded``. Destroying the keys makes any copy of the ciphertext that escaped
/// unrecoverable (crypto-shredding).
///
/// Keys and limits: each slot seals under its own random key, one per generation. Nonces are
/// counters (the chunk index) under a per-stream prefix, unique per key by construction. Before
/// a slot's current key would seal more than `AEADAlgorithm.perKeyByteLimit` bytes (256 MiB
/// for AES-256-GCM), the slot **rotates** to a new random key (the next generation), so long
/// streams never hit the limit; only a single chunk larger than the limit is refused, with
/// ``VaultError/chunkTooLarge(byteCount:limit:)``.
///
/// Thread safety: all methods may be called from any thread. A scope serves one request, so
/// its operations take one per-scope lock, uncontended except against the reaper. Closures run
/// outside that lock, but external holder callbacks run inside it (so discard is atomic): they
/// must not call back into the scope.
public final class RequestScope: Sendable {
    /// The vault-generated request id (print it in headers and logs: it carries no content).
    public let id: RequestID
    /// When the reaper discards the scope with `DiscardReason.expired`.
    public let deadline: ContinuousClock.Instant
    /// Realtime nanoseconds at open.
    let openedAt: UInt64
    let vault: Vault
    /// The vault's settings this scope reads on every operation, copied at open so the hot path
    /// does not go through the vault (each access retained and released it).
    private let pool: SecureMemoryPool
    /// The AEAD sealing this scope's chunks.
    public let aead: AEADAlgorithm
    private let perKeyByteLimit: Int
    private let state: LockedState<ScopeState>

    /// Opens a scope. Keys are drawn per slot, on first use, so opening allocates no locked
    /// memory; with `id` nil the id comes from the vault's `KeyGenerator`.
    init(vault: Vault, id: RequestID? = nil, deadline: ContinuousClock.Instant) throws(VaultError) {
        self.deadline = deadline
        self.openedAt = realtimeNanoseconds()
        self.vault = vault
        self.pool = vault.pool
        self.aead = vault.aeadSelection.algorithm
        self.perKeyByteLimit = vault.perKeyByteLimit
        if let id { self.id = id } else { self.id = try KeyGenerator.requestID() }
        self.state = LockedState(ScopeState())
    }

    /// Whether the scope has been discarded.
    public var isDiscarded: Bool { state.withLock { $0.isDiscarded } }

    /// The receipt, once discarded.
    public var receipt: DiscardReceipt? { state.withLock { $0.receipt } }

    /// Chunks sealed in `dataClass`'s slot.
    public func chunkCount(of dataClass: DataClass) throws(VaultError) -> Int {
        try withOpenState { state throws(VaultError) in state.slots[dataClass]?.chunks.count ?? 0 }
    }

    /// Plaintext bytes sealed in `dataClass`'s slot.
    public func byteCount(of dataClass: DataClass) throws(VaultError) -> Int {
        try withOpenState { state throws(VaultError) in state.slots[dataClass]?.plaintextBytes ?? 0 }
    }

    /// The data classes that hold content now.
    public func occupiedSlots() throws(VaultError) -> [DataClass] {
        try withOpenState { state throws(VaultError) in
            state.slots.occupied.filter { state.slots[$0]?.chunks.isEmpty == false }
        }
    }

    // MARK: - Writing

    /// Seals a copy of `bytes` as the next chunk of `dataClass`'s slot. The caller's buffer is
    /// left as it is (use ``append(to:ingesting:final:)`` to have it wiped).
    ///
    /// - Parameters:
    ///   - dataClass: the slot to append to.
    ///   - bytes: the plaintext, copied and left as it is.
    ///   - final: marks the slot's last chunk; later appends throw
    ///     ``VaultError/slotFinished(slot:)``, and a stream cut short before it is detected.
    public func append(to dataClass: DataClass, copying bytes: UnsafeRawBufferPointer, final: Bool = false) throws(VaultError) {
        try seal(bytes, into: dataClass, final: final)
    }

    /// Seals `bytes` as the next chunk, then wipes `bytes` (also when sealing fails), so the
    /// sealed chunk is the only copy left.
    public func append(to dataClass: DataClass, ingesting bytes: UnsafeMutableRawBufferPointer, final: Bool = false) throws(VaultError) {
        defer { if let base = bytes.baseAddress { sodium_memzero(base, bytes.count) } }
        try seal(UnsafeRawBufferPointer(bytes), into: dataClass, final: final)
    }

    /// Seals a `RawSpan` as the next chunk.
    public func append(to dataClass: DataClass, copying span: RawSpan, final: Bool = false) throws(VaultError) {
        try span.withUnsafeBytes { (bytes) throws(VaultError) in try seal(bytes, into: dataClass, final: final) }
    }

    /// Reads `fileDescriptor` to its end straight into locked scratch memory, seals it as the
    /// next chunk and wipes the scratch. Returns the bytes read (0 for empty input, which seals
    /// nothing).
    ///
    /// - Parameters:
    ///   - fileDescriptor: an open descriptor to read until end of input (not closed here).
    ///   - dataClass: the slot to append to.
    ///   - limit: most bytes accepted; longer input throws
    ///     ``VaultError/memory(_:)`` with ``LockedMemoryError/inputTooLarge(limit:)``.
    ///   - final: marks the slot's last chunk, as for ``append(to:copying:final:)-(_,UnsafeRawBufferPointer,_)``.
    @discardableResult
    public func appendFromFileDescriptor(
        _ fileDescriptor: Int32, to dataClass: DataClass, limit: Int, final: Bool = false
    ) throws(VaultError) -> Int {
        try checkOpen()
        let scratch: LockedBuffer?
        do { scratch = try pool.read(fromFileDescriptor: fileDescriptor, limit: limit) } catch { throw .memory(error) }
        guard let scratch else { return 0 }
        let count = scratch.count
        var sealError: VaultError?
        do {
            try scratch.withUnsafeBytes { (bytes) throws(VaultError) in try seal(bytes, into: dataClass, final: final) }
        } catch {
            sealError = error
        }
        try releaseScratch(scratch)
        if let sealError { throw sealError }
        return count
    }

    /// The raw-buffer form of ``write(to:byteCount:final:_:)``, for C encoders: `body` fills up
    /// to `byteCount` bytes of locked scratch and returns how many it wrote; those are sealed.
    /// The scratch is wiped on return and on throw. The pointer must not escape `body`.
    ///
    /// - Returns: the bytes sealed.
    /// - Throws: ``VaultError``, or what `body` throws.
    @discardableResult
    public func writeUnsafe(
        to dataClass: DataClass, byteCount: Int, final: Bool = false,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> Int {
        try checkOpen()
        guard byteCount > 0 else { throw VaultError.invalidByteCount(byteCount) }
        guard byteCount <= perKeyByteLimit else {
            throw VaultError.chunkTooLarge(byteCount: byteCount, limit: perKeyByteLimit)
        }
        var scratch: LockedBuffer
        scratch = try allocateLocked(pool, byteCount: byteCount)
        // `body` may be C writing through a raw pointer: the explicit release afterwards is where
        // a write past the scratch is found.
        return try withScratch(scratch) { scratch in
            let written = try scratch.withUnsafeMutableBytes { try body($0) }
            guard written >= 0, written <= byteCount else {
                throw VaultError.writtenCountOutOfRange(written: written, capacity: byteCount)
            }
            try scratch.withUnsafeBytes { (bytes) throws(VaultError) in
                try seal(UnsafeRawBufferPointer(rebasing: bytes[..<written]), into: dataClass, final: final)
            }
            return written
        }
    }

    /// Lets `body` fill up to `byteCount` bytes of locked scratch memory through a
    /// `MutableRawSpan`, then seals the first `n` bytes (`n` is what `body` returns) as the next
    /// chunk. The scratch is wiped on return and on throw; nothing is sealed when `body` throws.
    ///
    /// - Returns: the bytes sealed.
    /// - Throws: ``VaultError``, or what `body` throws.
    @discardableResult
    public func write(
        to dataClass: DataClass, byteCount: Int, final: Bool = false,
        _ body: (inout MutableRawSpan) throws -> Int
    ) throws -> Int {
        try writeUnsafe(to: dataClass, byteCount: byteCount, final: final) { (bytes: UnsafeMutableRawBufferPointer) throws -> Int in
            var span = MutableRawSpan(_unsafeBytes: bytes)
            return try body(&span)
        }
    }

    // MARK: - Reading

    /// Decrypts the whole slot into locked scratch memory and calls `body` with it as one
    /// `RawSpan`. The scratch is wiped when `body` returns or throws. An empty slot gives an
    /// empty span.
    ///
    /// - Throws: ``VaultError/authenticationFailed(slot:chunk:)`` when any chunk was tampered
    ///   with (`body` is then not called), another ``VaultError``, or what `body` throws.
    public func withPlaintext<Result>(
        of dataClass: DataClass, _ body: (RawSpan) throws -> Result
    ) throws -> Result {
        try withUnsafePlaintext(of: dataClass) { bytes in
            try body(RawSpan(_unsafeBytes: bytes))
        }
    }

    /// The raw-buffer form of ``withPlaintext(of:_:)``; the pointer must not escape `body`.
    public func withUnsafePlaintext<Result>(
        of dataClass: DataClass, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        let scratch = try decryptSlot(dataClass)
        guard let scratch else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        // Released (wiped, verified, checked for overruns) when `body` returns or throws.
        return try withScratch(scratch) { scratch in try scratch.withUnsafeBytes { try body($0) } }
    }

    /// Calls `body` once per chunk, in order, with the chunk's index and plaintext. Each chunk
    /// is decrypted into locked scratch that is wiped before the next one (and on throw).
    public func forEachChunk(
        of dataClass: DataClass, _ body: (Int, RawSpan) throws -> Void
    ) throws {
        var index = 0
        while true {
            let next = try decryptChunk(dataClass, at: index)
            guard let chunk = consume next else { return }
            let plaintextCount = chunk.plaintextCount
            try withScratch(chunk.scratch) { scratch in
                try scratch.withUnsafeBytes { bytes in
                    try body(index, RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: bytes[..<plaintextCount])))
                }
            }
            index += 1
        }
    }

    /// Decrypts the slot into `transferSlot` (for a DMA straight from pinned memory).
    /// Returns the bytes written at the start of the transfer slot.
    public func copyPlaintext(of dataClass: DataClass, into transferSlot: TransferSlot) throws -> Int {
        try withUnsafePlaintext(of: dataClass) { plaintext in
            try transferSlot.withUnsafeMutableBytes { destination in
                guard plaintext.count <= destination.count else {
                    throw VaultError.writtenCountOutOfRange(written: plaintext.count, capacity: destination.count)
                }
                destination.copyMemory(from: plaintext)
                return plaintext.count
            }
        }
    }

    /// Wipes `dataClass`'s slot now (for example audio input once transcribed), before the rest
    /// of the scope. The wipe is counted in the receipt; later appends start a new stream under
    /// a new key.
    public func wipeSlot(_ dataClass: DataClass) throws(VaultError) {
        try withOpenState { (state: inout ScopeState) throws(VaultError) in
            guard var slot = state.slots[dataClass] else { return }
            state.wipe(&slot)
            state.slots[dataClass] = slot
        }
    }

    // MARK: - Transfer slots and external holders

    /// A page-aligned locked buffer a host may pin for GPU DMA (see ``TransferSlot``). Wiped,
    /// verified and unmapped at discard; counted in the receipt.
    public func transferSlot(byteCount: Int) throws(VaultError) -> TransferSlot {
        try checkOpen()
        let slot = try TransferSlot(byteCount: byteCount, budget: vault.transferBudget)
        let accepted = state.withLock { state -> Bool in
            guard !state.isDiscarded else { return false }
            state.transferSlots.append(slot)
            return true
        }
        guard accepted else {
            _ = slot.release()
            throw .discarded
        }
        return slot
    }

    /// Registers a copy the vault cannot see (KV-cache blocks, a GPU buffer, a cache entry).
    /// At discard, `wipe` is called once, before the vault's own memory is wiped, and its
    /// outcome recorded in the receipt with `kind`. At most
    /// `DiscardReceipt.maximumExternalHolders` (32) per scope, the most a ledger record
    /// lists. `wipe` runs under the scope's lock: it must not call back into this scope.
    public func registerExternalHolder(
        kind: ExternalHolderKind, wipe: @escaping @Sendable () -> ExternalHolderOutcome
    ) throws(VaultError) {
        try withOpenState { (state: inout ScopeState) throws(VaultError) in
            let limit = DiscardReceipt.maximumExternalHolders
            guard state.holders.count < limit else { throw .tooManyExternalHolders(limit: limit) }
            state.holders.append(ExternalHolder(kind: kind, wipe: wipe))
        }
    }

    // MARK: - Discard

    /// Discards the scope: calls every external holder, wipes and verifies every transfer slot,
    /// chunk and key, and returns the receipt. Runs exactly once; a later call (from any thread)
    /// returns the first call's receipt, with the first call's reason.
    @discardableResult
    public func discard(reason: DiscardReason) -> DiscardReceipt {
        let (receipt, performed) = state.withLock { state -> (DiscardReceipt, Bool) in
            if let receipt = state.receipt { return (receipt, false) }
            let receipt = state.discard(
                reason: reason, id: id, openedAt: openedAt, backend: pool.backend, aead: aead)
            state.receipt = receipt
            state.isDiscarded = true
            return (receipt, true)
        }
        if performed { vault.didDiscard(self, receipt: receipt) }
        return receipt
    }

    // MARK: - Internals

    /// Runs `body` on `scratch`, then releases it explicitly however `body` ended, so that a
    /// write past the scratch is this scope's to report (receipt, typed error) and not only a
    /// pool counter. A corruption found wins over what `body` threw.
    private func withScratch<Result>(
        _ scratch: consuming LockedBuffer, _ body: (inout LockedBuffer) throws -> Result
    ) throws -> Result {
        var scratch = scratch
        let outcome: Swift.Result<Result, any Error>
        do { outcome = .success(try body(&scratch)) } catch { outcome = .failure(error) }
        try releaseScratch(scratch)
        return try outcome.get()
    }

    /// Releases a scratch buffer; corruption found (quarantine-and-report policy: by default the
    /// process has ended) marks the scope for its receipt and throws.
    private func releaseScratch(_ scratch: consuming LockedBuffer) throws(VaultError) {
        do throws(LockedMemoryError) {
            try scratch.release()
        } catch {
            state.withLock { $0.memoryCorrupted = true }
            throw .memoryCorrupted(error)
        }
    }

    private func checkOpen() throws(VaultError) {
        if state.withLock({ $0.isDiscarded }) { throw .discarded }
    }

    private func withOpenState<Result: ~Copyable>(
        _ body: (inout ScopeState) throws(VaultError) -> Result
    ) throws(VaultError) -> Result {
        try state.withLock { (state: inout ScopeState) throws(VaultError) -> Result in
            guard !state.isDiscarded else { throw .discarded }
            return try body(&state)
        }
    }

    private func seal(_ bytes: UnsafeRawBufferPointer, into dataClass: DataClass, final: Bool) throws(VaultError) {
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
        chunk = try allocateLocked(pool, byteCount: max(bytes.count, 1))
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
    private func decryptSlot(_ dataClass: DataClass) throws(VaultError) -> LockedBuffer? {
        let pool = self.pool
        return try withOpenState { (state: inout ScopeState) throws(VaultError) -> LockedBuffer? in
            guard let slot = state.slots[dataClass], !slot.chunks.isEmpty || slot.plaintextBytes > 0 else { return nil }
            let listed = slot.chunks.reduce(0) { $0 + $1.plaintextCount }
            guard listed == slot.plaintextBytes, !slot.chunks.isEmpty else {
                throw .authenticationFailed(slot: dataClass, chunk: slot.chunks.count)
            }
            var scratch: LockedBuffer
            scratch = try allocateLocked(pool, byteCount: max(listed, 1))
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
    private func decryptChunk(_ dataClass: DataClass, at index: Int) throws(VaultError) -> DecryptedChunk? {
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
            scratch = try allocateLocked(pool, byteCount: max(count, 1))
            try scratch.withUnsafeMutableBytes { (output) throws(VaultError) in
                try open(slot, dataClass: dataClass, index: index, into: output)
            }
            return DecryptedChunk(scratch: scratch, plaintextCount: count)
        }
    }

    // MARK: Test hooks (internal)

    /// Runs `body` on the scope's state (tests: tamper with chunks, read addresses).
    func withStateForTesting<Result>(_ body: (inout ScopeState) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}

extension RequestScope: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The request id and whether the scope is open; never content, keys or addresses.
    public var description: String {
        "RequestScope(\(id), \(isDiscarded ? "discarded" : "open"), \(aead))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["id": id.description, "discarded": isDiscarded], displayStyle: .class)
    }
}

// MARK: - State

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

struct ExternalHolder: Sendable {
    let kind: ExternalHolderKind
    let wipe: @Sendable () -> ExternalHolderOutcome
}

/// One data class's stream.
struct SlotState: Sendable {
    var chunks: [SealedChunk] = []
    /// The key of generation `generation`, sealing new chunks; nil before the first chunk and
    /// after a slot wipe.
    var currentKey: KeyBox?
    /// Earlier generations' keys, still opening the stream's older chunks after a rotation (a
    /// stream past the AEAD's per-key limit; almost always empty, so no dictionary).
    var retiredKeys: [KeyBox] = []
    /// Generations keep counting across wipes, so a new stream never reuses a key's number.
    var generation: UInt32 = 0
    /// Whether any generation was drawn, so the next one is `generation + 1`.
    var everKeyed = false
    var bytesUnderCurrentKey = 0
    var plaintextBytes = 0
    var finished = false
    var noncePrefix: (UInt64, UInt64) = (0, 0)

    /// The key that sealed chunks of `generation`, if still held.
    func key(generation: UInt32) -> KeyBox? {
        if let currentKey, currentKey.generation == generation { return currentKey }
        return retiredKeys.first { $0.generation == generation }
    }

    /// Every key the slot holds (current and retired).
    var allKeys: [KeyBox] { retiredKeys + (currentKey.map { [$0] } ?? []) }
}

/// The slots of one scope, one per `DataClass`: a fixed table of twelve references, inline in
/// the scope's state. A dictionary cost an allocation and a hash per access; a table of the
/// slot structs themselves (~1 KiB) cost more in copies of the state (both measured on a 4 KiB
/// request). Iteration is in ascending raw value, the order discard wipes in.
struct SlotTable: Sendable {
    private var storage = InlineArray<12, SlotBox?>(repeating: nil)

    /// A dense index per data class; the exhaustive switch makes a new case a compile error.
    @inline(__always)
    private static func index(_ dataClass: DataClass) -> Int {
        switch dataClass {
        case .textInput: 0
        case .systemPrompt: 1
        case .promptMessages: 2
        case .toolInteraction: 3
        case .completion: 4
        case .audioInput: 5
        case .audioOutput: 6
        case .transcriptOutput: 7
        case .voiceSample: 8
        case .voiceDescription: 9
        case .media: 10
        case .hostDefined: 11
        }
    }

    private static let classes: [DataClass] = DataClass.allCases.sorted { index($0) < index($1) }

    /// The slot, or nil if the class was never used.
    subscript(dataClass: DataClass) -> SlotState? {
        get { storage[Self.index(dataClass)]?.slot }
        set {
            let index = Self.index(dataClass)
            guard let newValue else { storage[index] = nil; return }
            if let box = storage[index] { box.slot = newValue } else { storage[index] = SlotBox(newValue) }
        }
    }

    /// The slot, created empty on first use, modified in place (no copy of its chunk array).
    subscript(dataClass: DataClass, default defaultValue: @autoclosure () -> SlotState) -> SlotState {
        get { storage[Self.index(dataClass)]?.slot ?? defaultValue() }
        _modify {
            let index = Self.index(dataClass)
            let box: SlotBox
            if let existing = storage[index] {
                box = existing
            } else {
                box = SlotBox(defaultValue())
                storage[index] = box
            }
            yield &box.slot
        }
    }

    /// The data classes that have a slot, in ascending raw value.
    var occupied: [DataClass] { Self.classes.filter { storage[Self.index($0)] != nil } }

    /// Calls `body` on every slot in place, in ascending raw value.
    func forEachSlot(_ body: (inout SlotState) -> Void) {
        for index in storage.indices {
            if let box = storage[index] { body(&box.slot) }
        }
    }
}

/// A slot in a class box, so the table holds references. Only touched under the owning
/// scope's lock, which is what makes the `@unchecked Sendable` true.
final class SlotBox: @unchecked Sendable {
    /// Unchecked for the reason given on ``KeyBox/buffer``.
    @exclusivity(unchecked) var slot: SlotState
    init(_ slot: SlotState) { self.slot = slot }
}

struct ScopeState: Sendable {
    var slots = SlotTable()
    var transferSlots: [TransferSlot] = []
    var holders: [ExternalHolder] = []
    /// Set with `isDiscarded` by the one discard that ran.
    var receipt: DiscardReceipt?
    /// A flag beside the receipt: the open check runs on every operation, and testing the large
    /// optional receipt for nil went through a generic value witness.
    var isDiscarded = false

    var firstContentAt: UInt64?
    var bytesHeld: UInt64 = 0
    var peakBytesHeld: UInt64 = 0
    var totalBytesHeld: UInt64 = 0
    var chunksWiped = 0
    var slotsWiped = 0
    var bytesVerifiedZero: UInt64 = 0
    var keysVerified = true
    /// A release of one of the scope's buffers found memory corruption (quarantine-and-report).
    var memoryCorrupted = false

    init() {}

    mutating func recordSealed(_ count: Int) {
        if firstContentAt == nil { firstContentAt = realtimeNanoseconds() }
        bytesHeld += UInt64(count)
        totalBytesHeld += UInt64(count)
        peakBytesHeld = max(peakBytesHeld, bytesHeld)
    }

    /// Draws the slot's next key generation (the first on first use) into locked memory; the
    /// previous key is retired (it still opens the stream's older chunks).
    static func rotateKey(
        _ slot: inout SlotState, dataClass: DataClass, pool: SecureMemoryPool
    ) throws(VaultError) {
        var next = slot.generation
        if slot.everKeyed {
            guard slot.generation < UInt32.max else { throw .keyLimitReached(slot: dataClass) }
            next = slot.generation + 1
        }
        var key: LockedBuffer
        key = try allocateLocked(pool, byteCount: AEADAlgorithm.keyByteCount)
        try key.withUnsafeMutableBytes { (output) throws(VaultError) in try KeyGenerator.fill(output) }
        if slot.chunks.isEmpty {
            // A fresh stream (first use or after a slot wipe). Nonces need to be unique per key,
            // not random: every generation is a new random key, and the chunk index counts
            // within it, so (key, nonce) never repeats. The prefix names the generation and
            // class.
            slot.noncePrefix = (UInt64(next), UInt64(dataClass.rawValue))
        }
        if let previous = slot.currentKey { slot.retiredKeys.append(previous) }
        slot.currentKey = KeyBox(key, generation: next)
        slot.generation = next
        slot.everKeyed = true
        slot.bytesUnderCurrentKey = 0
    }

    /// Wipes a slot's chunks and keys, counting them; generations keep counting so a new
    /// stream in this slot never reuses a key.
    mutating func wipe(_ slot: inout SlotState) {
        guard !slot.chunks.isEmpty || slot.currentKey != nil || !slot.retiredKeys.isEmpty else { return }
        for chunk in slot.chunks {
            guard let buffer = chunk.buffer.take() else { continue }
            let capacity = buffer.capacity
            do {
                try buffer.release()
                bytesVerifiedZero += UInt64(capacity)
            } catch {
                memoryCorrupted = true
            }
            chunksWiped += 1
            bytesHeld = bytesHeld > UInt64(chunk.plaintextCount) ? bytesHeld - UInt64(chunk.plaintextCount) : 0
        }
        if !slot.chunks.isEmpty { slotsWiped += 1 }
        if let key = slot.currentKey { releaseKey(key) }
        for key in slot.retiredKeys { releaseKey(key) }
        slot.chunks.removeAll()
        slot.currentKey = nil
        slot.retiredKeys.removeAll()
        slot.bytesUnderCurrentKey = 0
        slot.plaintextBytes = 0
        slot.finished = false
    }

    mutating func releaseKey(_ key: KeyBox) {
        guard let buffer = key.buffer.take() else { return }
        let capacity = buffer.capacity
        do {
            try buffer.release()
            bytesVerifiedZero += UInt64(capacity)
        } catch {
            keysVerified = false
            memoryCorrupted = true
        }
    }

    /// The discard itself: external holders first (they may still need the vault's memory to
    /// exist), then transfer slots, then chunks, then keys.
    mutating func discard(
        reason: DiscardReason, id: RequestID, openedAt: UInt64, backend: MemoryBackend, aead: AEADAlgorithm
    ) -> DiscardReceipt {
        let records = holders.map { ExternalHolderReport(kind: $0.kind, outcome: $0.wipe()) }
        holders.removeAll()
        for transfer in transferSlots {
            if let verified = transfer.release() {
                bytesVerifiedZero += verified
                slotsWiped += 1
            }
        }
        transferSlots.removeAll()
        // Moved out (not copied: a copy retains and releases every slot reference) so the wipe
        // can update this state's counters while it walks the slots.
        var table = SlotTable()
        swap(&table, &slots)
        table.forEachSlot { wipe(&$0) }
        return DiscardReceipt(
            requestID: id, reason: reason, openedAt: Timestamp(nanosecondsSinceEpoch: openedAt),
            firstContentAt: firstContentAt.map(Timestamp.init(nanosecondsSinceEpoch:)),
            discardedAt: .now(), peakBytesHeld: peakBytesHeld, totalBytesHeld: totalBytesHeld,
            chunksWiped: UInt64(chunksWiped), slotsWiped: UInt64(slotsWiped), bytesVerifiedZero: bytesVerifiedZero,
            keyDestroyed: keysVerified, backend: backend, aead: aead, externalHolders: records,
            memoryCorruptionDetected: memoryCorrupted)
    }
}

/// A decrypted chunk in locked scratch (wiped when this value ends).
struct DecryptedChunk: ~Copyable {
    var scratch: LockedBuffer
    let plaintextCount: Int
}

/// `pool.allocate` with the error wrapped for the vault.
@inline(__always)
func allocateLocked(_ pool: SecureMemoryPool, byteCount: Int) throws(VaultError) -> LockedBuffer {
    do throws(LockedMemoryError) {
        return try pool.allocate(byteCount: byteCount)
    } catch {
        throw .memory(error)
    }
}

/// Nanoseconds since the Unix epoch from `CLOCK_REALTIME`.
func realtimeNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
