import CVaultSodium

/// Finds needles in memory without keeping a plaintext copy of any needle.
///
/// Every `window`-byte slice of every needle is stored only as a 128-bit keyed BLAKE2b digest
/// (the key is random per scanner). Scanning slides a Rabin–Karp rolling hash over memory; a
/// 2^24-bit filter indexed by the rolling hash's top bits says which positions could start a
/// needle window, and only those are confirmed by digesting the window and looking the digest
/// up. Nothing the scanner keeps equals needle bytes, so a scan of this very process cannot find
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
    private var filter: [UInt64]
    private var digests: [WindowDigest: WindowLocation] = [:]
    private var key: [UInt8]

    static let filterBits = 24
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

    init(window: Int) {
        _ = sodium_init()
        let window = max(window, Self.minimumWindow)
        self.window = window
        var base: UInt64 = 0
        withUnsafeMutableBytes(of: &base) { randombytes_buf($0.baseAddress!, $0.count) }
        self.base = base | 1
        var factor: UInt64 = 1
        for _ in 0..<(window - 1) { factor = factor &* self.base }
        self.outgoingFactor = factor
        self.filter = Array(repeating: 0, count: (1 << Self.filterBits) / 64)
        self.key = Array(repeating: 0, count: Int(crypto_generichash_KEYBYTES))
        key.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
    }

    deinit {
        key.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
    }

    var needleCount: Int { needleLengths.count }
    var windowCount: Int { digests.count }

    /// Records every window of `needle`. The caller owns (and wipes) the bytes; nothing here keeps
    /// a reference to them. Returns the needle's index.
    @discardableResult
    func add(needle: UnsafeRawBufferPointer) -> Int? {
        guard needle.count >= window, needle.count <= Int(Int32.max) else { return nil }
        let index = needleLengths.count
        needleLengths.append(needle.count)
        var hash = initialHash(needle.baseAddress!)
        for offset in 0...(needle.count - window) {
            setFilter(hash)
            let digest = self.digest(needle.baseAddress! + offset)
            if digests[digest] == nil {
                digests[digest] = WindowLocation(needle: Int32(index), offset: Int32(offset))
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
    func scan(_ bytes: UnsafeRawBufferPointer, startLimit: Int, address: UInt64, report: (Hit) -> Void) {
        guard bytes.count >= window, let start = bytes.baseAddress else { return }
        let last = min(startLimit, bytes.count - window + 1)
        guard last > 0 else { return }
        let pointer = start.assumingMemoryBound(to: UInt8.self)
        let shift = UInt64(64 - Self.filterBits)
        var hash = initialHash(start)
        var position = 0
        filter.withUnsafeBufferPointer { filter in
            while true {
                let slot = Int(truncatingIfNeeded: hash >> shift)
                if filter[slot >> 6] & (1 << UInt64(slot & 63)) != 0,
                   let location = digests[digest(start + position)] {
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

    private func initialHash(_ pointer: UnsafeRawPointer) -> UInt64 {
        var hash: UInt64 = 0
        for index in 0..<window {
            hash = hash &* base &+ UInt64(pointer.load(fromByteOffset: index, as: UInt8.self))
        }
        return hash
    }

    private func roll(_ hash: UInt64, out: UInt8, in incoming: UInt8) -> UInt64 {
        (hash &- UInt64(out) &* outgoingFactor) &* base &+ UInt64(incoming)
    }

    private func setFilter(_ hash: UInt64) {
        let slot = Int(truncatingIfNeeded: hash >> UInt64(64 - Self.filterBits))
        filter[slot >> 6] |= 1 << UInt64(slot & 63)
    }

    private func digest(_ pointer: UnsafeRawPointer) -> WindowDigest {
        var out: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &out) { output in
            key.withUnsafeBytes { keyBytes in
                _ = crypto_generichash(
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self), output.count,
                    pointer.assumingMemoryBound(to: UInt8.self), UInt64(window),
                    keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count)
            }
        }
        return WindowDigest(high: out.0, low: out.1)
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
