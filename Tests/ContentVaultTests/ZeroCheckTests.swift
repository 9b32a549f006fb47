#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Testing

/// The zero check every wipe is proven with (`cvault_is_zero`, its AVX2 path from 256 bytes): it
/// must see one non-zero byte wherever it sits. A check
/// that missed one (a dropped accumulator, a skipped tail) would let a failed wipe pass as
/// verified, and every wipe test built on it would pass with it.
@Suite("The zero check behind every verified wipe")
struct ZeroCheckTests {
    @Test("one non-zero byte is seen at every offset, aligned and not, below and above the AVX2 threshold",
          arguments: [1, 7, 8, 9, 31, 128, 255, 256, 257, 383, 384, 511, 4096, 4111, 16385, 40000])
    func oneNonZeroByteIsSeen(length: Int) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: length + 64, alignment: 64)
        defer { storage.deallocate() }
        for misalignment in [0, 1, 17] {
            let bytes = UnsafeMutableRawBufferPointer(rebasing: storage[misalignment..<(misalignment + length)])
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
            #expect(bytes.allSatisfy { $0 == 0 } && cvault_is_zero(bytes.baseAddress, length) == 1)
            // Every offset up to 16 KiB; past it, every 7th and the whole last 512 (the tails).
            let offsets = length <= 16385 ? Array(0..<length) : Array(stride(from: 0, to: length, by: 7)) + Array((length - 512)..<length)
            var missed: [Int] = []
            for offset in offsets {
                for value: UInt8 in [0x01, 0x80] {
                    // Exactly one byte is non-zero now, so the check must say "not zero".
                    bytes[offset] = value
                    if cvault_is_zero(bytes.baseAddress, length) != 0 { missed.append(offset) }
                    bytes[offset] = 0
                }
            }
            let misses = missed.count
            #expect(misses == 0, "length \(length), misaligned by \(misalignment): missed at \(missed.prefix(8))…")
        }
    }
}
