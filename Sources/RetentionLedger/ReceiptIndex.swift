// The latest discard receipt's location per request id.
//
// Built on demand: an append only adds (id, location) to an append-order list; the first lookup
// after appends folds that list into the hash table. Why: with random request ids every insert
// into a table of a million entries is a cache and TLB miss (a `Dictionary` insert was over a
// third of an append's CPU, mostly SipHash and misses), while appends vastly outnumber receipt
// lookups. The table itself is linear probing over one flat array with a keyed
// multiply-xorshift mix: request ids are 128 random bits from the vault, and the per-process
// random seed keeps a host feeding chosen ids from predicting collisions.

struct ReceiptIndex: Sendable {
    private struct Slot: Sendable {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var leafIndex: UInt64 = 0
        var offset: Int = 0
        /// Frame length; 0 marks an empty slot (a frame is never empty).
        var length: Int = 0
    }

    private static let seed = UInt64.random(in: .min ... .max)
    private var slots: [Slot]
    private var mask: Int
    private var count = 0
    /// Receipts appended since the last lookup, in append order (later ones win).
    private var unindexed = ChunkedArray<Slot>()

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity { size <<= 1 }
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func mix(high: UInt64, low: UInt64) -> Int {
        var x = low &+ (high ^ seed) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        x ^= x >> 32
        return Int(truncatingIfNeeded: x)
    }

    /// Records that `id`'s latest receipt is at `location` (O(1), sequential memory).
    mutating func add(_ id: RequestID, _ location: RecordLocation) {
        unindexed.append(Slot(high: id.high, low: id.low, leafIndex: location.leafIndex, offset: location.offset, length: location.length))
    }

    /// The latest receipt's location for `id`, indexing receipts added since the last lookup.
    mutating func location(of id: RequestID) -> RecordLocation? {
        if !unindexed.isEmpty {
            let pending = unindexed
            unindexed.removeAll()
            pending.forEach { insert($0) }
        }
        var index = Self.mix(high: id.high, low: id.low) & mask
        while true {
            let slot = slots[index]
            if slot.length == 0 { return nil }
            if slot.high == id.high && slot.low == id.low {
                return RecordLocation(leafIndex: slot.leafIndex, offset: slot.offset, length: slot.length)
            }
            index = (index + 1) & mask
        }
    }

    private mutating func insert(_ slot: Slot) {
        // Load factor at most 3/4: linear probing stays short for well-mixed keys.
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let mask = mask
        let inserted = slots.withUnsafeMutableBufferPointer { slots -> Bool in
            var index = Self.mix(high: slot.high, low: slot.low) & mask
            while slots[index].length != 0 {
                if slots[index].high == slot.high && slots[index].low == slot.low {
                    slots[index] = slot
                    return false
                }
                index = (index + 1) & mask
            }
            slots[index] = slot
            return true
        }
        if inserted { count += 1 }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        self.mask = mask
        slots.withUnsafeMutableBufferPointer { slots in
            for slot in old where slot.length != 0 {
                var index = Self.mix(high: slot.high, low: slot.low) & mask
                while slots[index].length != 0 { index = (index + 1) & mask }
                slots[index] = slot
            }
        }
    }
}
