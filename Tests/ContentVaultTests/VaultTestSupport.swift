#if canImport(Glibc)
import Glibc
#endif
import RetentionVocabulary
@testable import ContentVault

/// AEADs this CPU offers; every round-trip test runs on each.
let availableAEADs: [AEADAlgorithm] = AEADAlgorithm.allCases.filter(\.isAvailable)

/// A vault for tests: no background reaper (expiry is driven by `reapExpired(asOf:)`), a fixed
/// AEAD so results do not depend on a measurement.
func makeVault(
    _ backend: MemoryBackend = .locked, aead: AEADAlgorithm = .xchacha20poly1305,
    budget: Int = 16 << 20, ttl: Duration = .seconds(300), perKeyByteLimit: Int? = nil,
    corruption: MemoryCorruptionPolicy = .terminate, system: SystemCalls = .live
) throws -> Vault {
    try Vault(
        configuration: .init(
            backend: preference(for: backend), byteBudget: budget, defaultTimeToLive: ttl,
            aead: .fixed(aead), transferByteBudget: 4 << 20, reaperInterval: nil,
            corruptionPolicy: corruption),
        perKeyByteLimit: perKeyByteLimit, system: system)
}

/// Test content: the pattern, offset so different chunks differ.
func content(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 + seed) &* 7 &+ 13) | 1 }
}

func copyBytes(_ span: RawSpan) -> [UInt8] {
    span.withUnsafeBytes { Array($0) }
}

func address(of span: RawSpan) -> UnsafeMutableRawPointer? {
    span.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
}

extension RequestScope {
    func append(_ bytes: [UInt8], to dataClass: DataClass, final: Bool = false) throws {
        try bytes.withUnsafeBytes { try append(to: dataClass, copying: $0, final: final) }
    }

    func plaintext(of dataClass: DataClass) throws -> [UInt8] {
        try withPlaintext(of: dataClass) { copyBytes($0) }
    }

    /// The address and length of chunk `index`'s ciphertext (test-only peek).
    func chunkMemory(_ dataClass: DataClass, _ index: Int) -> (UnsafeMutableRawPointer, Int) {
        withStateForTesting { state in
            state.slots[dataClass]!.chunks[index].withBytes { (UnsafeMutableRawPointer(mutating: $0.baseAddress!), $0.count) }
        }
    }
}

struct PlannedFailure: Error {}

/// Whether this test binary runs under ThreadSanitizer, which defers asynchronous signal handlers
/// (so a raised SIGTERM is handled after `raise` returns).
let runningUnderThreadSanitizer: Bool = dlsym(nil, "__tsan_init") != nil
