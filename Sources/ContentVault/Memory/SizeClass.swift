internal import CVaultSystem

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

    /// Slots in one region of a class of `capacity`-byte slots.
    static func slotsPerRegion(capacity: Int, regionTarget: Int) -> Int {
        max(1, (regionTarget - SecureMemoryPool.canaryLength) / (capacity + SecureMemoryPool.canaryLength))
    }

    /// The length of one region of a class of `capacity`-byte slots, without making the class
    /// (whose lock and hold counters only the pool's `deinit` frees).
    static func regionLength(capacity: Int, regionTarget: Int) -> Int {
        let slots = slotsPerRegion(capacity: capacity, regionTarget: regionTarget)
        return roundUp(SecureMemoryPool.canaryLength + slots * (capacity + SecureMemoryPool.canaryLength),
                       toMultipleOf: systemPageSize)
    }

    /// Most regions the id encoding leaves room for (31 bits of id).
    var maximumRegions: Int { 1 << (31 - Int(slotShift)) }

    init(capacity: Int, regionTarget: Int) {
        self.capacity = capacity
        self.stride = capacity + SecureMemoryPool.canaryLength
        self.slotsPerRegion = Self.slotsPerRegion(capacity: capacity, regionTarget: regionTarget)
        self.slotShift = Int32(Int.bitWidth - (slotsPerRegion - 1).leadingZeroBitCount)
        self.regionLength = Self.regionLength(capacity: capacity, regionTarget: regionTarget)
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
