#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
@testable import ContentVault
import RetentionVocabulary

/// Whether this kernel grants memfd_secret; the secretmem tests are skipped (with this reason)
/// where it does not, and the fallback is exercised by fault injection instead.
let secretmemAvailable: Bool = {
    let fd = cvault_memfd_secret(UInt32(O_CLOEXEC))
    if fd >= 0 { close(fd); return true }
    return false
}()

/// Whether this test binary runs under ThreadSanitizer or AddressSanitizer. Both runtimes
/// intercept `mlock` and turn it into a no-op that returns success, so under them the `locked`
/// backend's pages are not actually locked (smaps shows no `lo`). Sanitizer builds are test
/// builds; production builds have no such interceptor.
let runningUnderSanitizer: Bool = dlsym(nil, "__tsan_init") != nil || dlsym(nil, "__asan_init") != nil

/// The backends every wipe test runs on.
let realBackends: [MemoryBackend] = secretmemAvailable ? [.secretmem, .locked] : [.locked]

func preference(for backend: MemoryBackend) -> BackendPreference {
    switch backend {
    case .secretmem: return .secretmem
    case .locked: return .locked
    case .unprotected: return .unprotected(developmentOptIn: true)
    }
}

/// A pool for tests. Overrunning tests pass `.quarantineAndReport`; anything else that overruns
/// ends the test process, as it would end a server.
func makePool(
    _ backend: MemoryBackend, budget: Int = 8 << 20, region: Int = 256 * 1024,
    system: SystemCalls = .live, corruption: MemoryCorruptionPolicy = .terminate
) throws -> SecureMemoryPool {
    try SecureMemoryPool(
        configuration: .init(
            backend: preference(for: backend), byteBudget: budget, regionByteCount: region,
            corruptionPolicy: corruption),
        system: system)
}

/// A recognizable, non-zero pattern: byte i is (i * 7 + 13) | 1.
func fillPattern(_ bytes: UnsafeMutableRawBufferPointer) {
    for index in 0..<bytes.count { bytes[index] = UInt8(truncatingIfNeeded: index &* 7 &+ 13) | 1 }
}

func matchesPattern(_ bytes: UnsafeRawBufferPointer) -> Bool {
    for index in 0..<bytes.count where bytes[index] != UInt8(truncatingIfNeeded: index &* 7 &+ 13) | 1 {
        return false
    }
    return true
}

/// Reads raw memory at an address the test kept after the owner was gone. Only safe while the
/// pool keeps the region mapped: within its warm reserve, or with a quarantined slot in it (a
/// region returned to the kernel is instead read back by the `SyscallHarness` before its unmap).
func isAllZero(_ address: UnsafeMutableRawPointer, _ count: Int) -> Bool {
    // A loop of its own, not the production `cvault_is_zero` (ZeroCheckTests tests that one): a
    // wipe test must not trust the code that proves the wipe.
    let bytes = UnsafeRawBufferPointer(start: address, count: count)
    var accumulator: UInt64 = 0
    var index = 0
    while index + 8 <= count {
        accumulator |= bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
        index += 8
    }
    while index < count {
        accumulator |= UInt64(bytes[index])
        index += 1
    }
    return accumulator == 0
}

/// The VmFlags of the /proc/self/smaps entry that contains `address`.
func smapsFlags(containing address: UInt) -> [String]? {
    guard let smaps = readSmallProcFile("/proc/self/smaps") else { return nil }
    var inside = false
    for line in smaps.split(separator: "\n") {
        if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
           let start = UInt(line[..<dash], radix: 16),
           let end = UInt(line[line.index(after: dash)..<space], radix: 16) {
            inside = start <= address && address < end
            continue
        }
        if inside && line.hasPrefix("VmFlags:") {
            return line.dropFirst("VmFlags:".count).split(separator: " ").map(String.init)
        }
    }
    return nil
}
