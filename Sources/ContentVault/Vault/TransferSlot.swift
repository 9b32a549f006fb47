import RetentionVocabulary
internal import CVaultSodium
internal import CVaultSystem
import Synchronization

/// A page-aligned, locked, dump-excluded buffer for DMA to and from a GPU.
///
/// A pageable `cudaMemcpy` leaves the last 2 MiB of the content per direction in the CUDA
/// driver's host staging buffer, where no wipe of the source reaches it; a pinned or
/// `cudaHostRegister`ed page-aligned buffer is copied directly and leaves none. `memfd_secret`
/// memory cannot be registered with CUDA, so transfer slots always come from the `locked`
/// backend (anonymous, `mlock`ed, `MADV_DONTDUMP`, `MADV_WIPEONFORK`, guard pages around).
///
/// The address is stable for the slot's life, so a host can register it once. Call ``wipe()``
/// after each transfer; the scope wipes, verifies and unmaps every transfer slot at discard
/// and counts them in the receipt. Unregister the memory from CUDA before the scope is
/// discarded (for example in an external holder callback, which runs first).
///
/// See `Docs/GPU.md`.
public final class TransferSlot: Sendable {
    /// Usable bytes: the requested count rounded up to whole pages.
    public let byteCount: Int
    private let state: LockedState<TransferState>
    private let budget: TransferBudget
    /// The owning vault's syscall seam (its pool's), so a test's forced failures reach the
    /// slot's mapping as they reach the pool's.
    private let system: SystemCalls

    struct TransferState {
        /// Mapped until released and no body is running.
        var region: Region?
        /// Bodies running now; the unmap waits for the last one.
        var users = 0
        var released = false
        var wipes = 0
        var bytesVerifiedZero: UInt64 = 0
    }

    init(byteCount: Int, budget: TransferBudget, system: SystemCalls) throws(VaultError) {
        guard byteCount > 0 else { throw .invalidByteCount(byteCount) }
        let length = roundUp(byteCount, toMultipleOf: systemPageSize)
        try budget.reserve(length)
        switch Region.map(minimumLength: length, backend: .locked, system: system) {
        case .success(let region):
            self.byteCount = region.length
            self.state = LockedState(TransferState(region: region))
            self.budget = budget
            self.system = system
        case .failure(let error):
            budget.giveBack(length)
            throw .memory(error)
        }
    }

    deinit {
        _ = release()
    }

    /// Calls `body` with the slot's bytes (page-aligned start, ``byteCount`` long).
    ///
    /// No lock is held while `body` runs, so `body` may use the scope (seal what a DMA brought
    /// back, for example). If the scope is discarded meanwhile, the slot is wiped at once and
    /// unmapped when `body` returns: a DMA into it must be finished (synchronized) before `body`
    /// returns.
    ///
    /// - Throws: ``VaultError/transferSlotReleased`` after release, or what `body` throws.
    public func withUnsafeMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result {
        let bytes = try state.withLock { (state: inout TransferState) throws(VaultError) -> UnsafeMutableRawBufferPointer in
            guard let region = state.region, !state.released else { throw .transferSlotReleased }
            state.users += 1
            return UnsafeMutableRawBufferPointer(start: region.base, count: region.length)
        }
        defer {
            let unmap: Region? = state.withLock { state in
                state.users -= 1
                guard state.released, state.users == 0, let region = state.region else { return nil }
                state.region = nil
                return region
            }
            if let unmap { self.unmap(unmap) }
        }
        return try body(bytes)
    }

    /// Wipes the slot and verifies it reads zero; call after each transfer.
    public func wipe() throws(VaultError) {
        try state.withLock { (state: inout TransferState) throws(VaultError) in
            guard let region = state.region, !state.released else { throw .transferSlotReleased }
            Self.wipe(region, &state)
        }
    }

    /// Times the slot was wiped so far (per-transfer wipes and the final one).
    public var wipeCount: Int { state.withLock { $0.wipes } }

    private static func wipe(_ region: Region, _ state: inout TransferState) {
        sodium_memzero(region.base, region.length)
        state.wipes += 1
        if cvault_is_zero(region.base, region.length) == 1 { state.bytesVerifiedZero += UInt64(region.length) }
    }

    /// Final wipe and verification, then unmap (now, or when the running body returns).
    /// Returns bytes verified zero over the slot's life, or nil when it was already released.
    func release() -> UInt64? {
        let (verified, unmap): (UInt64?, Region?) = state.withLock { state in
            guard let region = state.region, !state.released else { return (nil, nil) }
            Self.wipe(region, &state)
            state.released = true
            guard state.users == 0 else { return (state.bytesVerifiedZero, nil) }
            state.region = nil
            return (state.bytesVerifiedZero, region)
        }
        if let unmap { self.unmap(unmap) }
        return verified
    }

    private func unmap(_ region: Region) {
        region.unmap(system: system)
        budget.giveBack(region.length)
    }

    /// Page-aligned start address for registering with a DMA engine, while the slot is alive.
    var baseAddressForTesting: UnsafeMutableRawPointer? { state.withLock { $0.released ? nil : $0.region?.base } }
}

extension TransferSlot: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Size only, never the bytes or the address.
    public var description: String { "TransferSlot(\(byteCount) bytes, locked)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["byteCount": byteCount], displayStyle: .class) }
}

/// The vault-wide byte budget for transfer slots (they are mapped outside the pools).
final class TransferBudget: Sendable {
    let limit: Int
    private let inUse = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var bytesInUse: Int { inUse.load(ordering: .relaxed) }

    func reserve(_ length: Int) throws(VaultError) {
        var current = inUse.load(ordering: .relaxed)
        while true {
            guard length <= limit - current else {
                throw .transferBudgetExhausted(requested: length, budget: limit, inUse: current)
            }
            let (exchanged, now) = inUse.compareExchange(expected: current, desired: current + length, ordering: .relaxed)
            if exchanged { return }
            current = now
        }
    }

    func giveBack(_ length: Int) { inUse.subtract(length, ordering: .relaxed) }
}
