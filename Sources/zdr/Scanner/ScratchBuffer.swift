#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVaultSodium
import CVaultSystem

/// A page-aligned private mapping for bytes that may be content: a needle being hashed, or a
/// chunk of scanned memory. Kept out of core dumps and (best effort) out of swap, wiped with
/// `sodium_memzero` on ``wipe()`` and before it is unmapped. It is its own mapping so that a scan
/// of this process can exclude exactly its address range.
final class ScratchBuffer {
    let base: UnsafeMutableRawPointer
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
        self.base = mapping
        self.capacity = capacity
        self.mappedLength = length
    }

    /// The mapping's address range, for excluding it from a scan of this process.
    var addressRange: Range<UInt64> {
        let start = UInt64(UInt(bitPattern: base))
        return start..<(start + UInt64(mappedLength))
    }

    func bytes(count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: min(count, capacity))
    }

    /// Zeroes the whole mapping.
    func wipe() { sodium_memzero(base, mappedLength) }

    deinit {
        wipe()
        if isLocked { munlock(base, mappedLength) }
        munmap(base, mappedLength)
    }
}

/// A zero-filled anonymous mapping for the scanner's bookkeeping (filter bits, digest table):
/// no content, so neither locked nor wiped; pages never touched cost nothing.
final class ZeroedMapping {
    let base: UnsafeMutableRawPointer
    private let length: Int

    /// Nil when the address space is exhausted.
    init?(byteCount: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = max(page, (byteCount + page - 1) / page * page)
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else { return nil }
        _ = madvise(mapping, length, cvault_madv_dontdump)
        self.base = mapping
        self.length = length
    }

    var addressRange: Range<UInt64> {
        let start = UInt64(UInt(bitPattern: base))
        return start..<(start + UInt64(length))
    }

    deinit { munmap(base, length) }
}
