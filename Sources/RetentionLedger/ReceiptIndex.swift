import RetentionVocabulary
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
    /// 32 bytes: the leaf index (48 bits: 2^48 records would be 30 PB of ledger) shares a word
    /// with the frame length (16 bits: frames are at most 4,108 bytes).
    private struct Slot: Sendable {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var offset: Int = 0
        var leafAndLength: UInt64 = 0

        init() {}

        init(_ id: RequestID, _ location: RecordLocation) {
            high = id.high
            low = id.low
            offset = location.offset
            leafAndLength = location.leafIndex << 16 | UInt64(truncatingIfNeeded: location.length & 0xFFFF)
        }

        /// Frame length; 0 marks an empty slot (a frame is never empty).
        var length: Int { Int(leafAndLength & 0xFFFF) }
        var location: RecordLocation { RecordLocation(leafIndex: leafAndLength >> 16, offset: offset, length: length) }
    }

    private static let seed = UInt64.random(in: .min ... .max)
    private var slots: [Slot]
    private var mask: Int
    private var tableCount = 0
    /// Receipts appended since the last lookup, in append order (later ones win); those before
    /// `folded` are already in the table.
    private var unindexed = ChunkedArray<Slot>()
    private var folded = 0

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
        unindexed.append(Slot(id, location))
    }

    /// Receipts added but not yet in the table.
    var unindexedCount: Int { unindexed.count - folded }

    /// Moves up to `limit` added receipts into the table, oldest first (the background flusher
    /// calls this in small steps so a later lookup, and the lock it holds, stay short).
    mutating func fold(limit: Int = .max) {
        let end = unindexed.count - folded <= limit ? unindexed.count : folded + limit
        while folded < end {
            insert(unindexed[folded])
            folded += 1
        }
        if folded == unindexed.count {
            unindexed.removeAll()
            folded = 0
        }
    }

    /// The latest receipt's location for `id`, indexing receipts added since the last lookup.
    mutating func location(of id: RequestID) -> RecordLocation? {
        if unindexedCount > 0 { fold() }
        var index = Self.mix(high: id.high, low: id.low) & mask
        while true {
            let slot = slots[index]
            if slot.length == 0 { return nil }
            if slot.high == id.high && slot.low == id.low { return slot.location }
            index = (index + 1) & mask
        }
    }

    /// Receipts in the table or waiting for it (each request's latest).
    var count: Int { tableCount + unindexedCount }

    /// Calls `body` with each request's latest receipt location, in no particular order.
    mutating func forEachLatest<Failure: Error>(_ body: (RequestID, RecordLocation) throws(Failure) -> Void) throws(Failure) {
        fold()
        for slot in slots where slot.length != 0 { try body(RequestID(high: slot.high, low: slot.low), slot.location) }
    }

    /// Drops the receipts of records before `leaf` (a ledger index now holds them).
    mutating func removeAll(before leaf: UInt64) {
        fold()
        var kept = ReceiptIndex()
        for slot in slots where slot.length != 0 && slot.location.leafIndex >= leaf { kept.insert(slot) }
        self = kept
    }

    private mutating func insert(_ slot: Slot) {
        // Load factor at most 3/4: linear probing stays short for well-mixed keys.
        if (tableCount + 1) * 4 > slots.count * 3 { grow() }
        let mask = mask
        // A span: no copy-on-write check per probe (the mask keeps every index in bounds).
        var slots = self.slots.mutableSpan
        var index = Self.mix(high: slot.high, low: slot.low) & mask
        while slots[index].length != 0 {
            if slots[index].high == slot.high && slots[index].low == slot.low {
                slots[index] = slot
                return
            }
            index = (index + 1) & mask
        }
        slots[index] = slot
        _ = consume slots
        tableCount += 1
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        self.mask = mask
        var slots = self.slots.mutableSpan
        for slot in old where slot.leafAndLength != 0 {
            var index = Self.mix(high: slot.high, low: slot.low) & mask
            while slots[index].length != 0 { index = (index + 1) & mask }
            slots[index] = slot
        }
    }
}
