#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ContentVault

private let guardedChildVariable = "ZDR_VAULT_TEST_GUARDED_CHILD"
private let guardedPrefix = "ZDR-GUARDED "

private func guardedPool(
    _ guarded: Bool, budget: Int = 8 << 20, warmReserve: Int = 0, corruption: MemoryCorruptionPolicy = .terminate
) throws -> SecureMemoryPool {
    try SecureMemoryPool(configuration: .init(
        backend: .locked, byteBudget: budget, warmReserveByteCount: warmReserve, corruptionPolicy: corruption,
        guardsPageSizedBuffers: guarded))
}

/// The child half: without the variable it does nothing. With it ("guarded:N" or "packed:N"),
/// it writes one byte past an N-byte buffer and says whether it survived the write. It never
/// releases the buffer (the release would find the overrun and abort, which is not what is
/// asked here).
@Test("child process: one byte written past a buffer (runs only when spawned by the tests below)",
      .enabled(if: ProcessInfo.processInfo.environment[guardedChildVariable] != nil, "the parent test spawns it"))
func guardedChildProcess() throws {
    guard let request = ProcessInfo.processInfo.environment[guardedChildVariable] else { return }
    let parts = request.split(separator: ":")
    let pool = try guardedPool(parts[0] == "guarded")
    var buffer = try pool.allocate(byteCount: Int(parts[1])!)
    let line = Array("\(guardedPrefix)armed\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
    buffer.withUnsafeMutableBytes { bytes in
        (bytes.baseAddress! + bytes.count).storeBytes(of: 0x41, as: UInt8.self)
    }
    let survived = Array("\(guardedPrefix)survived\n".utf8)
    _ = survived.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
    // A use after the write keeps the buffer alive until here: its release would find the
    // overrun and terminate the process.
    _exit(buffer.count > 0 ? 0 : 1)
}

@Suite("Guarded mode: buffers of a page or more end at a guard page")
struct GuardedModeTests {
    @Test("one byte written past a guarded buffer faults at once; past a packed one it does not (found at release instead)",
          arguments: [("guarded", 4096), ("guarded", 5000), ("guarded", 1 << 20), ("packed", 4096), ("packed", 5000)])
    func overrunFaults(mode: String, byteCount: Int) throws {
        let run = try runTestChild(filter: "guardedChildProcess", variable: guardedChildVariable, value: "\(mode):\(byteCount)")
        let lines = run.lines(prefixed: guardedPrefix)
        try #require(lines.contains("armed"), "child did not run: \(run.output.suffix(2000))")
        if mode == "guarded" {
            #expect(!lines.contains("survived"))
            // Under a sanitizer its runtime catches the fault, reports it and exits instead.
            let faulted = (run.reason == .uncaughtSignal && run.status == SIGSEGV) || run.errors.contains("SEGV on unknown address")
            #expect(faulted, "child ended \(run.reason) \(run.status)")
        } else {
            #expect(lines.contains("survived"), "child ended \(run.reason) \(run.status): \(run.errors.suffix(1500))")
        }
    }

    @Test("a guarded buffer's last byte is the last before the guard page, whatever its length",
          arguments: [4096, 4097, 5000, 8192, 65_537])
    func endsAtPageBoundary(byteCount: Int) throws {
        let pool = try guardedPool(true)
        var buffer = try pool.allocate(byteCount: byteCount)
        let end = buffer.withUnsafeMutableBytes { UInt(bitPattern: $0.baseAddress! + $0.count) }
        #expect(end % UInt(systemPageSize) == 0)
        #expect(buffer.count == byteCount)
        try buffer.release()
    }

    @Test("below a page, guarded mode keeps packed slots; without it, a page-sized buffer is packed too")
    func onlyPageSizedBuffersAreGuarded() throws {
        let packedRegion = SizeClass.regionLength(capacity: systemPageSize, regionTarget: 256 * 1024)
        let guarded = try guardedPool(true)
        var small = try guarded.allocate(byteCount: systemPageSize - 1)
        #expect(guarded.statistics.mappedBytes == packedRegion)
        var page = try guarded.allocate(byteCount: systemPageSize)
        // A region of its own: one page of buffer and one for the canary in front of it.
        #expect(guarded.statistics.mappedBytes == packedRegion + 2 * systemPageSize)
        try page.release()
        try small.release()
        let packed = try guardedPool(false)
        var unguarded = try packed.allocate(byteCount: systemPageSize)
        #expect(packed.statistics.mappedBytes == packedRegion)
        try unguarded.release()
    }

    @Test("a guarded buffer is wiped, verified and unmapped at release: the budget comes back")
    func releaseReturnsTheMapping() throws {
        let pool = try guardedPool(true)
        for byteCount in [4096, 5000, 300_000] {
            var buffer = try pool.allocate(byteCount: byteCount)
            buffer.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
            #expect(pool.statistics.mappedBytes >= byteCount)
            try buffer.release()
            #expect(pool.statistics.mappedBytes == 0)
        }
        #expect(pool.statistics.bytesVerifiedZero >= 4096 + 5000 + 300_000)
    }

    @Test("an emptied guarded region waits in the warm reserve, comes back zero for the next buffer of its size, and goes under budget pressure")
    func guardedRegionsAreReused() throws {
        let pool = try guardedPool(true, budget: 1 << 20, warmReserve: 64 << 10)
        var first = try pool.allocate(byteCount: 5000)
        let firstEnd = first.withUnsafeMutableBytes { bytes in
            bytes.initializeMemory(as: UInt8.self, repeating: 0x77)
            return UInt(bitPattern: bytes.baseAddress! + bytes.count)
        }
        try first.release()
        let kept = pool.statistics
        #expect(kept.mappedBytes == 2 * systemPageSize && kept.idleBytes == kept.mappedBytes)
        var second = try pool.allocate(byteCount: 5000)
        let (secondEnd, zero) = second.withUnsafeMutableBytes { bytes in
            (UInt(bitPattern: bytes.baseAddress! + bytes.count), bytes.allSatisfy { $0 == 0 })
        }
        #expect(secondEnd == firstEnd && zero)
        #expect(pool.statistics.mappedBytes == kept.mappedBytes && pool.statistics.idleBytes == 0)
        try second.release()
        // A buffer that needs the whole budget makes the pool unmap the idle region first.
        var large = try pool.allocate(byteCount: (1 << 20) - systemPageSize)
        #expect(pool.statistics.idleBytes == 0)
        try large.release()
    }

    @Test("an underrun of a guarded buffer hits its front canary and is reported at release")
    func underrunIsCaught() throws {
        let pool = try guardedPool(true, corruption: .quarantineAndReport)
        var buffer = try pool.allocate(byteCount: 5000)
        buffer.withUnsafeMutableBytes { bytes in
            let before = bytes.baseAddress! - 1
            before.storeBytes(of: ~before.load(as: UInt8.self), as: UInt8.self)
        }
        #expect(releaseError(buffer) == .canaryOverrun(slotCapacity: 5000))
        #expect(pool.statistics.corruptionEvents == 1)
    }

    @Test("a vault in guarded mode serves a request whose chunk and scratch are guarded buffers")
    func vaultServesAGuardedRequest() throws {
        let vault = try Vault(configuration: .init(
            backend: .locked, byteBudget: 8 << 20, reaperInterval: nil, hardensProcess: false,
            guardsPageSizedBuffers: true))
        // A small request first, so the key and scratch regions are mapped (and kept warm).
        let warmUp = try vault.openScope()
        try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try warmUp.append(to: .textInput, copying: $0, final: true) }
        _ = try warmUp.withUnsafePlaintext(of: .textInput) { $0.count }
        _ = warmUp.discard(reason: .completed)
        let input = (0..<5001).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let scope = try vault.openScope()
        let idle = vault.pool.statistics.mappedBytes
        let liveBefore = vault.pool.statistics.liveBuffers
        try input.withUnsafeBytes { try scope.append(to: .textInput, copying: $0, final: true) }
        // The sealed chunk has a region of its own: its bytes, rounded to pages, and the canary's.
        #expect(vault.pool.statistics.mappedBytes - idle == 2 * systemPageSize)
        let same = try scope.withUnsafePlaintext(of: .textInput) { plaintext in
            plaintext.count == input.count && input.indices.allSatisfy { plaintext[$0] == input[$0] }
        }
        #expect(same)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.memoryCorruptionDetected == false)
        // Both guarded regions (the chunk's and the scratch's) wait in the warm reserve, empty.
        let after = vault.pool.statistics
        #expect(after.liveBuffers == liveBefore)
        #expect(after.mappedBytes - idle == 4 * systemPageSize)
    }
}
