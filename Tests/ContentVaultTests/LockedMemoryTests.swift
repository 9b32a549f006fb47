#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Testing
@testable import ContentVault
import RetentionVocabulary

@Suite("Locked memory: wipe, canaries, budget, backends")
struct LockedMemoryTests {
    @Test("an explicit release wipes the slot; the bytes read back as zero", arguments: realBackends, [64, 4096, 65536, 1 << 20, (1 << 20) + 1])
    func explicitReleaseWipes(backend: MemoryBackend, size: Int) throws {
        let pool = try makePool(backend, budget: 16 << 20)
        var buffer = try pool.allocate(byteCount: size)
        buffer.withUnsafeMutableBytes(fillPattern)
        let address = buffer.baseAddressForTesting
        let capacity = buffer.capacity
        let intact = buffer.withUnsafeBytes(matchesPattern)
        #expect(intact)
        #expect(!isAllZero(address, size))
        if size > SecureMemoryPool.largestPackedByteCount {
            // A dedicated region is unmapped on release; prove the wipe via the counters.
            try buffer.release()
            #expect(pool.statistics.bytesVerifiedZero == UInt64(capacity))
            #expect(pool.statistics.mappedBytes == 0)
        } else {
            try buffer.release()
            #expect(isAllZero(address, capacity))
            #expect(pool.statistics.bytesVerifiedZero == UInt64(capacity))
        }
        #expect(pool.statistics.wipes == 1)
        #expect(pool.statistics.liveBuffers == 0)
    }

    @Test("wipe-and-verify zeroes exactly the bytes asked for, in the one-pass path (≤ 16 KiB) and past it",
          arguments: [1, 31, 127, 128, 129, 255, 4096, 4111, 16383, 16384, 16385, 40000])
    func wipeAndVerifyLengths(length: Int) {
        // Pattern bytes on each side, which the wipe must not reach; 48 of them so the buffer is
        // 16- but not 32-byte aligned, as a pool slot may be (the 32-byte loads and stores are
        // unaligned).
        let margin = 48
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: length + 2 * margin, alignment: 64)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0xA5)
        let start = storage.baseAddress! + margin
        #expect(cvault_wipe_and_verify(start, length) == 1)
        #expect(isAllZero(start, length))
        #expect(storage[..<margin].allSatisfy { $0 == 0xA5 })
        #expect(storage[(margin + length)...].allSatisfy { $0 == 0xA5 })
    }

    @Test("leaving scope runs deinit, which wipes (release builds included)", arguments: realBackends)
    func deinitWipes(backend: MemoryBackend) throws {
        let pool = try makePool(backend)
        var address: UnsafeMutableRawPointer?
        do {
            var buffer = try pool.allocate(byteCount: 4096)
            buffer.withUnsafeMutableBytes(fillPattern)
            address = buffer.baseAddressForTesting
            #expect(!isAllZero(buffer.baseAddressForTesting, 4096))
        }
        #expect(isAllZero(try #require(address), 4096))
        #expect(pool.statistics.wipes == 1)
        #expect(pool.statistics.liveBuffers == 0)
    }

    @Test("a buffer replaced by assignment is wiped")
    func reassignmentWipes() throws {
        let pool = try makePool(.locked)
        var buffer = try pool.allocate(byteCount: 128)
        buffer.withUnsafeMutableBytes(fillPattern)
        let first = buffer.baseAddressForTesting
        buffer = try pool.allocate(byteCount: 128)
        #expect(isAllZero(first, 128))
        #expect(buffer.count == 128)
    }

    @Test("a slot is reused only after it is wiped, and fresh buffers are zero")
    func reuseIsZero() throws {
        let pool = try makePool(.locked)
        var first = try pool.allocate(byteCount: 1000)
        first.withUnsafeMutableBytes(fillPattern)
        let address = first.baseAddressForTesting
        try first.release()
        let second = try pool.allocate(byteCount: 1000)
        #expect(second.baseAddressForTesting == address)
        let fresh = second.withUnsafeBytes { $0.allSatisfy { $0 == 0 } }
        #expect(fresh)
    }

    @Test("writing past the buffer is caught by the canary; the slot is quarantined (quarantine-and-report)", arguments: [64, 4096, (1 << 20) + 100])
    func canaryOverrun(size: Int) throws {
        let pool = try makePool(.locked, budget: 16 << 20, corruption: .quarantineAndReport)
        let buffer = try pool.allocate(byteCount: size)
        let address = buffer.baseAddressForTesting
        let capacity = buffer.capacity
        // One byte past the slot's capacity: the first byte of the next canary. Flip its bits:
        // writing a fixed value would go unnoticed whenever the random canary holds that value.
        let next = (address + capacity).load(as: UInt8.self)
        (address + capacity).storeBytes(of: ~next, as: UInt8.self)
        #expect(releaseError(buffer) == .canaryOverrun(slotCapacity: capacity))
        #expect(pool.statistics.quarantinedSlots == 1)
        if size <= SecureMemoryPool.largestPackedByteCount {
            #expect(isAllZero(address, size))  // wiped even though quarantined
            for _ in 0..<64 {
                let next = try pool.allocate(byteCount: size)
                #expect(next.baseAddressForTesting != address)
            }
        }
    }

    @Test("release writes only the used bytes but proves the whole slot zero; a dirty tail is wiped and reported")
    func usedBytesWipedWholeSlotVerified() throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        var buffer = try pool.allocate(byteCount: 100)  // a 128-byte slot
        buffer.withUnsafeMutableBytes(fillPattern)
        let address = buffer.baseAddressForTesting
        try buffer.release()
        #expect(isAllZero(address, 128))
        #expect(pool.statistics.bytesWiped == 100)
        #expect(pool.statistics.bytesVerifiedZero == 128)

        // A write past `count` (inside the slot, so no canary sees it) is wiped, and is memory
        // corruption like any other write past the buffer.
        let dirty = try pool.allocate(byteCount: 100)
        #expect(dirty.baseAddressForTesting == address)
        (dirty.baseAddressForTesting + 110).storeBytes(of: 0x5A, as: UInt8.self)
        #expect(releaseError(dirty) == .writePastLength(length: 100, slotCapacity: 128))
        #expect(isAllZero(address, 128))
        #expect(pool.statistics.bytesWiped == 100 + 128)
        #expect(pool.statistics.quarantinedSlots == 1)
        #expect(pool.statistics.corruptionEvents == 1)
    }

    @Test("an underrun (write before the buffer) is caught too")
    func canaryUnderrun() throws {
        let pool = try makePool(.locked, corruption: .quarantineAndReport)
        let buffer = try pool.allocate(byteCount: 256)
        let previous = (buffer.baseAddressForTesting - 1).load(as: UInt8.self)
        (buffer.baseAddressForTesting - 1).storeBytes(of: ~previous, as: UInt8.self)
        #expect(releaseError(buffer) == .canaryOverrun(slotCapacity: 256))
    }

    @Test("the budget is backpressure: a typed error, then success after releases")
    func budgetExhaustion() throws {
        let pool = try makePool(.locked, budget: 64 * 1024, region: 64 * 1024)
        #expect(throws: LockedMemoryError.self) { _ = try pool.allocate(byteCount: 1 << 20) }
        var held: [Int] = []
        var buffers: [UnsafeMutableRawPointer] = []
        var thrown: LockedMemoryError?
        var kept = [LockedBufferBox]()
        for _ in 0..<1000 {
            do {
                let buffer = try pool.allocate(byteCount: 4096)
                buffers.append(buffer.baseAddressForTesting)
                kept.append(LockedBufferBox(buffer))
            } catch {
                thrown = error
                break
            }
            held.append(1)
        }
        guard case .budgetExhausted(let requested, let budget, let inUse)? = thrown else {
            Issue.record("expected budgetExhausted, got \(String(describing: thrown))")
            return
        }
        #expect(budget == 64 * 1024)
        #expect(requested + inUse > budget)
        #expect(pool.statistics.mappedBytes <= 64 * 1024)
        #expect(held.count >= 10)
        kept.removeAll()
        let again = try pool.allocate(byteCount: 4096)
        #expect(again.count == 4096)
    }

    @Test("zero and negative sizes are a typed error")
    func invalidSizes() throws {
        let pool = try makePool(.locked)
        #expect(throws: LockedMemoryError.invalidByteCount(0)) { _ = try pool.allocate(byteCount: 0) }
        #expect(throws: LockedMemoryError.invalidByteCount(-5)) { _ = try pool.allocate(byteCount: -5) }
    }

    @Test("/proc/self/smaps shows each region locked, dump-excluded and fork-protected", arguments: realBackends)
    func smapsFlagsPerBackend(backend: MemoryBackend) throws {
        let pool = try makePool(backend)
        let small = try pool.allocate(byteCount: 64)
        let large = try pool.allocate(byteCount: (1 << 20) + 1)
        let regions = pool.regionAddresses
        #expect(regions.count == 2)
        for region in regions {
            let flags = try #require(smapsFlags(containing: region.start))
            // secretmem is locked by the kernel; the locked backend by mlock, which sanitizer
            // runtimes turn into a no-op.
            if backend == .secretmem || !runningUnderSanitizer {
                #expect(flags.contains("lo"), "not locked: \(flags)")
            }
            #expect(flags.contains("dd"), "not dump-excluded: \(flags)")
            switch backend {
            case .secretmem: #expect(flags.contains("dc"), "not DONTFORK: \(flags)")
            case .locked: #expect(flags.contains("wf"), "not WIPEONFORK: \(flags)")
            case .unprotected: break
            }
            // Guard pages: the page before the usable bytes is PROT_NONE (no rd/wr flags).
            let guardFlags = try #require(smapsFlags(containing: region.start - 1))
            #expect(!guardFlags.contains("rd") && !guardFlags.contains("wr"), "guard page accessible: \(guardFlags)")
            let after = try #require(smapsFlags(containing: region.start + UInt(region.length)))
            #expect(!after.contains("rd") && !after.contains("wr"), "guard page accessible: \(after)")
        }
        _ = consume small
        _ = consume large
    }

    @Test("a forked child cannot read content: zero (locked) or unmapped (secretmem)", arguments: realBackends)
    func forkedChildSeesNoContent(backend: MemoryBackend) throws {
        let pool = try makePool(backend)
        var buffer = try pool.allocate(byteCount: 8192)
        buffer.withUnsafeMutableBytes(fillPattern)
        let seen = cvault_fork_probe(buffer.baseAddressForTesting, buffer.count)
        switch backend {
        case .secretmem: #expect(seen == 1, "expected unmapped in child, probe said \(seen)")
        case .locked: #expect(seen == 0, "expected zero in child, probe said \(seen)")
        case .unprotected: #expect(seen == 2)
        }
        let intact = buffer.withUnsafeBytes(matchesPattern)
        #expect(intact)  // the parent keeps its content
    }

    @Test("the fork probe does see content in ordinary memory (the probe can fail)")
    func forkProbeSeesUnprotectedContent() throws {
        let pool = try makePool(.unprotected)
        var buffer = try pool.allocate(byteCount: 4096)
        buffer.withUnsafeMutableBytes(fillPattern)
        #expect(cvault_fork_probe(buffer.baseAddressForTesting, buffer.count) == 2)
    }
}

/// The error an explicit release reports, or nil.
func releaseError(_ buffer: consuming LockedBuffer) -> LockedMemoryError? {
    do {
        try buffer.release()
        return nil
    } catch {
        return error
    }
}

/// Holds a buffer in a class so a test can keep many in an array.
final class LockedBufferBox {
    var buffer: LockedBuffer?
    init(_ buffer: consuming LockedBuffer) { self.buffer = .some(buffer) }
}
