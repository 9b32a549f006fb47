// Issue 3: what a request scope costs next to the cryptography it cannot avoid, in the same run.
//
//   - `lifecycle`: open a scope, append n bytes (sealed at once into locked memory), read the
//     plaintext once, discard (wipe and verify every chunk and key) and build the receipt;
//     next to `raw AEAD ×2`: one libsodium seal and one open of n bytes with the same algorithm
//     the vault chose, on ordinary heap buffers. Target: lifecycle ≤ 1.3× raw at 4 and 64 KiB.
//   - `stream 1 MiB in 4 KiB chunks`: 256 appends to one slot (last one final), then discard;
//     next to 256 raw seals of 4 KiB. Target: scope throughput ≥ 90 % of raw.
//   - `scopes/s, N threads`: 1000 scopes per measured iteration, split over N threads, each
//     thread opening, appending 4 KiB, reading and discarding scopes back to back. One operation
//     is one scope, so the table's throughput is scopes per second for the whole process.

import Benchmark
import BenchmarkSupport
import CBenchSodium
import ContentVault
import RetentionVocabulary
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Heap buffers and a key for the raw-AEAD baselines (ordinary memory, as a server without the
/// vault would use). Allocated once; only the benchmark thread touches them.
private final class RawAEAD: @unchecked Sendable {
    let algorithm: AEADAlgorithm
    let key: UnsafeMutablePointer<UInt8>
    let nonce: UnsafeMutablePointer<UInt8>
    let ad: UnsafeMutablePointer<UInt8>
    let message: UnsafeMutablePointer<UInt8>
    let sealed: UnsafeMutablePointer<UInt8>
    let opened: UnsafeMutablePointer<UInt8>
    static let adLength = 26  // what the vault authenticates per chunk
    static let tagLength = 16

    init(algorithm: AEADAlgorithm, maximumLength: Int) {
        self.algorithm = algorithm
        key = .allocate(capacity: 32)
        nonce = .allocate(capacity: 24)
        ad = .allocate(capacity: Self.adLength)
        message = .allocate(capacity: maximumLength)
        sealed = .allocate(capacity: maximumLength + Self.tagLength)
        opened = .allocate(capacity: maximumLength)
        randombytes_buf(key, 32)
        randombytes_buf(nonce, 24)
        randombytes_buf(ad, Self.adLength)
        memset(message, 0xA5, maximumLength)
    }

    /// Seals `length` bytes of `message` into `sealed` at `outputOffset` (a stored stream's
    /// chunks each need their own place); the nonce counter is the first word.
    @inline(__always)
    func seal(length: Int, counter: UInt64, outputOffset: Int = 0) {
        let sealed = self.sealed + outputOffset
        nonce.withMemoryRebound(to: UInt64.self, capacity: 1) { $0.pointee = counter }
        var sealedLength: UInt64 = 0
        let status: Int32
        switch algorithm {
        case .xchacha20poly1305:
            status = crypto_aead_xchacha20poly1305_ietf_encrypt(
                sealed, &sealedLength, message, UInt64(length), ad, UInt64(Self.adLength), nil, nonce, key)
        case .aes256gcm:
            status = crypto_aead_aes256gcm_encrypt(
                sealed, &sealedLength, message, UInt64(length), ad, UInt64(Self.adLength), nil, nonce, key)
        }
        precondition(status == 0)
    }

    /// Opens what `seal` produced for `length` bytes.
    @inline(__always)
    func open(length: Int) {
        var openedLength: UInt64 = 0
        let status: Int32
        switch algorithm {
        case .xchacha20poly1305:
            status = crypto_aead_xchacha20poly1305_ietf_decrypt(
                opened, &openedLength, nil, sealed, UInt64(length + Self.tagLength), ad, UInt64(Self.adLength), nonce, key)
        case .aes256gcm:
            status = crypto_aead_aes256gcm_decrypt(
                opened, &openedLength, nil, sealed, UInt64(length + Self.tagLength), ad, UInt64(Self.adLength), nonce, key)
        }
        precondition(status == 0)
    }
}

/// Input bytes for the scopes (not content: a fixed pattern), one heap buffer per size.
private final class Input: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    init(byteCount: Int) {
        bytes = .allocate(byteCount: byteCount, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0x5A)
    }
}

/// `chunks` appends of `input` to one slot, the last one final: a stream sealed chunk by chunk.
@inline(__always)
private func appendStream(to scope: RequestScope, input: Input, chunks: Int) throws {
    for index in 0..<chunks {
        try scope.append(to: .completion, copying: UnsafeRawBufferPointer(input.bytes), final: index == chunks - 1)
    }
}

/// One complete request: open, ingest, seal, read once, discard with verified wipe, receipt.
@inline(__always)
private func runLifecycle(vault: Vault, input: Input) throws {
    let scope = try vault.openScope()
    try scope.append(to: .textInput, copying: UnsafeRawBufferPointer(input.bytes), final: true)
    let sum = try scope.withUnsafePlaintext(of: .textInput) { plaintext in
        plaintext.count + Int(plaintext[plaintext.count - 1])
    }
    blackHole(sum)
    let receipt = scope.discard(reason: .completed)
    blackHole(receipt.bytesVerifiedZero)
}

let benchmarks: @Sendable () -> Void = {
    guard sodium_init() >= 0 else {
        benchmarkNote("RequestScope: sodium_init failed; no benchmarks registered")
        return
    }
    let vault: Vault
    do {
        // No reaper: a background task would add noise; every scope here is discarded by hand.
        vault = try Vault(configuration: .init(byteBudget: 256 << 20, reaperInterval: nil))
    } catch {
        benchmarkNote("RequestScope: no vault (\(error)); no benchmarks registered")
        return
    }
    let algorithm = vault.aeadSelection.algorithm
    // Timing without malloc counting: the counting interposer makes each of the scope's heap
    // allocations dearer while the raw baseline makes none, which added ~0.1 to the 4 KiB ratio
    // (measured 2026-11-23). The counts come from the "heap allocations" benchmarks.
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput]
    let countingConfig = RunLength.configuration(metrics: [.mallocCountTotal], scalingFactor: .kilo, maxIterations: 20)

    for (label, byteCount) in [("4 KiB", 4 << 10), ("64 KiB", 64 << 10)] {
        let input = Input(byteCount: byteCount)
        let raw = RawAEAD(algorithm: algorithm, maximumLength: byteCount)
        let config = RunLength.configuration(
            metrics: metrics, scalingFactor: byteCount <= 4 << 10 ? .kilo : .one)

        Benchmark("\(label) heap allocations: lifecycle (\(vault.backend), \(algorithm))", configuration: countingConfig) { benchmark in
            for _ in benchmark.scaledIterations {
                try runLifecycle(vault: vault, input: input)
            }
        }

        Benchmark("\(label) lifecycle: open+append+read+discard+receipt (\(vault.backend), \(algorithm))", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                try runLifecycle(vault: vault, input: input)
            }
        }

        Benchmark("\(label) raw AEAD ×2: seal+open (\(algorithm), heap)", configuration: config) { benchmark in
            for iteration in benchmark.scaledIterations {
                raw.seal(length: byteCount, counter: UInt64(iteration))
                raw.open(length: byteCount)
                blackHole(raw.opened)
            }
        }
    }

    // Paired: the same target measured so that host drift cancels. Each sample alternates blocks
    // of lifecycles and of raw AEAD ×2 (the order flips every round) and records the ratio of
    // their summed times; the suite's separate benchmarks above run seconds apart, and on this
    // shared host the raw AEAD alone moves by 20 % between them.
    // Guarded mode (every buffer of a page or more in a region of its own, ending at a guard
    // page) is paired the same way, to report what it costs.
    let guardedVault: Vault
    do {
        guardedVault = try Vault(configuration: .init(byteBudget: 256 << 20, reaperInterval: nil, guardsPageSizedBuffers: true))
    } catch {
        benchmarkNote("RequestScope: no guarded vault (\(error)); no paired benchmarks registered")
        return
    }
    let pairedRatio = BenchmarkMetric.custom("lifecycle ÷ raw AEAD ×2, ×1000", polarity: .prefersSmaller, useScalingFactor: false)
    let guardedPairedRatio = BenchmarkMetric.custom("guarded lifecycle ÷ raw AEAD ×2, ×1000", polarity: .prefersSmaller, useScalingFactor: false)
    for (label, byteCount, block) in [("4 KiB", 4 << 10, 50), ("64 KiB", 64 << 10, 5)] {
        for (mode, vault, pairedRatio) in [("", vault, pairedRatio), ("guarded ", guardedVault, guardedPairedRatio)] {
            let input = Input(byteCount: byteCount)
            let raw = RawAEAD(algorithm: algorithm, maximumLength: byteCount)
            let config = RunLength.configuration(metrics: [.wallClock, pairedRatio], maxIterations: 300)
            Benchmark("\(label) paired: \(mode)lifecycle ÷ raw AEAD ×2, alternating blocks of \(block) (\(algorithm))", configuration: config) { benchmark in
                var lifecycleTime: Int64 = 0
                var rawTime: Int64 = 0
                func timeLifecycles() throws {
                    let start = nanoseconds(CLOCK_MONOTONIC)
                    for _ in 0..<block { try runLifecycle(vault: vault, input: input) }
                    lifecycleTime += nanoseconds(CLOCK_MONOTONIC) - start
                }
                func timeRaw() {
                    let start = nanoseconds(CLOCK_MONOTONIC)
                    for iteration in 0..<block {
                        raw.seal(length: byteCount, counter: UInt64(iteration))
                        raw.open(length: byteCount)
                        blackHole(raw.opened)
                    }
                    rawTime += nanoseconds(CLOCK_MONOTONIC) - start
                }
                for round in 0..<10 {
                    if round.isMultiple(of: 2) { try timeLifecycles(); timeRaw() } else { timeRaw(); try timeLifecycles() }
                }
                benchmark.measurement(pairedRatio, Int(lifecycleTime * 1000 / max(rawTime, 1)))
            }
        }
    }

    // 1 MiB in 4 KiB chunks, one stream.
    do {
        let chunk = 4 << 10
        let chunks = (1 << 20) / chunk
        let input = Input(byteCount: chunk)
        let raw = RawAEAD(algorithm: algorithm, maximumLength: chunk)
        // Room for the whole sealed stream, as a server that keeps it needs.
        let stored = RawAEAD(algorithm: algorithm, maximumLength: chunks * (chunk + RawAEAD.tagLength))
        let config = RunLength.configuration(metrics: [.wallClock, .throughput], maxIterations: 500)

        Benchmark("1 MiB stream in 4 KiB chunks: scope append ×256 + discard (\(algorithm))", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                let scope = try vault.openScope()
                try appendStream(to: scope, input: input, chunks: chunks)
                blackHole(scope.discard(reason: .completed).chunksWiped)
            }
        }

        // Paired, as for the lifecycle above: each sample alternates whole streams in a rotating
        // order — the scope sealing (appends timed; open and discard not), the scope sealing and
        // discarding (wipe and read-back of the whole MiB timed too), raw seals into one reused
        // buffer, raw seals into a 1 MiB buffer — and records raw time ÷ scope time: the scope's
        // share of raw throughput.
        let sealingShare = BenchmarkMetric.custom("sealing ÷ raw, throughput ×1000", polarity: .prefersLarger, useScalingFactor: false)
        let sealingDiscardShare = BenchmarkMetric.custom("sealing + discard ÷ raw, throughput ×1000", polarity: .prefersLarger, useScalingFactor: false)
        let storedShare = BenchmarkMetric.custom("sealing + discard ÷ raw storing the stream, throughput ×1000", polarity: .prefersLarger, useScalingFactor: false)
        let pairedConfig = RunLength.configuration(metrics: [.wallClock, sealingShare, sealingDiscardShare, storedShare], maxIterations: 300)
        Benchmark("1 MiB stream in 4 KiB chunks: paired, scope vs raw seals (\(algorithm))", configuration: pairedConfig) { benchmark in
            var sealingTime: Int64 = 0
            var sealingDiscardTime: Int64 = 0
            var reusedTime: Int64 = 0
            var storedTime: Int64 = 0
            func timeScope(includingDiscard: Bool) throws {
                let scope = try vault.openScope()
                let start = nanoseconds(CLOCK_MONOTONIC)
                try appendStream(to: scope, input: input, chunks: chunks)
                if includingDiscard {
                    blackHole(scope.discard(reason: .completed).chunksWiped)
                    sealingDiscardTime += nanoseconds(CLOCK_MONOTONIC) - start
                } else {
                    sealingTime += nanoseconds(CLOCK_MONOTONIC) - start
                    blackHole(scope.discard(reason: .completed).chunksWiped)
                }
            }
            func timeRaw(stored storing: Bool) {
                let start = nanoseconds(CLOCK_MONOTONIC)
                for index in 0..<chunks {
                    if storing {
                        stored.seal(length: chunk, counter: UInt64(index), outputOffset: index * (chunk + RawAEAD.tagLength))
                    } else {
                        raw.seal(length: chunk, counter: UInt64(index))
                    }
                }
                blackHole(storing ? stored.sealed : raw.sealed)
                if storing { storedTime += nanoseconds(CLOCK_MONOTONIC) - start } else { reusedTime += nanoseconds(CLOCK_MONOTONIC) - start }
            }
            let steps: [(Bool) throws -> Void] = [
                { _ in try timeScope(includingDiscard: false) }, { _ in timeRaw(stored: false) },
                { _ in try timeScope(includingDiscard: true) }, { _ in timeRaw(stored: true) },
            ]
            for round in 0..<4 {
                for step in 0..<steps.count { try steps[(step + round) % steps.count](true) }
            }
            benchmark.measurement(sealingShare, Int(reusedTime * 1000 / max(sealingTime, 1)))
            benchmark.measurement(sealingDiscardShare, Int(reusedTime * 1000 / max(sealingDiscardTime, 1)))
            benchmark.measurement(storedShare, Int(storedTime * 1000 / max(sealingDiscardTime, 1)))
        }

        // Sealing alone, as the issue states the target ("sealing a 1 MiB stream"): the scope is
        // opened and discarded outside the measured interval (the benchmark above includes both).
        Benchmark("1 MiB stream in 4 KiB chunks: scope append ×256, sealing only (open and discard untimed) (\(algorithm))", configuration: config) { benchmark in
            let scope = try vault.openScope()
            benchmark.startMeasurement()
            try appendStream(to: scope, input: input, chunks: chunks)
            benchmark.stopMeasurement()
            blackHole(scope.discard(reason: .completed).chunksWiped)
        }

        Benchmark("1 MiB stream in 4 KiB chunks: raw seal ×256 (\(algorithm), heap)", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                for index in 0..<chunks {
                    raw.seal(length: chunk, counter: UInt64(index))
                }
                blackHole(raw.sealed)
            }
        }

        // The same seals, each chunk into its own place of one 1 MiB heap buffer: what storing
        // the stream costs without the vault (the loop above overwrites one cache-hot buffer).
        Benchmark("1 MiB stream in 4 KiB chunks: raw seal ×256 into a 1 MiB heap buffer (\(algorithm))", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                for index in 0..<chunks {
                    stored.seal(length: chunk, counter: UInt64(index), outputOffset: index * (chunk + RawAEAD.tagLength))
                }
                blackHole(stored.sealed)
            }
        }
    }

    // Scopes per second on 1 and 2 threads. Process CPU time next to wall clock shows whether
    // both threads actually ran at once: on a shared two-core host the second core may be busy
    // with something else, and then 2 threads cannot beat 1 whatever the vault does.
    let coresBusy = BenchmarkMetric.custom("cores busy ×100", polarity: .prefersLarger, useScalingFactor: false)
    for threads in [1, 2] {
        let input = Input(byteCount: 4 << 10)
        let config = RunLength.configuration(
            metrics: [.wallClock, .throughput, coresBusy], scalingFactor: .kilo, maxIterations: 200)
        Benchmark("scopes/s: 4 KiB lifecycle on \(threads) thread\(threads == 1 ? "" : "s")", configuration: config) { benchmark in
            let perThread = benchmark.scaledIterations.count / threads
            let failures = Atomic<Int>(0)
            let wallStart = nanoseconds(CLOCK_MONOTONIC)
            let cpuStart = nanoseconds(CLOCK_PROCESS_CPUTIME_ID)
            let workers = (0..<threads).map { _ in
                Worker {
                    for _ in 0..<perThread {
                        do { try runLifecycle(vault: vault, input: input) } catch { failures.add(1, ordering: .relaxed) }
                    }
                }
            }
            for worker in workers { worker.join() }
            let wall = nanoseconds(CLOCK_MONOTONIC) - wallStart
            let cpu = nanoseconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
            benchmark.measurement(coresBusy, Int(cpu * 100 / max(wall, 1)))
            if failures.load(ordering: .relaxed) > 0 { fatalError("scope lifecycle failed") }
        }
    }
}

/// A clock's reading in nanoseconds.
private func nanoseconds(_ clock: clockid_t) -> Int64 {
    var time = timespec()
    clock_gettime(clock, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// A plain thread (not a task): the scopes/s figure should not include the concurrency
/// runtime's scheduling.
private final class Worker: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let unmanaged = Unmanaged.passRetained(self)
        let status = pthread_create(&thread, nil, { argument in
            let worker = Unmanaged<Worker>.fromOpaque(argument!).takeRetainedValue()
            worker.body()
            return nil
        }, unmanaged.toOpaque())
        if status != 0 {
            unmanaged.release()
            fatalError("pthread_create failed")
        }
    }

    func join() { pthread_join(thread, nil) }
}
