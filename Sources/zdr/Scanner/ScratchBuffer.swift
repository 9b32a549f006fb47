#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVaultSodium
import CVaultSystem

// The scanner's two mapping owners: the only place in zdr's scanner that holds a raw address.
// Everything else reaches the bytes as a `Span` or, at a C call, through a closure here.

/// A page-aligned private mapping for bytes that may be content: a needle being hashed, or a
/// chunk of scanned memory. Kept out of core dumps and (best effort) out of swap, wiped with
/// `sodium_memzero` on ``wipe()`` and before it is unmapped. It is its own mapping so that a scan
/// of this process can exclude exactly its address range.
final class ScratchBuffer {
    /// The mapping, bound to bytes once here (fresh anonymous memory holds no other type).
    private let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    private let mappedLength: Int
    private let isLocked: Bool

    /// Nil when the mapping fails (ENOMEM), or when it cannot be kept out of core dumps and
    /// forked children (fail closed: then it is no place for content). Locking stays best
    /// effort: a scan's scratch can exceed an unprivileged `RLIMIT_MEMLOCK`.
    init?(capacity: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = max(page, (capacity + page - 1) / page * page)
        guard let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED
        else { return nil }
        guard madvise(mapping, length, cvault_madv_dontdump) == 0, madvise(mapping, length, cvault_madv_dontfork) == 0 else {
            munmap(mapping, length)
            return nil
        }
        self.isLocked = mlock(mapping, length) == 0
        self.base = mapping.bindMemory(to: UInt8.self, capacity: length)
        self.capacity = capacity
        self.mappedLength = length
    }

    /// The mapping's address range, for excluding it from a scan of this process.
    var addressRange: Range<UInt64> {
        let start = UInt64(UInt(bitPattern: base))
        return start..<(start + UInt64(mappedLength))
    }

    /// `range` cut to the usable bytes.
    private func clamped(_ range: Range<Int>) -> Range<Int> {
        let upper = min(max(range.upperBound, 0), capacity)
        return min(max(range.lowerBound, 0), upper)..<upper
    }

    /// Calls `body` with the bytes in `range` (cut to ``capacity``); the span cannot escape.
    func withBytes<Result: ~Copyable>(_ range: Range<Int>, _ body: (Span<UInt8>) -> Result) -> Result {
        let range = clamped(range)
        return body(Span(_unsafeElements: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count)))
    }

    /// Calls `body` with write access to the bytes in `range` (cut to ``capacity``), for the C
    /// calls that fill them (`read`, `pread`, `randombytes_buf`) and the vault's `ingesting:`
    /// API. The pointer must not escape `body`.
    func withUnsafeMutableBytes<Result: ~Copyable, Failure: Error>(
        _ range: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let range = clamped(range)
        return try body(UnsafeMutableRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Zeroes the whole mapping.
    func wipe() { sodium_memzero(base, mappedLength) }

    deinit {
        wipe()
        if isLocked { munlock(base, mappedLength) }
        munmap(base, mappedLength)
    }
}

/// A zero-filled anonymous mapping of `count` elements for the scanner's bookkeeping (filter
/// bits, digest table): no content, so neither locked nor wiped; pages never touched cost
/// nothing, which an `Array` (written whole when made) would not give.
final class ZeroedMapping<Element: BitwiseCopyable> {
    private let elements: UnsafeMutablePointer<Element>
    let count: Int
    private let length: Int

    /// Nil when the address space is exhausted.
    init?(count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let byteCount = count * MemoryLayout<Element>.stride
        let length = max(page, (byteCount + page - 1) / page * page)
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else { return nil }
        _ = madvise(mapping, length, cvault_madv_dontdump)
        // Zero pages are a valid value of every element type the scanner stores (integers).
        self.elements = mapping.bindMemory(to: Element.self, capacity: count)
        self.count = count
        self.length = length
    }

    /// Element `index`. Not bounds-checked in release builds, like the pointer it wraps: the
    /// scanner reaches it once or twice per byte scanned, always with an index masked below
    /// ``count``.
    subscript(index: Int) -> Element {
        @inline(__always) get {
            assert(index >= 0 && index < count)
            return elements[index]
        }
        @inline(__always) set {
            assert(index >= 0 && index < count)
            elements[index] = newValue
        }
    }

    var addressRange: Range<UInt64> {
        let start = UInt64(UInt(bitPattern: elements))
        return start..<(start + UInt64(length))
    }

    deinit { munmap(elements, length) }
}
