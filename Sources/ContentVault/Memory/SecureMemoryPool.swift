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
/// Every release wipes the bytes the buffer exposed (up to 16 KiB on AVX2 in one pass of vector
/// stores read back past a compiler barrier, otherwise with `sodium_memzero` in 16 KiB chunks)
/// and reads the whole slot back to prove it is zero, and only then makes it reusable.
/// Every release (explicit, `deinit`, a scope's discard or purge) checks both canaries and the
/// slack between the buffer's length and the end of its slot. A violation is memory corruption,
/// handled by the ``MemoryCorruptionPolicy``: by default every region of the process is purged
/// and the process terminates; with ``MemoryCorruptionPolicy/quarantineAndReport`` the slot is
/// wiped whole, quarantined for the
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
        /// requests do not pay for a mapping (regions for the buffers ``allocate(byteCount:)``
        /// returns; a scope's keys and scratch have regions of their own).
        public var prewarmedSlotCapacities: [Int]
        /// Most bytes of regions with no live buffer kept mapped, so a steady load does not map
        /// and unmap a region per request. A region that empties beyond it is wiped, verified,
        /// unlocked and unmapped at once; those within it are unmapped when a mapping would
        /// otherwise exceed the budget. `nil`: a quarter of the budget, at most 16 MiB; 0 unmaps
        /// every region as soon as it empties.
        public var warmReserveByteCount: Int?
        /// What a release that finds memory corruption does. Default ``MemoryCorruptionPolicy/terminate``.
        public var corruptionPolicy: MemoryCorruptionPolicy
        /// Guarded mode, for high-assurance hosts: every buffer of a page or more gets a region of
        /// its own and ends exactly at the guard page after it (as `sodium_malloc`'s do), so a
        /// write or read one byte past it faults at once instead of being found at release. Each
        /// such buffer then costs a mapping (`mmap`, lock, `munmap`); Docs/Performance.md has the
        /// figures. Such a buffer's address is not 16-byte aligned unless its length is a
        /// multiple of 16. Default `false`.
        public var guardsPageSizedBuffers: Bool

        public init(
            backend: BackendPreference = .automatic,
            byteBudget: Int? = nil,
            regionByteCount: Int = 256 * 1024,
            prewarmedSlotCapacities: [Int] = [],
            warmReserveByteCount: Int? = nil,
            corruptionPolicy: MemoryCorruptionPolicy = .terminate,
            guardsPageSizedBuffers: Bool = false
        ) {
            self.guardsPageSizedBuffers = guardsPageSizedBuffers
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
    /// The size class a buffer in a region of its own reports; the guarded kind ends at the
    /// trailing guard page and has no canary after it.
    static let dedicatedClass: Int32 = -1
    static let guardedClass: Int32 = -2

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
    /// Whether buffers of a page or more end at a guard page (``Configuration/guardsPageSizedBuffers``).
    public let guardsPageSizedBuffers: Bool

    let system: SystemCalls
    private let canaryLow: UInt64
    private let canaryHigh: UInt64
    /// `classCount` size classes, 64 B to 1 MiB, once per ``MemoryPurpose`` (purpose-major):
    /// no region holds slots of two purposes. See ``SizeClass`` for why not an `Array`.
    private let classes: UnsafeMutablePointer<SizeClass>
    private static let classCount = largestClassShift - smallestClassShift + 1
    private static let tableCount = classCount * MemoryPurpose.allCases.count
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
        self.guardsPageSizedBuffers = configuration.guardsPageSizedBuffers
        let regionTarget = max(configuration.regionByteCount, systemPageSize)
        if case .unprotected = configuration.backend {} else {
            try Self.checkLockable(
                budget: budget, smallestRegion: SizeClass.regionLength(capacity: 1 << Self.smallestClassShift, regionTarget: regionTarget),
                limits: system.memoryLimits())
        }
        self.selection = try Self.selectBackend(configuration.backend, system: system)

        var canary: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &canary) { randombytes_buf($0.baseAddress!, $0.count) }
        // A zero canary would not catch a zeroing overrun, and zero is what a purge leaves.
        self.canaryLow = canary.0 | 1
        self.canaryHigh = canary.1

        self.classes = .allocate(capacity: Self.tableCount)
        for index in 0..<Self.tableCount {
            (classes + index).initialize(
                to: SizeClass(capacity: 1 << (index % Self.classCount + Self.smallestClassShift), regionTarget: regionTarget))
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
        for index in 0..<Self.tableCount {
            for region in (classes + index).collect(into: &ignored) {
                if !region.retire(backend: backend, system: system) { region.unmap(system: system) }
            }
            classes[index].mutex.destroy()
            classes[index].holds.deallocate()
        }
        for region in dedicated.withLock({ $0.idleGuardedRegions }) {
            if !region.retire(backend: backend, system: system) { region.unmap(system: system) }
        }
        classes.deinitialize(count: Self.tableCount)
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

    // MARK: - Allocation

    /// A zero-filled buffer of `byteCount` bytes in locked memory.
    ///
    /// - Throws: ``LockedMemoryError/budgetExhausted(requested:budget:inUse:)`` when the pool is
    ///   full (backpressure), ``LockedMemoryError/invalidByteCount(_:)`` for `byteCount < 1`, or
    ///   the mapping error when a new region cannot be locked.
    public func allocate(byteCount: Int) throws(LockedMemoryError) -> LockedBuffer {
        try allocate(byteCount: byteCount, purpose: .content)
    }

    /// A zero-filled buffer in a region that holds only buffers of `purpose`, so a linear read
    /// past a buffer of one purpose meets a guard page before any buffer of another.
    @inline(__always)
    func allocate(byteCount: Int, purpose: MemoryPurpose) throws(LockedMemoryError) -> LockedBuffer {
        guard byteCount > 0 else { throw .invalidByteCount(byteCount) }
        // A dedicated region is one buffer between guard pages: already apart from every other.
        if byteCount > Self.largestPackedByteCount || (guardsPageSizedBuffers && byteCount >= systemPageSize) {
            return try allocateDedicated(byteCount: byteCount)
        }
        let index = Self.classIndex(for: byteCount)
        let table = purpose.rawValue &* Self.classCount &+ index
        // Used through the array without a local binding: binding the class to a local costs
        // a retain/release pair, a measurable share of a 64-byte allocation.
        let (base, slot) = try (classes + table).take(in: self)
        return LockedBuffer(
            pool: self, base: base, count: byteCount, capacity: 1 << (index + Self.smallestClassShift),
            sizeClass: Int32(table), slot: slot)
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
        try read(fromFileDescriptor: fileDescriptor, limit: limit, purpose: .content)
    }

    /// ``read(fromFileDescriptor:limit:)`` into buffers of `purpose`.
    func read(fromFileDescriptor fileDescriptor: Int32, limit: Int, purpose: MemoryPurpose) throws(LockedMemoryError) -> LockedBuffer? {
        guard limit > 0 else { throw .invalidByteCount(limit) }
        var buffer = try allocate(byteCount: min(limit, 4096), purpose: purpose)
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
                var larger = try allocate(byteCount: min(limit, buffer.count * 2), purpose: purpose)
                larger.copyPrefix(filled, of: buffer)
                buffer = larger  // the old buffer's deinit wipes it
            }
            switch buffer.read(from: fileDescriptor, at: filled, system: system) {
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
        let endsAtGuard = guardsPageSizedBuffers && byteCount >= systemPageSize
        let length = endsAtGuard
            ? Self.canaryLength + byteCount
            : Self.canaryLength + roundUp(byteCount, toMultipleOf: Self.canaryLength) + Self.canaryLength
        let region: Region
        if endsAtGuard, let idle = takeIdleGuardedRegion(length: roundUp(length, toMultipleOf: systemPageSize)) {
            region = idle
        } else {
            do {
                region = try mapBudgeted(minimumLength: length)
            } catch {
                guard case .budgetExhausted = error else { throw error }
                reclaimIdleRegions()
                region = try mapBudgeted(minimumLength: length)
            }
        }
        let base: UnsafeMutableRawPointer
        let capacity: Int
        if endsAtGuard {
            // The last byte is the last before the guard page; the canary goes in front only.
            capacity = byteCount
            base = region.base + region.length - byteCount
            writeCanary(at: base - Self.canaryLength)
        } else {
            capacity = roundUp(byteCount, toMultipleOf: Self.canaryLength)
            base = region.base + Self.canaryLength
            writeCanary(at: region.base)
            writeCanary(at: base + capacity)
        }
        dedicated.withLock { $0.regions[UInt(bitPattern: base)] = region }
        return LockedBuffer(pool: self, base: base, count: byteCount, capacity: capacity,
                            sizeClass: endsAtGuard ? Self.guardedClass : Self.dedicatedClass, slot: 0)
    }

    private func takeIdleGuardedRegion(length: Int) -> Region? {
        let region: Region? = dedicated.withLock { state in
            guard let index = state.idleGuardedRegions.firstIndex(where: { $0.length == length }) else { return nil }
            return state.idleGuardedRegions.remove(at: index)
        }
        if let region { releaseWarmPlace(region.length) }
        return region
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
        let trailingCanary = sizeClass != Self.guardedClass
        let canaryDamaged = !canariesIntact(around: base, capacity: capacity, trailing: trailingCanary)
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
                    // The slot is proven zero; only the canaries around it are left.
                    sodium_memzero(base - Self.canaryLength, Self.canaryLength)
                    if trailingCanary { sodium_memzero(base + capacity, Self.canaryLength) }
                    if !trailingCanary && claimWarmPlace(region.length) {
                        dedicated.withLock { $0.idleGuardedRegions.append(region) }
                    } else {
                        region.unlockAndUnmap(backend: backend, system: system)
                        mappedBytes.subtract(region.length, ordering: .relaxed)
                    }
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
        for region in dedicated.withLock({ state in defer { state.idleGuardedRegions = [] }; return state.idleGuardedRegions }) {
            releaseWarmPlace(region.length)
            retire(region)
            reclaimed += 1
        }
        for index in 0..<Self.tableCount {
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

    /// `trailing` is false for a guarded buffer, whose end is the guard page.
    private func canariesIntact(around base: UnsafeMutableRawPointer, capacity: Int, trailing: Bool) -> Bool {
        let before = base - Self.canaryLength
        let after = base + capacity
        if canaryIntact(at: before) && (!trailing || canaryIntact(at: after)) { return true }
        // A purge zeroes whole regions, canaries included. Zeroed canaries after a purge are the
        // purge's doing, not an overrun: restore them.
        if cvault_purge_generation() > 0 && isZeroCanary(before) && (!trailing || isZeroCanary(after)) {
            writeCanary(at: before)
            if trailing { writeCanary(at: after) }
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
        for index in 0..<Self.tableCount {
            _ = (classes + index).collect(into: &stats)
        }
        dedicated.withLock { state in
            stats.regions += state.regions.count + state.quarantinedRegions.count + state.idleGuardedRegions.count
            stats.idleBytes += state.idleGuardedRegions.reduce(0) { $0 + $1.length }
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
        for index in 0..<Self.tableCount {
            for region in (classes + index).collect(into: &ignored) {
                result.append((UInt(bitPattern: region.base), region.length))
            }
        }
        dedicated.withLock { state in
            for region in state.regions.values { result.append((UInt(bitPattern: region.base), region.length)) }
            for region in state.quarantinedRegions { result.append((UInt(bitPattern: region.base), region.length)) }
            for region in state.idleGuardedRegions { result.append((UInt(bitPattern: region.base), region.length)) }
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

/// Dedicated regions for buffers larger than the largest packed slot.
struct DedicatedState {
    var regions: [UInt: Region] = [:]
    /// Regions kept mapped for the life of the pool: a quarantined dedicated buffer's, or a
    /// packed region that did not read back as zero when it was retired.
    var quarantinedRegions: [Region] = []
    /// Guarded buffers' regions with no buffer, proven zero, each holding a place in the warm
    /// reserve: reused for the next guarded buffer of the same page count, so a steady load does
    /// not map, lock and unmap one per buffer.
    var idleGuardedRegions: [Region] = []
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
