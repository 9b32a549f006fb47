// Issue 2: what a locked buffer costs next to the alternatives, in the same run.
//
// One operation = allocate n bytes + fill them + wipe them + release them, for n in 64 B, 4 KiB,
// 64 KiB and 1 MiB:
//   - `malloc`:        malloc + memset + explicit_bzero + free (the unprotected floor)
//   - `sodium_malloc`: sodium_malloc + memset + sodium_free (one guarded mlock'd mapping each)
//   - `pool.locked`, `pool.secretmem`: SecureMemoryPool.allocate + memset + LockedBuffer.release
//     (sodium_memzero of the slot, read back to verify zero, canary check, slot recycled)
//   - `malloc+verify`, `malloc+fused`: malloc + memset + wipe and read-back verification in two
//     passes, or fused 16 KiB at a time as the pool does it, + free. They split the pool's cost:
//     `malloc+fused` minus `malloc` is the price of proving the wipe; the pool's remaining gap
//     is its bookkeeping (lock, free list, canaries).
//   - `mlock-slot+fused`: memset + the fused wipe/read-back on one fixed mlock'd slot laid out like
//     the pool's (16-byte offset), no allocation at all. Its gap to `malloc+fused` is the memory
//     itself (4 KiB locked pages vs malloc's heap, which THP may back with 2 MiB pages).
//   - `mlock-huge-slot+fused`: the same on a 2 MiB-aligned mlock'd mapping advised
//     MADV_HUGEPAGE: whether huge pages close that gap (possible for `locked`, not `secretmem`).
//
// Targets (ratios of medians, same run): pool ≤ 3× malloc at 64 B, ≤ 2× at 4 KiB, ≤ 1.5× at 1 MiB;
// pool ≥ 50× faster than sodium_malloc at 4 KiB. Docs/Performance.md has the figures.

import Benchmark
import BenchmarkSupport
import CBenchBaselines
import CBenchSodium
import ContentVault
import RetentionVocabulary

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The sizes issue 2 asks about, with the label used in benchmark names.
private let sizes: [(label: String, byteCount: Int)] = [
    ("64 B", 64),
    ("4 KiB", 4 << 10),
    ("64 KiB", 64 << 10),
    ("1 MiB", 1 << 20),
]

/// The byte every variant fills with: not zero, so the wipe has something to do.
private let fillByte: Int32 = 0xA5

/// A pool per backend, prewarmed for every size so no benchmark pays for the first mapping.
/// `nil` when the kernel refuses the backend (e.g. no `memfd_secret`); that variant is skipped.
private func makePool(_ backend: BackendPreference) -> SecureMemoryPool? {
    do {
        return try SecureMemoryPool(
            configuration: .init(
                backend: backend,
                byteBudget: 64 << 20,
                prewarmedSlotCapacities: sizes.map(\.byteCount)))
    } catch {
        benchmarkNote("LockedMemory: skipping pool backend \(backend): \(error)")
        return nil
    }
}

/// How many operations one measured iteration runs: more for small sizes so that clock
/// resolution does not dominate, fewer for 1 MiB so that a run stays short.
private func scaling(for byteCount: Int) -> BenchmarkScalingFactor {
    byteCount <= 64 << 10 ? .kilo : .one
}

private func configuration(for byteCount: Int, metrics: [BenchmarkMetric]) -> Benchmark.Configuration {
    RunLength.configuration(
        metrics: metrics,
        scalingFactor: scaling(for: byteCount),
        maxDuration: .seconds(2),
        maxIterations: byteCount <= 64 << 10 ? 200 : 2_000)
}

let benchmarks: @Sendable () -> Void = {
    guard sodium_init() >= 0 else {
        benchmarkNote("LockedMemory: sodium_init failed; no benchmarks registered")
        return
    }
    // Timing without malloc counting: the counting interposer makes every malloc dearer, so with
    // it on, the malloc baselines (one malloc per operation) were slowed and the pool (none)
    // was not, which flattered the pool by ~20 % at 64 B (measured 2026-11-23). The counts come
    // from separate benchmarks below.
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput]
    let countingConfig = RunLength.configuration(metrics: [.mallocCountTotal], scalingFactor: .kilo, maxIterations: 20)

    let pools: [(name: String, pool: SecureMemoryPool)] = [
        makePool(.secretmem).map { ("pool.secretmem", $0) },
        makePool(.locked).map { ("pool.locked", $0) },
    ].compactMap { $0 }

    for (label, byteCount) in sizes {
        let config = configuration(for: byteCount, metrics: metrics)

        Benchmark("\(label) malloc+memset+explicit_bzero+free", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations { mallocRoundTrip(byteCount) }
        }

        Benchmark("\(label) sodium_malloc+memset+sodium_free", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                guard let bytes = sodium_malloc(byteCount) else { fatalError("sodium_malloc failed") }
                memset(bytes, fillByte, byteCount)
                blackHole(bytes)
                sodium_free(bytes)  // sodium_memzero, munlock, munmap
            }
        }

        Benchmark("\(label) malloc+verify memset+wipe+2-pass read-back+free", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                guard let bytes = malloc(byteCount) else { fatalError("malloc failed") }
                memset(bytes, fillByte, byteCount)
                blackHole(bytes)
                blackHole(bench_wipe_then_verify(bytes, byteCount))
                free(bytes)
            }
        }

        Benchmark("\(label) malloc+fused memset+16KiB-chunked wipe/read-back+free", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                guard let bytes = malloc(byteCount) else { fatalError("malloc failed") }
                memset(bytes, fillByte, byteCount)
                blackHole(bytes)
                blackHole(bench_wipe_verify_fused(bytes, byteCount, 16 << 10))
                free(bytes)
            }
        }

        for (kind, slot, failure) in [
            ("mlock-slot", bench_locked_slot_create(byteCount), "mmap or mlock failed"),
            ("mlock-huge-slot", bench_locked_huge_slot_create(byteCount), "mmap, madvise or mlock failed"),
        ] {
            guard let slot else {
                benchmarkNote("LockedMemory: skipping \(kind) baseline at \(label): \(failure)")
                continue
            }
            // A raw address is not Sendable; the slot lives (and is used by one thread) for the
            // whole process.
            let address = UInt(bitPattern: slot)
            Benchmark("\(label) \(kind)+fused memset+16KiB-chunked wipe/read-back", configuration: config) { benchmark in
                let bytes = UnsafeMutableRawPointer(bitPattern: address)!
                for _ in benchmark.scaledIterations {
                    memset(bytes, fillByte, byteCount)
                    blackHole(bytes)
                    blackHole(bench_wipe_verify_fused(bytes, byteCount, 16 << 10))
                }
            }
        }

        // Paired: blocks of pool operations and of malloc-baseline operations alternate within
        // each sample (the order flips every round), and the sample records the ratio of their
        // summed times, so drift of the shared host between separate benchmarks cancels.
        let blockLength = byteCount <= 4 << 10 ? 200 : (byteCount <= 64 << 10 ? 20 : 2)
        for (name, pool) in pools {
            let ratioMetric = BenchmarkMetric.custom("pool ÷ malloc, ×1000", polarity: .prefersSmaller, useScalingFactor: false)
            Benchmark("\(label) paired: \(name) ÷ malloc+memset+explicit_bzero+free, alternating blocks of \(blockLength)",
                      configuration: RunLength.configuration(metrics: [.wallClock, ratioMetric], maxIterations: 300)) { benchmark in
                var poolTime: Int64 = 0
                var mallocTime: Int64 = 0
                func timePool() throws {
                    let start = monotonicNanoseconds()
                    for _ in 0..<blockLength { try poolRoundTrip(pool, byteCount) }
                    poolTime += monotonicNanoseconds() - start
                }
                func timeMalloc() {
                    let start = monotonicNanoseconds()
                    for _ in 0..<blockLength { mallocRoundTrip(byteCount) }
                    mallocTime += monotonicNanoseconds() - start
                }
                for round in 0..<10 {
                    if round.isMultiple(of: 2) { try timePool(); timeMalloc() } else { timeMalloc(); try timePool() }
                }
                benchmark.measurement(ratioMetric, Int(poolTime * 1000 / max(mallocTime, 1)))
            }
        }

        for (name, pool) in pools {
            // The same operation with only the malloc counter on: the pool makes none per buffer.
            Benchmark("\(label) heap allocations: \(name) allocate+memset+release", configuration: countingConfig) { benchmark in
                for _ in benchmark.scaledIterations { try poolRoundTrip(pool, byteCount) }
            }
            Benchmark("\(label) \(name) allocate+memset+release", configuration: config) { benchmark in
                for _ in benchmark.scaledIterations { try poolRoundTrip(pool, byteCount) }
            }
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds.
private func monotonicNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// One pool operation: allocate, fill, release (canary check, `sodium_memzero`, read-back
/// verification, slot recycled).
@inline(__always)
private func poolRoundTrip(_ pool: SecureMemoryPool, _ byteCount: Int) throws {
    var buffer = try pool.allocate(byteCount: byteCount)
    buffer.withUnsafeMutableBytes { raw in
        memset(raw.baseAddress!, fillByte, raw.count)
        blackHole(raw.baseAddress)
    }
    try buffer.release()
}

/// One malloc-baseline operation: malloc, fill, `explicit_bzero`, free.
@inline(__always)
private func mallocRoundTrip(_ byteCount: Int) {
    guard let bytes = malloc(byteCount) else { fatalError("malloc failed") }
    memset(bytes, fillByte, byteCount)
    blackHole(bytes)
    explicit_bzero(bytes, byteCount)
    free(bytes)
}
