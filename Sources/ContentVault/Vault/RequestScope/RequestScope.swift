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
/// scratch buffer that is wiped when the closure returns or throws. What a closure throws may
/// quote the content, so by default it reaches the caller as an ``AccessClosureError`` naming
/// only its type (``ThrownErrorHandling/passThrough`` is the opt-in for the original).
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
    let pool: SecureMemoryPool
    /// The AEAD sealing this scope's chunks.
    public let aead: AEADAlgorithm
    let perKeyByteLimit: Int
    private let state: LockedState<ScopeState>
    /// This scope's place in its vault shard's list of open scopes (-1 once removed). Read and
    /// written only under that shard's lock, which is what makes the unchecked access sound.
    @exclusivity(unchecked) nonisolated(unsafe) var registryIndex = -1

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

    /// Chunks sealed in `dataClass`'s slot (one per append); read them one at a time with
    /// ``withChunk(of:at:thrownErrors:_:)``.
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
        do { scratch = try pool.read(fromFileDescriptor: fileDescriptor, limit: limit, purpose: .scratch) } catch { throw .memory(error) }
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

    /// The raw-buffer form of ``write(to:byteCount:final:thrownErrors:_:)``, for C encoders:
    /// `body` fills up to `byteCount` bytes of locked scratch and returns how many it wrote;
    /// those are sealed. The scratch is wiped on return and on throw. The pointer must not
    /// escape `body`.
    ///
    /// - Returns: the bytes sealed.
    /// - Throws: ``VaultError``, or what `body` throws as `thrownErrors` says (by default an
    ///   ``AccessClosureError`` naming only its type).
    @discardableResult
    public func writeUnsafe(
        to dataClass: DataClass, byteCount: Int, final: Bool = false,
        thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> Int {
        try checkOpen()
        guard byteCount > 0 else { throw VaultError.invalidByteCount(byteCount) }
        guard byteCount <= perKeyByteLimit else {
            throw VaultError.chunkTooLarge(byteCount: byteCount, limit: perKeyByteLimit)
        }
        var scratch: LockedBuffer
        scratch = try allocateLocked(pool, byteCount: byteCount, purpose: .scratch)
        // `body` may be C writing through a raw pointer: the explicit release afterwards is where
        // a write past the scratch is found.
        return try withScratch(scratch) { scratch in
            let written = try scratch.withUnsafeMutableBytes { bytes in try thrownErrors.apply { try body(bytes) } }
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
    /// - Throws: ``VaultError``, or what `body` throws as `thrownErrors` says (by default an
    ///   ``AccessClosureError`` naming only its type).
    @discardableResult
    public func write(
        to dataClass: DataClass, byteCount: Int, final: Bool = false,
        thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (inout MutableRawSpan) throws -> Int
    ) throws -> Int {
        try writeUnsafe(to: dataClass, byteCount: byteCount, final: final, thrownErrors: thrownErrors) { (bytes: UnsafeMutableRawBufferPointer) throws -> Int in
            var span = MutableRawSpan(_unsafeBytes: bytes)
            return try body(&span)
        }
    }

    /// Lends `byteCount` bytes of locked scratch memory, zeroed, through a `MutableRawSpan`,
    /// for plaintext that is neither the request's input nor its output: an unescaped field an
    /// engine reads, an engine's working buffer. Nothing is sealed; the scratch is wiped (and
    /// checked for overruns) when `body` returns or throws.
    ///
    /// - Throws: ``VaultError`` (``VaultError/invalidByteCount(_:)`` below 1, the budget), or
    ///   what `body` throws as `thrownErrors` says (by default an ``AccessClosureError`` naming
    ///   only its type).
    public func withScratch<Result>(
        byteCount: Int, thrownErrors: ThrownErrorHandling = .redacted, _ body: (inout MutableRawSpan) throws -> Result
    ) throws -> Result {
        try checkOpen()
        guard byteCount > 0 else { throw VaultError.invalidByteCount(byteCount) }
        let scratch = try allocateLocked(pool, byteCount: byteCount, purpose: .scratch)
        return try withScratch(scratch) { scratch in
            try scratch.withMutableBytes { span in try thrownErrors.apply { try body(&span) } }
        }
    }

    // MARK: - Reading

    /// Decrypts the whole slot into locked scratch memory and calls `body` with it as one
    /// `RawSpan`. The scratch is wiped when `body` returns or throws. An empty slot gives an
    /// empty span.
    ///
    /// - Throws: ``VaultError/authenticationFailed(slot:chunk:)`` when any chunk was tampered
    ///   with (`body` is then not called), another ``VaultError``, or what `body` throws as
    ///   `thrownErrors` says (by default an ``AccessClosureError`` naming only its type).
    public func withPlaintext<Result>(
        of dataClass: DataClass, thrownErrors: ThrownErrorHandling = .redacted, _ body: (RawSpan) throws -> Result
    ) throws -> Result {
        try withUnsafePlaintext(of: dataClass, thrownErrors: thrownErrors) { bytes in
            try body(RawSpan(_unsafeBytes: bytes))
        }
    }

    /// The raw-buffer form of ``withPlaintext(of:thrownErrors:_:)``; the pointer must not
    /// escape `body`.
    public func withUnsafePlaintext<Result>(
        of dataClass: DataClass, thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        let scratch = try decryptSlot(dataClass)
        guard let scratch else {
            return try thrownErrors.apply { try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
        // Released (wiped, verified, checked for overruns) when `body` returns or throws.
        return try withScratch(scratch) { scratch in
            try scratch.withUnsafeBytes { bytes in try thrownErrors.apply { try body(bytes) } }
        }
    }

    /// Calls `body` once per chunk, in order, with the chunk's index and plaintext. Each chunk
    /// is decrypted into locked scratch that is wiped before the next one (and on throw). What
    /// `body` throws reaches the caller as `thrownErrors` says (by default an
    /// ``AccessClosureError`` naming only its type).
    public func forEachChunk(
        of dataClass: DataClass, thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (Int, RawSpan) throws -> Void
    ) throws {
        var index = 0
        while true {
            let next = try decryptChunk(dataClass, at: index)
            guard let chunk = consume next else { return }
            let plaintextCount = chunk.plaintextCount
            try withScratch(chunk.scratch) { scratch in
                try scratch.withUnsafeBytes { bytes in
                    let chunk = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: bytes[..<plaintextCount]))
                    try thrownErrors.apply { try body(index, chunk) }
                }
            }
            index += 1
        }
    }

    /// Calls `body` with the plaintext of chunk `index` of `dataClass`, decrypted into locked
    /// scratch that is wiped when `body` returns (or throws). Returns `nil` past the last chunk,
    /// after checking that the chunks account for every byte sealed into the slot (so a cut
    /// list is an ``VaultError/authenticationFailed(slot:chunk:)``, not a clean end).
    ///
    /// Unlike ``forEachChunk(of:thrownErrors:_:)`` the caller drives the loop, so it may
    /// `await` between chunks: copy each chunk into a buffer that is wiped when freed (the
    /// integrations' wiping `ByteBuffer`s), write it, then ask for the next.
    public func withChunk<Result>(
        of dataClass: DataClass, at index: Int, thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (RawSpan) throws -> Result
    ) throws -> Result? {
        guard index >= 0 else { throw VaultError.chunkIndexOutOfRange(index) }
        let next = try decryptChunk(dataClass, at: index)
        guard let chunk = consume next else { return nil }
        let plaintextCount = chunk.plaintextCount
        return try withScratch(chunk.scratch) { scratch in
            try scratch.withUnsafeBytes { bytes in
                let plaintext = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: bytes[..<plaintextCount]))
                return try thrownErrors.apply { try body(plaintext) }
            }
        }
    }

    /// Decrypts the slot into `transferSlot` (for a DMA straight from pinned memory).
    /// Returns the bytes written at the start of the transfer slot.
    public func copyPlaintext(of dataClass: DataClass, into transferSlot: TransferSlot) throws -> Int {
        try withUnsafePlaintext(of: dataClass, thrownErrors: .passThrough) { plaintext in
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
        let slot = try TransferSlot(byteCount: byteCount, budget: vault.transferBudget, system: vault.pool.system)
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
    ///
    /// Two release calls rather than a `Swift.Result` of the outcome: this function is generic
    /// and not specialized across the module boundary, so a `Result<Result, any Error>` cost a
    /// runtime metadata lookup (~330 instructions) and enum copies per call (callgrind).
    private func withScratch<Result>(
        _ scratch: consuming LockedBuffer, _ body: (inout LockedBuffer) throws -> Result
    ) throws -> Result {
        var scratch = scratch
        let value: Result
        do {
            value = try body(&scratch)
        } catch {
            try releaseScratch(scratch)
            throw error
        }
        try releaseScratch(scratch)
        return value
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

    func withOpenState<Result: ~Copyable>(
        _ body: (inout ScopeState) throws(VaultError) -> Result
    ) throws(VaultError) -> Result {
        try state.withLock { (state: inout ScopeState) throws(VaultError) -> Result in
            guard !state.isDiscarded else { throw .discarded }
            return try body(&state)
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
