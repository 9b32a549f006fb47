public import RetentionVocabulary
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import VaultSystem
internal import CVaultSodium
internal import CVaultSystem

/// A pool of locked memory that packs many small buffers into a few large regions.
///
/// One mapping per buffer is what makes `sodium_malloc` cost four syscalls and pages of address
/// space per allocation, and what makes per-buffer designs run out of lockable memory. Here a
/// region is mapped, locked and guarded once, then carved into power-of-two slots from 64 B to
/// 1 MiB, each with a random canary on both sides. Larger requests get a dedicated region.
///
/// `@unchecked Sendable`: all mutable state sits behind the per-class mutexes, the dedicated-region
/// lock, or an atomic.
///
/// Every release wipes the bytes the buffer exposed with `sodium_memzero` and reads the whole slot back to prove it is zero,
/// and only then makes it reusable. Every release (explicit, `deinit`, a scope's discard or
/// purge) checks both canaries and the slack between the buffer's length and the end of its
/// slot. A violation is memory corruption, handled by the ``MemoryCorruptionPolicy``: by default
/// every region of the process is purged and the process terminates; with
/// ``MemoryCorruptionPolicy/quarantineAndReport`` the slot is wiped whole, quarantined for the
/// life of the pool and counted in ``PoolStatistics/corruptionEvents``.
///
/// Growth stops at the byte budget with ``LockedMemoryError/budgetExhausted(requested:budget:inUse:)``:
/// the pool never hands out unlocked memory and never crashes for a limit. The budget counts
/// mapped bytes, and mappings come back: a region whose last buffer is released is wiped,
/// verified, unlocked and unmapped, except for a warm reserve kept for the next requests, which
/// is itself unmapped when a mapping would otherwise exceed the budget. So `budgetExhausted` is
/// retryable backpressure: it lasts only as long as the buffers that fill the budget.
///
/// ```swift
/// let pool = try SecureMemoryPool()
/// var buffer = try pool.allocate(byteCount: 4096)
/// buffer.withUnsafeMutableBytes { bytes in /* fill */ }
/// try buffer.release()          // or let it go out of scope: deinit wipes too
/// ```
public final class SecureMemoryPool: @unchecked Sendable {
    /// Pool settings.
    public struct Configuration: Sendable, Hashable {
        /// Which backend to use. Default: ``BackendPreference/automatic``.
        public var backend: BackendPreference
        /// Most bytes of locked memory the pool maps, guard pages excluded. `nil` picks a
        /// default under `RLIMIT_MEMLOCK` (see ``MemoryLimits/defaultBudget``).
        public var byteBudget: Int?
        /// Target size of a region for the small size classes. Larger regions mean fewer
        /// mappings; smaller ones waste less budget on idle classes.
        public var regionByteCount: Int
        /// Size classes (slot capacities) to map one region for at start, so the first
        /// requests do not pay for a mapping.
        public var prewarmedSlotCapacities: [Int]
        /// Most bytes of regions with no live buffer kept mapped, so a steady load does not map
        /// and unmap a region per request. A region that empties beyond it is wiped, verified,
        /// unlocked and unmapped at once; those within it are unmapped when a mapping would
        /// otherwise exceed the budget. `nil`: a quarter of the budget, at most 16 MiB; 0 unmaps
        /// every region as soon as it empties.
        public var warmReserveByteCount: Int?
        /// What a release that finds memory corruption does. Default ``MemoryCorruptionPolicy/terminate``.
        public var corruptionPolicy: MemoryCorruptionPolicy

        public init(
            backend: BackendPreference = .automatic,
            byteBudget: Int? = nil,
            regionByteCount: Int = 256 * 1024,
            prewarmedSlotCapacities: [Int] = [],
            warmReserveByteCount: Int? = nil,
            corruptionPolicy: MemoryCorruptionPolicy = .terminate
        ) {
            self.backend = backend
            self.byteBudget = byteBudget
            self.regionByteCount = regionByteCount
            self.prewarmedSlotCapacities = prewarmedSlotCapacities
            self.warmReserveByteCount = warmReserveByteCount
            self.corruptionPolicy = corruptionPolicy
        }
    }

    /// Bytes between packed slots, filled with the pool's canary.
    static let canaryLength = 16
    /// Smallest slot: 64 B (`2^6`). Largest packed slot: 1 MiB (`2^20`).
    static let smallestClassShift = 6
    static let largestClassShift = 20
    /// The largest request served from a packed slot; larger ones get a dedicated region.
    public static let largestPackedByteCount = 1 << largestClassShift

    /// How the backend was chosen.
    public let selection: BackendSelection
    /// The backend in use.
    public var backend: MemoryBackend { selection.backend }
    /// Most bytes of locked memory this pool maps.
    public let byteBudget: Int
    /// Most bytes of empty regions kept mapped (see ``Configuration/warmReserveByteCount``).
    public let warmReserveByteCount: Int
    /// What a release that finds memory corruption does.
    public let corruptionPolicy: MemoryCorruptionPolicy

    let system: SystemCalls
    private let canaryLow: UInt64
    private let canaryHigh: UInt64
    /// `classCount` size classes, 64 B to 1 MiB; see ``SizeClass`` for why not an `Array`.
    private let classes: UnsafeMutablePointer<SizeClass>
    private static let classCount = largestClassShift - smallestClassShift + 1
    private let dedicated: LockedState<DedicatedState>
    private let mappedBytes = Atomic<Int>(0)
    /// Bytes of regions holding a place in the warm reserve. A region takes its place the first
    /// time it empties and keeps it until it is unmapped, so this changes once per region, not
    /// once per allocation.
    private let warmBytes = Atomic<Int>(0)

    /// Creates a pool, choosing and probing the backend now so a host learns at start-up, not in
    /// the middle of a request, that memory cannot be locked.
    public convenience init(configuration: Configuration = Configuration()) throws(LockedMemoryError) {
        try self.init(configuration: configuration, system: .live)
    }

    init(configuration: Configuration, system: SystemCalls) throws(LockedMemoryError) {
        sodiumReady()
        self.system = system
        let budget = configuration.byteBudget ?? system.memoryLimits().defaultBudget
        guard budget > 0 else { throw .invalidByteCount(budget) }
        self.byteBudget = budget
        let reserve = configuration.warmReserveByteCount ?? min(budget / 4, 16 << 20)
        guard reserve >= 0 else { throw .invalidByteCount(reserve) }
        self.warmReserveByteCount = reserve
        self.corruptionPolicy = configuration.corruptionPolicy
        let regionTarget = max(configuration.regionByteCount, systemPageSize)
        if case .unprotected = configuration.backend {} else {
            try Self.checkLockable(
                budget: budget, smallestRegion: SizeClass(capacity: 1 << Self.smallestClassShift, regionTarget: regionTarget).regionLength,
                limits: system.memoryLimits())
        }
        self.selection = try Self.selectBackend(configuration.backend, system: system)

        var canary: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &canary) { randombytes_buf($0.baseAddress!, $0.count) }
        // A zero canary would not catch a zeroing overrun, and zero is what a purge leaves.
        self.canaryLow = canary.0 | 1
        self.canaryHigh = canary.1

        self.classes = .allocate(capacity: Self.classCount)
        for index in 0..<Self.classCount {
            (classes + index).initialize(
                to: SizeClass(capacity: 1 << (index + Self.smallestClassShift), regionTarget: regionTarget))
        }
        self.dedicated = LockedState(DedicatedState())

        if case .unprotected = configuration.backend {
            let warning = "zdr: WARNING: unprotected memory backend in use: request content may be swapped, dumped and inherited by child processes. Development only.\n"
            var text = warning
            text.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        for capacity in configuration.prewarmedSlotCapacities {
            guard capacity > 0, capacity <= Self.largestPackedByteCount else { throw .invalidByteCount(capacity) }
            try (classes + Self.classIndex(for: capacity)).mapRegion(in: self)
        }
    }

    deinit {
        // No buffer is alive here (each holds a strong reference to the pool), and every slot
        // was wiped when it was released; the canaries are wiped with the regions.
        var ignored = PoolStatistics(backend: backend, byteBudget: byteBudget, mappedBytes: 0)
        for index in 0..<Self.classCount {
            for region in (classes + index).collect(into: &ignored) {
                if !region.retire(backend: backend, system: system) { region.unmap(system: system) }
            }
            classes[index].mutex.destroy()
            classes[index].holds.deallocate()
        }
        classes.deinitialize(count: Self.classCount)
        classes.deallocate()
    }

    /// Refuses at start a budget the process could never lock, rather than letting every request
    /// fail later. The backend probe below maps one page, which a limit far below the budget
    /// still allows. `mlock` and secretmem's `mmap` both charge `RLIMIT_MEMLOCK`, which
    /// `CAP_IPC_LOCK` lifts; the limit is per process, so pools sharing one must share it.
    static func checkLockable(budget: Int, smallestRegion: Int, limits: MemoryLimits) throws(LockedMemoryError) {
        if !limits.hasLockCapability, let soft = limits.lockedSoftLimit, budget > soft {
            throw .lockLimitBelowBudget(budget: budget, lockLimit: soft)
        }
        guard budget >= smallestRegion else {
            throw .budgetBelowOneRegion(budget: budget, regionByteCount: smallestRegion)
        }
    }

    private static func selectBackend(
        _ preference: BackendPreference, system: SystemCalls
    ) throws(LockedMemoryError) -> BackendSelection {
        // Probe with a one-page region: the same calls a real region makes, so a refusal here is
        // the refusal a request would have met.
        func probe(_ backend: MemoryBackend) -> LockedMemoryError? {
            switch Region.map(minimumLength: systemPageSize, backend: backend, system: system) {
            case .success(let region):
                region.unmap(system: system)
                return nil
            case .failure(let error):
                return error
            }
        }
        switch preference {
        case .secretmem:
            if let error = probe(.secretmem) { throw error }
            return BackendSelection(backend: .secretmem, secretmemRefusal: nil)
        case .locked:
            if let error = probe(.locked) { throw error }
            return BackendSelection(backend: .locked, secretmemRefusal: nil)
        case .unprotected(let optIn):
            guard optIn else { throw .unprotectedBackendNotAllowed }
            if let error = probe(.unprotected) { throw error }
            return BackendSelection(backend: .unprotected, secretmemRefusal: nil)
        case .automatic:
            guard let secretError = probe(.secretmem) else {
                return BackendSelection(backend: .secretmem, secretmemRefusal: nil)
            }
            // Only a kernel refusal of secretmem itself may fall back, and the fallback is
            // recorded in the selection; a locked-memory failure is an error, never a downgrade.
            guard case .secretMemoryUnavailable(let refusal) = secretError else { throw secretError }
            if let error = probe(.locked) { throw error }
            return BackendSelection(backend: .locked, secretmemRefusal: refusal)
        }
    }

    // MARK: - Allocation

    /// A zero-filled buffer of `byteCount` bytes in locked memory.
    ///
    /// - Throws: ``LockedMemoryError/budgetExhausted(requested:budget:inUse:)`` when the pool is
    ///   full (backpressure), ``LockedMemoryError/invalidByteCount(_:)`` for `byteCount < 1`, or
    ///   the mapping error when a new region cannot be locked.
    public func allocate(byteCount: Int) throws(LockedMemoryError) -> LockedBuffer {
        guard byteCount > 0 else { throw .invalidByteCount(byteCount) }
        if byteCount > Self.largestPackedByteCount { return try allocateDedicated(byteCount: byteCount) }
        let index = Self.classIndex(for: byteCount)
        // Used through the array without a local binding: binding the class to a local costs
        // a retain/release pair, a measurable share of a 64-byte allocation.
        let (base, slot) = try (classes + index).take(in: self)
        return LockedBuffer(
            pool: self, base: base, count: byteCount, capacity: 1 << (index + Self.smallestClassShift),
            sizeClass: Int32(index), slot: slot)
    }

    /// Copies `source` into a new locked buffer, then wipes `source` with `sodium_memzero`,
    /// so the only copy left is the locked one.
    public func ingest(wiping source: UnsafeMutableRawBufferPointer) throws(LockedMemoryError) -> LockedBuffer {
        guard let sourceBase = source.baseAddress, source.count > 0 else { throw .invalidByteCount(source.count) }
        defer { sodium_memzero(sourceBase, source.count) }
        var buffer = try allocate(byteCount: source.count)
        buffer.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(source)) }
        return buffer
    }

    /// Reads from `fileDescriptor` until end of input straight into locked memory (no heap copy),
    /// growing by moving into the next larger slot and wiping the smaller one.
    ///
    /// - Parameters:
    ///   - fileDescriptor: an open descriptor to read until end of input (not closed here).
    ///   - limit: most bytes accepted; more input is ``LockedMemoryError/inputTooLarge(limit:)``
    ///     (what was read is wiped).
    /// - Returns: the bytes read, or `nil` when the input was empty.
    public func read(fromFileDescriptor fileDescriptor: Int32, limit: Int) throws(LockedMemoryError) -> LockedBuffer? {
        guard limit > 0 else { throw .invalidByteCount(limit) }
        var buffer = try allocate(byteCount: min(limit, 4096))
        var filled = 0
        // Reads go up to the buffer's length, never into the rest of its slot: the length is at
        // most `limit`, and the slot past it must stay zero (a release treats bytes there as a
        // write past the buffer).
        while true {
            if filled == buffer.count {
                if filled == limit {
                    // Full at the limit: one more byte means the input is too long.
                    var probe: UInt8 = 0
                    let extra = system.read(fileDescriptor, into: &probe, 1)
                    probe = 0
                    switch extra {
                    case .success(0): buffer.count = filled; return buffer
                    case .success: throw .inputTooLarge(limit: limit)
                    case .failure(let errno): throw .readFailed(errno: errno.rawValue)
                    }
                }
                let larger = try allocate(byteCount: min(limit, buffer.count * 2))
                larger.base.copyMemory(from: buffer.base, byteCount: filled)
                buffer = larger  // the old buffer's deinit wipes it
            }
            switch system.read(fileDescriptor, into: buffer.base + filled, buffer.count - filled) {
            case .success(0):
                guard filled > 0 else { return nil }
                buffer.count = filled
                return buffer
            case .success(let n):
                filled += n
            case .failure(let errno):
                throw .readFailed(errno: errno.rawValue)
            }
        }
    }

    private func allocateDedicated(byteCount: Int) throws(LockedMemoryError) -> LockedBuffer {
        let length = Self.canaryLength + roundUp(byteCount, toMultipleOf: Self.canaryLength) + Self.canaryLength
        let region: Region
        do {
            region = try mapBudgeted(minimumLength: length)
        } catch {
            guard case .budgetExhausted = error else { throw error }
            reclaimIdleRegions()
            region = try mapBudgeted(minimumLength: length)
        }
        let base = region.base + Self.canaryLength
        let capacity = roundUp(byteCount, toMultipleOf: Self.canaryLength)
        writeCanary(at: region.base)
        writeCanary(at: base + capacity)
        dedicated.withLock { $0.regions[UInt(bitPattern: base)] = region }
        return LockedBuffer(pool: self, base: base, count: byteCount, capacity: capacity, sizeClass: -1, slot: 0)
    }

    /// Maps a region after reserving its bytes against the budget; gives them back on failure.
    func mapBudgeted(minimumLength: Int) throws(LockedMemoryError) -> Region {
        let length = roundUp(minimumLength, toMultipleOf: systemPageSize)
        var inUse = mappedBytes.load(ordering: .relaxed)
        while true {
            guard length <= byteBudget - inUse else {
                throw .budgetExhausted(requested: length, budget: byteBudget, inUse: inUse)
            }
            let (exchanged, current) = mappedBytes.compareExchange(
                expected: inUse, desired: inUse + length, ordering: .relaxed)
            if exchanged { break }
            inUse = current
        }
        switch Region.map(minimumLength: length, backend: backend, system: system) {
        case .success(let region):
            return region
        case .failure(let error):
            mappedBytes.subtract(length, ordering: .relaxed)
            throw error
        }
    }

    // MARK: - Release

    /// Wipes, verifies and recycles a slot. Every release path ends here. Returns the memory
    /// corruption found, if any (only under ``MemoryCorruptionPolicy/quarantineAndReport``: by
    /// default corruption does not return); the slot is then quarantined instead of recycled.
    func release(base: UnsafeMutableRawPointer, used: Int, capacity: Int, sizeClass: Int32, slot: Int32) -> LockedMemoryError? {
        var problem: LockedMemoryError?
        let canaryDamaged = !canariesIntact(around: base, capacity: capacity)
        if canaryDamaged { problem = .canaryOverrun(slotCapacity: capacity) }
        var zero: Int32 = 0
        // After an overrun the whole slot is suspect: wipe all of it.
        let wiped = cvault_wipe_slot(base, problem == nil ? used : capacity, capacity, &zero)
        let verified = zero == 1
        // The slack past `used` read back as zero at the last release and no API reaches it, so
        // the wipe routine having to wipe it (it returns the whole capacity then) means a write
        // past the buffer inside its slot. The check is the read the wipe verification makes.
        if problem == nil && wiped > used { problem = .writePastLength(length: used, slotCapacity: capacity) }
        if !verified && problem == nil { problem = .wipeVerificationFailed(slotCapacity: capacity) }
        if let problem { corruptionFound(problem) }

        if sizeClass < 0 {
            let region = dedicated.withLock { $0.regions.removeValue(forKey: UInt(bitPattern: base)) }
            dedicated.withLock { state in
                state.wipes += 1
                state.bytesWiped += UInt64(wiped)
                if verified { state.bytesVerifiedZero += UInt64(capacity) }
                if problem != nil { state.quarantined += 1 }
            }
            if let region {
                if verified {
                    // The slot is proven zero; only the two canaries around it are left.
                    sodium_memzero(region.base, Self.canaryLength)
                    sodium_memzero(base + capacity, Self.canaryLength)
                    region.unlockAndUnmap(backend: backend, system: system)
                    mappedBytes.subtract(region.length, ordering: .relaxed)
                } else {
                    // Not provably zero: stays mapped (and counted) for the life of the pool.
                    dedicated.withLock { $0.quarantinedRegions.append(region) }
                }
            }
        } else if let empty = (classes + Int(sizeClass)).giveBack(
            slot: slot, wiped: wiped, capacity: capacity, verified: verified, quarantine: problem != nil,
            canaryDamaged: canaryDamaged, pool: self
        ) {
            retire(empty)
        }
        return problem
    }

    // MARK: - Memory corruption

    /// A release found corruption: under `terminate`, purge and end the process here (this does
    /// not return); under `quarantineAndReport`, count it and let the caller quarantine.
    private func corruptionFound(_ problem: LockedMemoryError) {
        switch corruptionPolicy {
        case .terminate:
            Self.terminate(after: problem)
        case .quarantineAndReport:
            dedicated.withLock { state in
                state.corruptionEvents += 1
                state.lastCorruption = problem
            }
        }
    }

    /// Purges every locked region of the process (lock-free, before anything else can run),
    /// says why on standard error (sizes only), and aborts, as libsodium and memguard do: after
    /// a write past a buffer nothing in the process can be trusted to hold content safely.
    /// SIGABRT then runs the fatal-signal handlers, if installed, and the default action.
    @inline(never)
    static func terminate(after problem: LockedMemoryError) -> Never {
        cvault_purge_all()
        var message = "zdr: FATAL: memory corruption detected at release (\(problem)); every locked region purged, terminating\n"
        message.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        abort()
    }

    // MARK: - Returning regions

    /// Takes a place in the warm reserve for a region of `length` bytes, if one is left.
    func claimWarmPlace(_ length: Int) -> Bool {
        var current = warmBytes.load(ordering: .relaxed)
        while true {
            guard length <= warmReserveByteCount - current else { return false }
            let (exchanged, now) = warmBytes.compareExchange(
                expected: current, desired: current + length, ordering: .relaxed)
            if exchanged { return true }
            current = now
        }
    }

    func releaseWarmPlace(_ length: Int) {
        warmBytes.subtract(length, ordering: .relaxed)
    }

    /// Wipes, verifies, unlocks and unmaps a region that no longer has a slot in its class, and
    /// gives its bytes back to the budget. A region that does not read back as zero after the
    /// wipe has something writing into memory no buffer owns: memory corruption; under
    /// quarantine-and-report it stays mapped and counted, never reused.
    private func retire(_ region: Region) {
        if region.retire(backend: backend, system: system) {
            mappedBytes.subtract(region.length, ordering: .relaxed)
        } else {
            corruptionFound(.wipeVerificationFailed(slotCapacity: region.length))
            dedicated.withLock { state in
                state.quarantinedRegions.append(region)
                state.quarantined += 1
            }
        }
    }

    /// Unmaps every region with no live buffer (warm ones included), one class at a time and
    /// never with two class locks held. Called only when a mapping would exceed the budget.
    /// - Returns: the number of regions unmapped.
    @discardableResult
    func reclaimIdleRegions() -> Int {
        var reclaimed = 0
        for index in 0..<Self.classCount {
            for region in (classes + index).detachIdleRegions(pool: self) {
                retire(region)
                reclaimed += 1
            }
        }
        return reclaimed
    }

    // MARK: - Canaries

    func writeCanary(at address: UnsafeMutableRawPointer) {
        address.storeBytes(of: canaryLow, as: UInt64.self)
        (address + 8).storeBytes(of: canaryHigh, as: UInt64.self)
    }

    private func canaryIntact(at address: UnsafeMutableRawPointer) -> Bool {
        address.loadUnaligned(as: UInt64.self) == canaryLow
            && (address + 8).loadUnaligned(as: UInt64.self) == canaryHigh
    }

    private func canariesIntact(around base: UnsafeMutableRawPointer, capacity: Int) -> Bool {
        let before = base - Self.canaryLength
        let after = base + capacity
        if canaryIntact(at: before) && canaryIntact(at: after) { return true }
        // A purge zeroes whole regions, canaries included. Zeroed canaries after a purge are the
        // purge's doing, not an overrun: restore them.
        if cvault_purge_generation() > 0 && isZeroCanary(before) && isZeroCanary(after) {
            writeCanary(at: before)
            writeCanary(at: after)
            return true
        }
        return false
    }

    private func isZeroCanary(_ address: UnsafeMutableRawPointer) -> Bool {
        canaryIntact(at: address) || cvault_is_zero(address, Self.canaryLength) == 1
    }

    // MARK: - Purge and statistics

    /// Wipes every region of every pool in the process, live buffers included.
    ///
    /// Lock-free and async-signal-safe in its C core (the same routine the fatal-signal handlers
    /// run). Meant for the end of a process: buffers alive during a purge read as zero afterwards.
    /// - Returns: bytes wiped.
    @discardableResult
    public static func purgeAll() -> Int {
        Int(cvault_purge_all())
    }

    /// Counters for diagnostics and discard receipts.
    public var statistics: PoolStatistics {
        var stats = PoolStatistics(
            backend: backend, byteBudget: byteBudget, mappedBytes: mappedBytes.load(ordering: .relaxed))
        for index in 0..<Self.classCount {
            _ = (classes + index).collect(into: &stats)
        }
        dedicated.withLock { state in
            stats.regions += state.regions.count + state.quarantinedRegions.count
            stats.liveBuffers += state.regions.count
            stats.wipes += state.wipes
            stats.bytesWiped += state.bytesWiped
            stats.bytesVerifiedZero += state.bytesVerifiedZero
            stats.quarantinedSlots += state.quarantined
            stats.corruptionEvents = state.corruptionEvents
            stats.lastCorruption = state.lastCorruption
        }
        return stats
    }

    /// The regions this pool has mapped (start of usable bytes, length), for diagnostics that
    /// check them in `/proc/self/smaps`.
    package var regionAddresses: [(start: UInt, length: Int)] {
        var result: [(UInt, Int)] = []
        var ignored = PoolStatistics(backend: backend, byteBudget: byteBudget, mappedBytes: 0)
        for index in 0..<Self.classCount {
            for region in (classes + index).collect(into: &ignored) {
                result.append((UInt(bitPattern: region.base), region.length))
            }
        }
        dedicated.withLock { state in
            for region in state.regions.values { result.append((UInt(bitPattern: region.base), region.length)) }
            for region in state.quarantinedRegions { result.append((UInt(bitPattern: region.base), region.length)) }
        }
        return result
    }

    @inline(__always)
    static func classIndex(for byteCount: Int) -> Int {
        // The smallest power of two ≥ byteCount, as an index from 64 B.
        let shift = byteCount <= 1 ? 0 : Int.bitWidth - (byteCount - 1).leadingZeroBitCount
        return max(shift, smallestClassShift) - smallestClassShift
    }
}

extension SecureMemoryPool: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Backend and budget; a pool has no content of its own to show.
    public var description: String {
        let warning = backend == .unprotected ? " UNPROTECTED" : ""
        return "SecureMemoryPool(\(selection), budget \(byteBudget) B\(warning))"
    }

    public var debugDescription: String { description }

    /// Reflection shows the same fields as ``description``: never canaries or addresses.
    public var customMirror: Mirror {
        Mirror(self, children: ["backend": selection.description, "byteBudget": byteBudget], displayStyle: .class)
    }
}

/// Pool counters at one moment.
public struct PoolStatistics: Hashable, Sendable, CustomStringConvertible {
    public var backend: MemoryBackend
    public var byteBudget: Int
    /// Bytes of locked memory mapped now (guard pages excluded). Counted against the budget.
    public var mappedBytes: Int
    /// Of ``mappedBytes``, the bytes of packed regions with no live buffer: the warm reserve,
    /// unmapped when the budget needs them. `mappedBytes - idleBytes` is what buffers hold.
    public var idleBytes = 0
    public var regions = 0
    /// Buffers handed out and not yet released.
    public var liveBuffers = 0
    /// Slots wiped since the pool was created.
    public var wipes: UInt64 = 0
    /// Bytes written with zeroes: a buffer's used bytes (the rest of its slot was already zero).
    public var bytesWiped: UInt64 = 0
    /// Bytes read back as zero after their wipe: whole slots.
    public var bytesVerifiedZero: UInt64 = 0
    /// Slots never reused because of an overrun or a failed verification.
    public var quarantinedSlots = 0
    /// Releases that found memory corruption (an overwritten canary, bytes written past a
    /// buffer's length, a wipe that did not read back as zero). Non-zero only under
    /// ``MemoryCorruptionPolicy/quarantineAndReport``: by default the process ends at the first.
    public var corruptionEvents = 0
    /// The most recent of those (sizes only, never content).
    public var lastCorruption: LockedMemoryError?

    public var description: String {
        "PoolStatistics(backend: \(backend), mapped: \(mappedBytes)/\(byteBudget) B, idle: \(idleBytes) B, regions: \(regions), live: \(liveBuffers), wipes: \(wipes), wiped: \(bytesWiped) B, verified zero: \(bytesVerifiedZero) B, quarantined: \(quarantinedSlots), corruption events: \(corruptionEvents)\(lastCorruption.map { " (last: \($0))" } ?? ""))"
    }
}

/// Dedicated regions for buffers larger than the largest packed slot.
struct DedicatedState {
    var regions: [UInt: Region] = [:]
    /// Regions kept mapped for the life of the pool: a quarantined dedicated buffer's, or a
    /// packed region that did not read back as zero when it was retired.
    var quarantinedRegions: [Region] = []
    var wipes: UInt64 = 0
    var bytesWiped: UInt64 = 0
    var bytesVerifiedZero: UInt64 = 0
    var quarantined = 0
    /// For the whole pool: the corruption counters, touched only when a release finds one.
    var corruptionEvents = 0
    var lastCorruption: LockedMemoryError?
}

/// What a release does when it finds memory corruption: an overwritten canary, bytes written
/// past the buffer's length inside its slot, or a wipe that did not read back as zero.
public enum MemoryCorruptionPolicy: Hashable, Sendable {
    /// Purge every locked region of the process and terminate (`abort`), as libsodium and
    /// memguard do. The default: a write past one buffer may have reached others, and code that
    /// overruns once will again.
    case terminate
    /// Wipe the whole slot and quarantine it, count the event in ``PoolStatistics`` and report
    /// it to the releaser (``LockedBuffer/release()`` throws; a scope's receipt says so). For
    /// hosts that must keep serving and alert instead.
    case quarantineAndReport
}

/// One power-of-two size class: its regions and a stack of free slots, behind its own lock.
///
/// The pool keeps its classes in one manually allocated array (`UnsafeMutablePointer`) rather
/// than an `Array` of objects: reaching a class object through an array costs a retain/release
/// pair per call, measurable on a 64-byte allocation. The array is allocated in the pool's
/// `init`, never resized, and freed in its `deinit`.
struct SizeClass {
    let capacity: Int
    let stride: Int
    let slotsPerRegion: Int
    /// A slot id is `region << slotShift | position`: a shift and a mask find both on every
    /// allocation and release, where a division cost a measurable share of a 64-byte one.
    let slotShift: Int32
    let regionLength: Int
    let mutex = PthreadMutex()
    /// Guarded by `mutex`. Indexed by slot id >> `slotShift`; an unmapped region leaves a hole
    /// (nil) that the next mapping fills, so the ids of the other regions never move.
    var regions: [RegionEntry] = []
    /// Free slot ids; the most recently freed on top, so hot slots stay in cache.
    var free: [Int32] = []
    /// Per region (same index as `regions`): its slots handed out and not given back,
    /// quarantined ones included, plus one while it holds a warm place. A region is returned
    /// only when this reaches zero, so a release checks one counter and a warm region never gets
    /// there. Raw memory, not an `Array`: no uniqueness check per access. Grown in `addRegion`,
    /// freed with the pool.
    var holds: UnsafeMutablePointer<Int32>
    var holdsCapacity: Int
    var live = 0
    var wipes: UInt64 = 0
    var bytesWiped: UInt64 = 0
    var bytesVerifiedZero: UInt64 = 0
    var quarantined = 0

    /// A region of the class; nil once returned, until a new mapping fills the hole.
    struct RegionEntry {
        var region: Region?
        /// Holds a place in the pool's warm reserve (and one of its `holds`).
        var warm = false
    }

    /// Most regions the id encoding leaves room for (31 bits of id).
    var maximumRegions: Int { 1 << (31 - Int(slotShift)) }

    init(capacity: Int, regionTarget: Int) {
        self.capacity = capacity
        self.stride = capacity + SecureMemoryPool.canaryLength
        self.slotsPerRegion = max(1, (regionTarget - SecureMemoryPool.canaryLength) / stride)
        self.slotShift = Int32(Int.bitWidth - (slotsPerRegion - 1).leadingZeroBitCount)
        self.regionLength = roundUp(
            SecureMemoryPool.canaryLength + slotsPerRegion * stride, toMultipleOf: systemPageSize)
        self.holdsCapacity = 8
        self.holds = .allocate(capacity: holdsCapacity)
        holds.initialize(repeating: 0, count: holdsCapacity)
    }
}

/// The operations on a size class go through a pointer to it, never through a `mutating`
/// method: a `mutating` call is an exclusive access to the whole struct from the call on, which
/// lets the optimizer assume nobody else changes it, including before `lock()` returns. Each
/// `pointee` access below starts after the lock is held.
extension UnsafeMutablePointer<SizeClass> {
    /// Pops a free slot, mapping a new region when none is left.
    @inline(__always)
    func take(in pool: SecureMemoryPool) throws(LockedMemoryError) -> (UnsafeMutableRawPointer, Int32) {
        pointee.mutex.lock()
        defer { pointee.mutex.unlock() }
        if pointee.free.isEmpty { try refill(pool: pool) }
        let slot = pointee.free.removeLast()
        pointee.live += 1
        let shift = pointee.slotShift
        let index = Int(slot &>> shift)
        pointee.holds[index] += 1
        let base = pointee.regions[index].region.unsafelyUnwrapped.base
        let position = Int(slot & ((1 &<< shift) &- 1))
        return (base + SecureMemoryPool.canaryLength + position * pointee.stride, slot)
    }

    /// Records a wiped slot and makes it reusable unless quarantined. Returns the slot's region
    /// when that release emptied it and the warm reserve has no place for it: detached from the
    /// class, for the caller to retire outside the lock.
    @inline(__always)
    func giveBack(
        slot: Int32, wiped: Int, capacity: Int, verified: Bool, quarantine: Bool, canaryDamaged: Bool,
        pool: SecureMemoryPool
    ) -> Region? {
        pointee.mutex.lock()
        defer { pointee.mutex.unlock() }
        pointee.live -= 1
        pointee.wipes += 1
        pointee.bytesWiped += UInt64(wiped)
        if verified { pointee.bytesVerifiedZero += UInt64(capacity) }
        if quarantine {
            pointee.quarantined += 1
            if canaryDamaged { repairNeighbours(of: slot, pool: pool) }
            return nil
        }
        pointee.free.append(slot)
        let index = Int(slot &>> pointee.slotShift)
        pointee.holds[index] -= 1
        guard pointee.holds[index] == 0 else { return nil }
        return emptied(index, pool: pool)
    }

    /// A region without a warm place just emptied: it takes one, or leaves the class. Out of
    /// line: a warm region never gets here, so a steady load does not either.
    @inline(never)
    private func emptied(_ index: Int, pool: SecureMemoryPool) -> Region? {
        if pool.claimWarmPlace(pointee.regionLength) {
            pointee.regions[index].warm = true
            pointee.holds[index] = 1
            return nil
        }
        return detach(index, pool: pool)
    }

    /// Whether region `index` is mapped and no buffer holds a slot in it (lock held).
    private func isIdle(_ index: Int) -> Bool {
        pointee.regions[index].region != nil && pointee.holds[index] == (pointee.regions[index].warm ? 1 : 0)
    }

    /// After an overwritten canary (quarantine-and-report): the canaries are shared with the
    /// neighbouring slots, and the write may have run on into them. A free neighbour is wiped,
    /// proven zero and given its canary back, so nothing of the overrun reaches its next owner
    /// and its next release is not blamed for it; a neighbour that does not read back as zero
    /// is quarantined too. A live neighbour keeps the damaged canary, so its own release reports
    /// that its boundary was overwritten (and its scope's receipt says so). Lock held; rare path.
    @inline(never)
    private func repairNeighbours(of slot: Int32, pool: SecureMemoryPool) {
        let perRegion = pointee.slotsPerRegion
        let shift = pointee.slotShift
        let index = Int(slot &>> shift)
        guard let region = pointee.regions[index].region else { return }
        let position = Int(slot & ((1 &<< shift) &- 1))
        let stride = pointee.stride
        // Canary k sits before slot k; slot k's bytes start one canary after it.
        func canary(_ k: Int) -> UnsafeMutableRawPointer { region.base + k * stride }
        for (neighbour, sharedCanary) in [(position - 1, position), (position + 1, position + 1)] {
            guard neighbour >= 0, neighbour < perRegion else {
                pool.writeCanary(at: canary(sharedCanary))  // the region's edge: this slot's alone
                continue
            }
            let id = Int32(index << Int(shift) | neighbour)
            guard let freeIndex = pointee.free.firstIndex(of: id) else { continue }  // live
            let bytes = canary(neighbour) + SecureMemoryPool.canaryLength
            if cvault_wipe_and_verify(bytes, pointee.capacity) == 1 {
                pool.writeCanary(at: canary(sharedCanary))
            } else {
                pointee.free.remove(at: freeIndex)
                pointee.quarantined += 1
                pointee.holds[index] += 1  // never empties, so never reused or unmapped
            }
        }
    }

    /// Removes an empty region and its free slots from the class (lock held). The caller retires it.
    private func detach(_ index: Int, pool: SecureMemoryPool) -> Region? {
        guard isIdle(index), let region = pointee.regions[index].region else { return nil }
        if pointee.regions[index].warm { pool.releaseWarmPlace(pointee.regionLength) }
        pointee.holds[index] = 0
        let shift = pointee.slotShift
        let region32 = Int32(index)
        pointee.free.removeAll { $0 &>> shift == region32 }
        pointee.regions[index] = SizeClass.RegionEntry()
        return region
    }

    /// Detaches every region with no live buffer, for the pool to retire outside the lock.
    func detachIdleRegions(pool: SecureMemoryPool) -> [Region] {
        pointee.mutex.lock()
        defer { pointee.mutex.unlock() }
        var detached: [Region] = []
        for index in pointee.regions.indices where isIdle(index) {
            if let region = detach(index, pool: pool) { detached.append(region) }
        }
        return detached
    }

    /// Maps one more region for this class, holding a warm place if one is left (it starts empty).
    func mapRegion(in pool: SecureMemoryPool) throws(LockedMemoryError) {
        pointee.mutex.lock()
        defer { pointee.mutex.unlock() }
        let index = try addRegion(pool: pool)
        if pool.claimWarmPlace(pointee.regionLength) {
            pointee.regions[index].warm = true
            pointee.holds[index] = 1
        }
    }

    /// Adds the counters to `stats` and returns the regions.
    func collect(into stats: inout PoolStatistics) -> [Region] {
        pointee.mutex.lock()
        defer { pointee.mutex.unlock() }
        var regions: [Region] = []
        for index in pointee.regions.indices {
            guard let region = pointee.regions[index].region else { continue }
            regions.append(region)
            if isIdle(index) { stats.idleBytes += region.length }
        }
        stats.regions += regions.count
        stats.liveBuffers += pointee.live
        stats.wipes += pointee.wipes
        stats.bytesWiped += pointee.bytesWiped
        stats.bytesVerifiedZero += pointee.bytesVerifiedZero
        stats.quarantinedSlots += pointee.quarantined
        return regions
    }

    /// No free slot (lock held, and held again on return): maps a region, and when the budget
    /// refuses, unmaps the pool's idle regions and tries once more. The lock is let go meanwhile:
    /// reclaiming takes every class's lock in turn, and holding two would risk a deadlock.
    @inline(never)
    private func refill(pool: SecureMemoryPool) throws(LockedMemoryError) {
        do {
            try addRegion(pool: pool)
        } catch {
            guard case .budgetExhausted = error else { throw error }
            pointee.mutex.unlock()
            pool.reclaimIdleRegions()
            pointee.mutex.lock()
            // Another thread may have given a slot back or mapped a region meanwhile.
            guard pointee.free.isEmpty else { return }
            try addRegion(pool: pool)
        }
    }

    /// Caller holds the lock. Returns the new region's index.
    @discardableResult
    private func addRegion(pool: SecureMemoryPool) throws(LockedMemoryError) -> Int {
        // The first hole an unmapped region left, else a new index.
        let index = pointee.regions.firstIndex { $0.region == nil } ?? pointee.regions.count
        // Only a budget of tens of GiB in one class reaches this; the purge registry (16,384
        // regions in all) is full long before.
        guard index < pointee.maximumRegions else { throw .purgeRegistryFull }
        let region = try pool.mapBudgeted(minimumLength: pointee.regionLength)
        let stride = pointee.stride
        let perRegion = pointee.slotsPerRegion
        // Canaries between and around the slots: [C][slot 0][C][slot 1][C] … [C].
        for position in 0...perRegion {
            pool.writeCanary(at: region.base + position * stride)
        }
        if index == pointee.regions.count { pointee.regions.append(SizeClass.RegionEntry()) }
        pointee.regions[index] = SizeClass.RegionEntry(region: region)
        if index >= pointee.holdsCapacity {
            let grown = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * index)
            grown.initialize(repeating: 0, count: 2 * index)
            grown.update(from: pointee.holds, count: index)
            pointee.holds.deallocate()
            pointee.holds = grown
            pointee.holdsCapacity = 2 * index
        }
        pointee.holds[index] = 0
        let first = Int32(index << Int(pointee.slotShift))
        // Highest id first so the lowest addresses are handed out first.
        for id in (first..<first + Int32(perRegion)).reversed() { pointee.free.append(id) }
        return index
    }
}

/// `sodium_init()` exactly once per process; the static `let` initializer is thread-safe.
private let sodiumInitialized: Bool = sodium_init() >= 0

@inline(__always)
func sodiumReady() {
    // sodium_init only fails when the system has no usable randomness source; nothing in this
    // package can work then, and continuing would produce predictable keys.
    precondition(sodiumInitialized, "libsodium could not be initialized")
}
