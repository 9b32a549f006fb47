#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Testing
@testable import ContentVault
import RetentionVocabulary

@Suite("Backend selection and forced syscall failures")
struct BackendSelectionTests {
    private func system(_ failures: [SystemCalls.Call: Int32]) -> (SystemCalls, SyscallHarness) {
        let harness = SyscallHarness(failing: failures)
        return (SystemCalls(harness: harness), harness)
    }

    @Test("automatic prefers secretmem when the kernel grants it", .enabled(if: secretmemAvailable, "kernel refuses memfd_secret"))
    func automaticPrefersSecretmem() throws {
        let pool = try SecureMemoryPool(configuration: .init(backend: .automatic, byteBudget: 1 << 20))
        #expect(pool.selection == BackendSelection(backend: .secretmem, secretmemRefusal: nil))
    }

    @Test("automatic falls back to locked where memfd_secret is refused, and records why", arguments: [ENOSYS, EPERM, ENOMEM])
    func automaticFallsBack(errno: Int32) throws {
        let (calls, tracker) = system([.memfdSecret: errno])
        let pool = try SecureMemoryPool(configuration: .init(backend: .automatic, byteBudget: 1 << 20), system: calls)
        #expect(pool.selection == BackendSelection(backend: .locked, secretmemRefusal: errno))
        var buffer = try pool.allocate(byteCount: 100)
        buffer.withUnsafeMutableBytes(fillPattern)
        let address = buffer.baseAddressForTesting
        try buffer.release()
        #expect(isAllZero(address, 100))
        #expect(tracker.outstandingBytes > 0)  // the pool's region, mapped until the pool goes
    }

    @Test("after an automatic fallback every receipt names the backend the content lived in")
    func receiptsNameTheFallbackBackend() throws {
        let (calls, _) = system([.memfdSecret: ENOSYS])
        let vault = try Vault(
            configuration: .init(backend: .automatic, byteBudget: 4 << 20, aead: .fixed(.xchacha20poly1305), reaperInterval: nil),
            perKeyByteLimit: nil, system: calls)
        #expect(vault.pool.selection == BackendSelection(backend: .locked, secretmemRefusal: ENOSYS))
        let scope = try vault.openScope()
        try scope.append(content(100), to: .textInput)
        #expect(scope.discard(reason: .completed).backend == .locked)
    }

    @Test("automatic never downgrades to unprotected memory when mlock fails")
    func automaticNeverDowngrades() throws {
        let (calls, tracker) = system([.memfdSecret: ENOSYS, .mlock: EPERM])
        #expect(throws: LockedMemoryError.lockFailed(errno: EPERM)) {
            _ = try SecureMemoryPool(configuration: .init(backend: .automatic, byteBudget: 1 << 20), system: calls)
        }
        #expect(tracker.outstandingBytes == 0)
    }

    @Test("each failing setup step gives its typed error and leaks no mapping", arguments: [
        (SystemCalls.Call.mmap, ENOMEM, LockedMemoryError.mapFailed(errno: ENOMEM)),
        (.mprotect, EACCES, .protectFailed(errno: EACCES)),
        (.mlock, ENOMEM, .lockFailed(errno: ENOMEM)),
        (.madvise(.dontDump), EINVAL, .adviseFailed(advice: .dontDump, errno: EINVAL)),
        (.madvise(.wipeOnFork), EINVAL, .adviseFailed(advice: .wipeOnFork, errno: EINVAL)),
    ])
    func lockedSetupFailures(call: SystemCalls.Call, errno: Int32, expected: LockedMemoryError) throws {
        let (calls, tracker) = system([call: errno])
        #expect(throws: expected) {
            _ = try SecureMemoryPool(configuration: .init(backend: .locked, byteBudget: 1 << 20), system: calls)
        }
        #expect(tracker.outstandingBytes == 0)
    }

    @Test("secretmem setup failures are typed and leak nothing", .enabled(if: secretmemAvailable, "kernel refuses memfd_secret"), arguments: [
        (SystemCalls.Call.memfdSecret, ENOSYS, LockedMemoryError.secretMemoryUnavailable(errno: ENOSYS)),
        (.ftruncate, ENOMEM, .mapFailed(errno: ENOMEM)),
        (.madvise(.dontFork), EINVAL, .adviseFailed(advice: .dontFork, errno: EINVAL)),
    ])
    func secretmemSetupFailures(call: SystemCalls.Call, errno: Int32, expected: LockedMemoryError) throws {
        let (calls, tracker) = system([call: errno])
        #expect(throws: expected) {
            _ = try SecureMemoryPool(configuration: .init(backend: .secretmem, byteBudget: 1 << 20), system: calls)
        }
        #expect(tracker.outstandingBytes == 0)
    }

    @Test("a region that cannot be mapped or locked while growing is a typed error; the pool stays usable", arguments: [
        (SystemCalls.Call.mlock, ENOMEM, LockedMemoryError.lockFailed(errno: ENOMEM)),
        (.mmap, ENOMEM, .mapFailed(errno: ENOMEM)),
    ])
    func growthFailure(call: SystemCalls.Call, errno: Int32, expected: LockedMemoryError) throws {
        let harness = SyscallHarness()
        let pool = try makePool(.locked, budget: 4 << 20, region: 64 * 1024, system: SystemCalls(harness: harness))
        let mappedBefore = harness.outstandingBytes
        harness.fail(call, errno: errno)
        #expect(throws: expected) { _ = try pool.allocate(byteCount: 64) }
        #expect(pool.statistics.mappedBytes == 0)
        #expect(harness.outstandingBytes == mappedBefore)
        harness.fail(call, errno: nil)
        let buffer = try pool.allocate(byteCount: 64)
        #expect(buffer.count == 64)
    }

    @Test("the unprotected backend needs the explicit opt-in and says so")
    func unprotectedNeedsOptIn() throws {
        #expect(throws: LockedMemoryError.unprotectedBackendNotAllowed) {
            _ = try SecureMemoryPool(configuration: .init(backend: .unprotected(developmentOptIn: false)))
        }
        let pool = try SecureMemoryPool(configuration: .init(backend: .unprotected(developmentOptIn: true), byteBudget: 1 << 20))
        #expect(pool.description.contains("UNPROTECTED"))
    }

    @Test("the default budget stays under RLIMIT_MEMLOCK when locking is limited")
    func defaultBudget() {
        let limited = MemoryLimits(lockedSoftLimit: 8 << 20, lockedHardLimit: 8 << 20, hasLockCapability: false)
        #expect(limited.defaultBudget == 6 << 20)
        let capable = MemoryLimits(lockedSoftLimit: 8 << 20, lockedHardLimit: 8 << 20, hasLockCapability: true)
        #expect(capable.defaultBudget == MemoryLimits.unlimitedDefaultBudget)
        let unlimited = MemoryLimits(lockedSoftLimit: nil, lockedHardLimit: nil, hasLockCapability: false)
        #expect(unlimited.defaultBudget == MemoryLimits.unlimitedDefaultBudget)
        #expect(MemoryLimits.current().description.contains("RLIMIT_MEMLOCK"))
    }
}
