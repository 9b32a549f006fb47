import CVaultSodium

/// Finds needles in memory without keeping a plaintext copy of any needle.
///
/// Every `window`-byte slice of every needle is stored only as a 128-bit keyed SipHash digest
/// (the key is random per scanner). Scanning slides a Rabin–Karp rolling hash over memory; a
/// Bloom filter indexed by the rolling hash (two bits per window) says which positions could
/// start a needle window, and only those are confirmed by digesting the window and looking the
/// digest up. Nothing the scanner keeps equals needle bytes, so a scan of this very process cannot find
/// the scanner's own state, and a dump of the scanner reveals only digests (a low-entropy needle,
/// such as a dictionary word, could still be guessed from its digests: use random canaries).
///
/// A match of any one window is reported, so partial copies (a fragment at least `window` bytes
/// long) count as residue; ``MatchAccumulator`` merges consecutive windows into one match.
final class NeedleScanner {
    /// Bytes per window; needles must be at least this long.
    let window: Int
    /// The length of each needle, in the order added.
    private(set) var needleLengths: [Int] = []

    private let base: UInt64
    /// `base^(window-1)`: removes the outgoing byte from the rolling hash.
    private let outgoingFactor: UInt64
    /// The Bloom filter's bits, 64 per element.
    private let filter: ZeroedMapping<UInt64>
    /// log2 of the filter's size in bits.
    private let filterBits: Int
    private var digests: DigestTable
    private var key: [UInt8]

    /// Filter sizes: at least 2^24 bits (2 MiB), growing to keep about 32 bits per window so
    /// the false-positive rate stays below 0.5 % however many needles there are.
    static let minimumFilterBits = 24
    static let maximumFilterBits = 30
    /// The smallest window (and so needle) accepted: shorter needles match by chance.
    static let minimumWindow = 8
    /// The window used when every needle is at least this long.
    static let preferredWindow = 32

    struct WindowDigest: Hashable { let high: UInt64; let low: UInt64 }
    struct WindowLocation { let needle: Int32; let offset: Int32 }

    /// One window of one needle found at `address`.
    struct Hit: Equatable {
        let address: UInt64
        let needle: Int
        let needleOffset: Int
    }

    /// - Parameter expectedWindows: roughly how many windows the needles will have, to size
    ///   the filter; 0 for the minimum.
    /// Nil when the filter or table cannot be mapped (ENOMEM).
    init?(window: Int, expectedWindows: Int = 0) {
        _ = sodium_init()
        let window = max(window, Self.minimumWindow)
        self.window = window
        var base: UInt64 = 0
        randombytes_buf(&base, MemoryLayout<UInt64>.size)
        self.base = base | 1
        var factor: UInt64 = 1
        for _ in 0..<(window - 1) { factor = factor &* self.base }
        self.outgoingFactor = factor
        var bits = Self.minimumFilterBits
        while bits < Self.maximumFilterBits && (1 << bits) < expectedWindows * 32 { bits += 1 }
        self.filterBits = bits
        guard let filter = ZeroedMapping<UInt64>(count: (1 << bits) / 64),
              let digests = DigestTable(minimumCapacity: expectedWindows)
        else { return nil }
        self.filter = filter
        self.digests = digests
        // `&key` hands libsodium the array's own storage (it is uniquely referenced here).
        self.key = Array(repeating: 0, count: Self.keyLength)
        randombytes_buf(&key, Self.keyLength)
    }

    deinit {
        sodium_memzero(&key, Self.keyLength)
    }

    private static let keyLength = Int(crypto_shorthash_siphashx24_KEYBYTES)

    var needleCount: Int { needleLengths.count }

    /// The scanner's own mappings (filter and digest table): digests only, skipped when this
    /// process scans itself.
    var ownedRanges: [Range<UInt64>] { [filter.addressRange, digests.addressRange] }
    var windowCount: Int { digests.count }

    /// Records every window of `needle`. The caller owns (and wipes) the bytes; nothing here keeps
    /// a reference to them. Returns the needle's index.
    @discardableResult
    func add(needle: Span<UInt8>) -> Int? {
        guard needle.count >= window, needle.count <= Int(Int32.max) else { return nil }
        let index = needleLengths.count
        needleLengths.append(needle.count)
        var hash = initialHash(needle)
        for offset in 0...(needle.count - window) {
            setFilter(hash)
            let digest = self.digest(needle.extracting(offset..<(offset + window)))
            guard digests.insertIfAbsent(digest, WindowLocation(needle: Int32(index), offset: Int32(offset))) else {
                return nil
            }
            if offset + window < needle.count {
                hash = roll(hash, out: needle[offset], in: needle[offset + window])
            }
        }
        hash = 0
        return index
    }

    /// Reports every needle window that starts at an offset below `startLimit` in `bytes`, whose
    /// first byte lives at `address`. Windows may extend past `startLimit` (chunk overlap).
    func scan(_ bytes: Span<UInt8>, startLimit: Int, address: UInt64, report: (Hit) -> Void) {
        guard bytes.count >= window else { return }
        let last = min(startLimit, bytes.count - window + 1)
        guard last > 0 else { return }
        let shift = UInt64(64 - filterBits)
        let filter = self.filter  // one load of the mapping's address for the whole loop
        var hash = initialHash(bytes)
        var position = 0
        // The one unsafe section of the scanner, and why: this loop runs once per byte of every
        // region scanned, and the span's two bounds checks per byte cost 10-30 % more CPU time
        // in a `zdr scan` of a 1 GiB process (release build). The indices are in bounds by
        // construction: `position + window - 1 < last + window - 1 <= bytes.count`.
        bytes.withUnsafeBufferPointer { pointer in
            while true {
                let slot = Int(truncatingIfNeeded: hash >> shift)
                let second = Int(truncatingIfNeeded: (hash &* Self.mixer) >> shift)
                if filter[slot >> 6] & (1 << UInt64(slot & 63)) != 0,
                   filter[second >> 6] & (1 << UInt64(second & 63)) != 0,
                   let location = digests.find(digest(bytes.extracting(position..<(position + window)))) {
                    report(Hit(address: address + UInt64(position), needle: Int(location.needle),
                               needleOffset: Int(location.offset)))
                }
                position += 1
                if position >= last { break }
                let outgoing = UInt64(pointer[position - 1])
                let incoming = UInt64(pointer[position + window - 1])
                hash = (hash &- outgoing &* outgoingFactor) &* base &+ incoming
            }
        }
    }

    /// The rolling hash of the first window of `bytes`.
    private func initialHash(_ bytes: Span<UInt8>) -> UInt64 {
        var hash: UInt64 = 0
        for index in 0..<window {
            hash = hash &* base &+ UInt64(bytes[index])
        }
        return hash
    }

    private func roll(_ hash: UInt64, out: UInt8, in incoming: UInt8) -> UInt64 {
        (hash &- UInt64(out) &* outgoingFactor) &* base &+ UInt64(incoming)
    }

    /// Sets both filter bits of a window: a two-hash Bloom filter, so that with thousands of
    /// needles only a tiny fraction of positions pay for a digest.
    private func setFilter(_ hash: UInt64) {
        let shift = UInt64(64 - filterBits)
        let first = Int(truncatingIfNeeded: hash >> shift)
        let second = Int(truncatingIfNeeded: (hash &* Self.mixer) >> shift)
        filter[first >> 6] |= 1 << UInt64(first & 63)
        filter[second >> 6] |= 1 << UInt64(second & 63)
    }

    /// An odd constant (2^64 / golden ratio) that spreads the rolling hash's low bits upward for
    /// the filter's second index.
    private static let mixer: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SipHash-2-4 with a 128-bit output (libsodium's `crypto_shorthash_siphashx24`): a keyed
    /// PRF built for short inputs such as 32-byte windows.
    /// `window` is one window's bytes.
    private func digest(_ window: Span<UInt8>) -> WindowDigest {
        var out: (UInt64, UInt64) = (0, 0)
        // The C boundary: libsodium's prototype takes `unsigned char *` for the 16-byte output
        // (the tuple's bytes); the window and the key (`[UInt8]`) pass as they are.
        window.withUnsafeBufferPointer { input in
            withUnsafeMutableBytes(of: &out) { output in
                _ = crypto_shorthash_siphashx24(
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self), input.baseAddress!, UInt64(input.count), key)
            }
        }
        return WindowDigest(high: out.0, low: out.1)
    }
}

/// An open-addressing table from window digest to where the window lies in its needle. The
/// digests are PRF outputs, so their low bits index the table directly (no second hash, which
/// is what made `Dictionary` the scanner's main cost); linear probing, doubling at 50 % load.
/// Slots live in their own zero-filled mapping, so untouched slots cost no memory and a scan of
/// this process can skip the table (it holds digests only).
struct DigestTable {
    private struct Slot {
        var high: UInt64
        var low: UInt64
        /// `(needle + 1) << 32 | offset`; 0 marks an empty slot.
        var location: UInt64
    }

    private var slots: ZeroedMapping<Slot>
    private var mask: Int
    private(set) var count = 0

    init?(minimumCapacity: Int) {
        var capacity = 1024
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        guard let slots = ZeroedMapping<Slot>(count: capacity) else { return nil }
        self.slots = slots
        mask = capacity - 1
    }

    var addressRange: Range<UInt64> { slots.addressRange }

    func find(_ digest: NeedleScanner.WindowDigest) -> NeedleScanner.WindowLocation? {
        var index = Int(truncatingIfNeeded: digest.low) & mask
        while true {
            let slot = slots[index]
            if slot.location == 0 { return nil }
            if slot.high == digest.high && slot.low == digest.low {
                return NeedleScanner.WindowLocation(
                    needle: Int32(truncatingIfNeeded: (slot.location >> 32) - 1), offset: Int32(truncatingIfNeeded: slot.location & 0xFFFF_FFFF))
            }
            index = (index + 1) & mask
        }
    }

    /// Keeps the first location recorded for a digest (a needle repeating a window). False
    /// when the table is full and cannot grow (ENOMEM).
    @discardableResult
    mutating func insertIfAbsent(_ digest: NeedleScanner.WindowDigest, _ location: NeedleScanner.WindowLocation) -> Bool {
        if (count + 1) * 2 > mask + 1 {
            guard grow() else { return false }
        }
        var index = Int(truncatingIfNeeded: digest.low) & mask
        while slots[index].location != 0 {
            if slots[index].high == digest.high && slots[index].low == digest.low { return true }
            index = (index + 1) & mask
        }
        let packed = UInt64(UInt32(location.needle) + 1) << 32 | UInt64(UInt32(location.offset))
        slots[index] = Slot(high: digest.high, low: digest.low, location: packed)
        count += 1
        return true
    }

    private mutating func grow() -> Bool {
        guard var larger = DigestTable(minimumCapacity: mask + 1) else { return false }
        for index in 0...mask where slots[index].location != 0 {
            let slot = slots[index]
            larger.insertIfAbsent(
                NeedleScanner.WindowDigest(high: slot.high, low: slot.low),
                NeedleScanner.WindowLocation(needle: Int32(truncatingIfNeeded: (slot.location >> 32) - 1),
                                             offset: Int32(truncatingIfNeeded: slot.location & 0xFFFF_FFFF)))
        }
        self = larger
        return true
    }
}

/// Merges consecutive window hits of the same needle into one match: a 64-byte needle found
/// whole shows as one 64-byte match rather than 33 window hits.
struct MatchAccumulator {
    struct Run: Equatable {
        var address: UInt64
        var needle: Int
        var needleOffset: Int
        var length: Int
    }

    let window: Int
    private(set) var runs: [Run] = []

    init(window: Int) { self.window = window }

    mutating func add(_ hit: NeedleScanner.Hit) {
        if var last = runs.last,
           last.needle == hit.needle,
           hit.address == last.address + UInt64(last.length - window + 1),
           hit.needleOffset == last.needleOffset + last.length - window + 1 {
            last.length += 1
            runs[runs.count - 1] = last
        } else {
            runs.append(Run(address: hit.address, needle: hit.needle, needleOffset: hit.needleOffset, length: window))
        }
    }
}
