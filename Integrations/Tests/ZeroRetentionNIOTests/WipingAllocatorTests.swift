#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Testing
import ZeroRetentionNIO

/// Reads `into.count` bytes at `address` of this process through /proc/self/mem, so that freed
/// (even unmapped) memory is read without a fault: false when the range is not mapped. The
/// destination is allocated by the caller *before* the memory under test is freed: allocated
/// after, it could be that very block (zero-filled by `Array`).
private func readProcessMemory(at address: UInt, into bytes: inout [UInt8]) -> Bool {
    let descriptor = open("/proc/self/mem", O_RDONLY)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    let count = bytes.count
    let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(Int64(bitPattern: UInt64(address)))) }
    return read == count
}

/// How many times the 16-byte `needle` occurs in `haystack`.
private func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
    guard haystack.count >= needle.count else { return 0 }
    return (0...(haystack.count - needle.count)).filter { start in
        haystack[start..<(start + needle.count)].elementsEqual(needle)
    }.count
}

/// A random canary, built so the test holds it only in `needle` (an Array) and the buffer.
private func makeCanary() -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 16)
    arc4random_buf(&bytes, bytes.count)
    return bytes
}

/// Fills a fresh buffer of `capacity` from `allocator` with copies of `canary`, drops it and
/// returns what its storage held afterwards (nil: unmapped).
private func residue(allocator: ByteBufferAllocator, capacity: Int, canary: [UInt8]) -> [UInt8]? {
    var after = [UInt8](repeating: 0, count: capacity)
    var address: UInt = 0
    do {
        var buffer = allocator.buffer(capacity: capacity)
        for _ in 0..<(capacity / canary.count) { buffer.writeBytes(canary) }
        address = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
    }
    return readProcessMemory(at: address, into: &after) ? after : nil
}

@Suite("WipingAllocator: ByteBuffer storage is zeroed before malloc gets it back")
struct WipingAllocatorTests {
    // 24,000 bytes: below glibc's mmap threshold (the freed block stays mapped and readable),
    // and an odd size another test's thread is unlikely to take back at once.
    static let capacity = 24_000

    @Test("a dropped buffer's storage holds no canary with the wiping allocator, and does with the default one")
    func droppedStorageIsWiped() throws {
        let canary = makeCanary()
        let wiped = try #require(residue(allocator: WipingAllocator.byteBufferAllocator, capacity: Self.capacity, canary: canary))
        #expect(occurrences(of: canary, in: wiped) == 0)
        // The same with NIO's default allocator: the bytes outlive the buffer (what the wipe is for).
        let kept = try #require(residue(allocator: ByteBufferAllocator(), capacity: Self.capacity, canary: canary))
        #expect(occurrences(of: canary, in: kept) > Self.capacity / 16 / 2)
    }

    @Test("growing a buffer moves its bytes and wipes the block they left")
    func growthWipesTheOldBlock() throws {
        let canary = makeCanary()
        var left = [UInt8](repeating: 0, count: Self.capacity)
        var buffer = WipingAllocator.byteBufferAllocator.buffer(capacity: Self.capacity)
        for _ in 0..<(Self.capacity / 16) { buffer.writeBytes(canary) }
        let before = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
        buffer.writeBytes([UInt8](repeating: 0xEE, count: 4 * Self.capacity))  // forces a reallocation
        let after = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
        try #require(after != before)
        #expect(buffer.readableBytesView.prefix(16).elementsEqual(canary))
        try #require(readProcessMemory(at: before, into: &left))
        #expect(occurrences(of: canary, in: left) == 0)
    }

    @Test("the allocator's buffers read, write and copy like the default allocator's")
    func behavesLikeTheDefault() {
        var buffer = WipingAllocator.byteBufferAllocator.buffer(capacity: 8)
        buffer.writeString("hello, ")
        buffer.writeString("world")
        var copy = buffer  // copy on write goes through the allocator's copy and allocate
        copy.writeString("!")
        #expect(buffer.getString(at: 0, length: buffer.readableBytes) == "hello, world")
        #expect(copy.getString(at: 0, length: copy.readableBytes) == "hello, world!")
        #expect(WipingAllocator.byteBufferAllocator.buffer(capacity: 0).capacity == 0)
    }
}
