#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ContentVault
import RetentionVocabulary
import CVaultSystem

@Suite("Key generator: fast-key-erasure ChaCha20, locked and wiped on fork")
struct KeyGeneratorTests {
    @Test("the generator keeps its state in locked, wipe-on-fork memory on this kernel")
    func buffered() {
        #expect(KeyGenerator.isBuffered)
        #expect(cvault_random_setup_errno() == 0)
    }

    @Test("draws of every size, across refills, are distinct and cover every byte value")
    func draws() throws {
        var seen = Set<[UInt8]>()
        for count in [1, 16, 31, 32, 33, 479, 480, 481, 1000] {
            for _ in 0..<20 {
                let bytes = try randomBytes(count)
                if count >= 16 { #expect(seen.insert(bytes).inserted) }
            }
        }
        // 64 KiB spans ~140 refills; a stuck or zeroed buffer would miss byte values.
        let large = try randomBytes(64 << 10)
        #expect(Set(large).count == 256)
        var counts = [Int](repeating: 0, count: 256)
        for byte in large { counts[Int(byte)] += 1 }
        // Expected 256 per value; a bias or repeated block would push some far out.
        #expect(counts.min()! > 150 && counts.max()! < 370)
    }

    @Test("request ids are distinct")
    func requestIDs() throws {
        var seen = Set<RequestID>()
        for _ in 0..<5000 { #expect(seen.insert(try KeyGenerator.requestID()).inserted) }
    }

    @Test("fast key erasure: drawn bytes and the next key's copy are zeroed in the state at once")
    func drawnBytesAreErased() throws {
        var length = 0
        let state = try #require(cvault_random_state(&length))
        for count in [16, 32, 200, 479, 481, 2000] {
            let drawn = try randomBytes(count)
            #expect(cvault_random_erasure_check() == 0)
            // No 16-byte piece of what was handed out is left in the state.
            let pieces = stride(from: 0, to: count - 15, by: 16).map { Array(drawn[$0..<($0 + 16)]) }
            let left = pieces.filter { piece in
                piece.withUnsafeBytes { needle in (0...(length - 16)).contains { memcmp(state + $0, needle.baseAddress!, 16) == 0 } }
            }
            #expect(left.isEmpty, "\(left.count) piece(s) of a \(count)-byte draw left in the state")
        }
    }

    @Test("each shard is reseeded from the kernel after its refill budget (about 480 KiB of output)")
    func periodicReseed() throws {
        let before = cvault_random_periodic_reseeds()
        // 9 MiB: over 19,000 refills, so that even split evenly over all 16 shards (one per CPU,
        // modulo 16) some shard passes its 1,024.
        for _ in 0..<144 { _ = try randomBytes(64 << 10) }
        #expect(cvault_random_periodic_reseeds() > before)
    }

    @Test("a forked child finds the state zeroed and draws a different stream from the parent")
    func forkSafety() throws {
        // Seed a shard first, so the parent's state holds a key whatever ran before this test
        // (alone, the state is all zero and the child's zero would prove nothing).
        var shardLength = 0
        let shard = cvault_random_seeded_shard(&shardLength)
        #expect(shard != nil && shardLength > 0)
        #expect(cvault_is_zero(shard, shardLength) == 0)
        // The child's copy of the whole state, that shard included, reads zero.
        var length = 0
        let state = cvault_random_state(&length)
        #expect(state != nil && length >= shardLength)
        #expect(cvault_fork_probe(state, length) == 0)
        for _ in 0..<4 {
            var child = [UInt8](repeating: 0, count: 32)
            var parent = [UInt8](repeating: 0, count: 32)
            #expect(cvault_fork_random_probe(&child, &parent, 32) == 0)
            #expect(child != parent)
            #expect(child != [UInt8](repeating: 0, count: 32))
        }
    }

    @Test("many threads draw at once without sharing output")
    func concurrent() async throws {
        let draws = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var mine: [[UInt8]] = []
                    for _ in 0..<500 {
                        mine.append(try randomBytes(32))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(Set(draws).count == 4000)
    }
}

/// `count` bytes from the generator (a test copy: not content).
private func randomBytes(_ count: Int) throws(VaultError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let failure = bytes.withUnsafeMutableBytes { raw -> VaultError? in
        do throws(VaultError) { try KeyGenerator.fill(raw) } catch { return error }
        return nil
    }
    if let failure { throw failure }
    return bytes
}
