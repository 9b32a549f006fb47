#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import Foundation
import Synchronization
import Testing
@testable import ContentVault

/// Capacities of every packed size class, 64 B to 1 MiB.
private let packedCapacities = (6...20).map { 1 << $0 }

@Suite("Locked-memory budget: regions come back after a burst")
struct BudgetRecoveryTests {
    /// Allocates a rotating mix of sizes until a whole round of them is refused, keeping every
    /// buffer (filled, so the regions hold content when they are released).
    private func fillBudget(_ pool: SecureMemoryPool) -> [LockedBufferBox] {
        let sizes = [64, 1000, 4096, 30_000, 100_000, 200_000, 700_000]
        var kept: [LockedBufferBox] = []
        for _ in 0..<10_000 {
            var refusedThisRound = 0
            for size in sizes {
                do {
                    var buffer = try pool.allocate(byteCount: size)
                    buffer.withUnsafeMutableBytes(fillPattern)
                    kept.append(LockedBufferBox(buffer))
                } catch {
                    if case .budgetExhausted = error {} else { Issue.record("unexpected \(error)") }
                    refusedThisRound += 1
                }
            }
            if refusedThisRound == sizes.count { break }
        }
        return kept
    }

    @Test("after a burst fills the budget and everything is released, every size class up to the budget allocates again")
    func everyClassAllocatesAfterBurst() throws {
        let budget = 2 << 20
        let pool = try makePool(.locked, budget: budget)
        var kept = fillBudget(pool)
        #expect(kept.count > 10)
        #expect(pool.statistics.mappedBytes > budget / 2)
        kept.removeAll()
        #expect(pool.statistics.liveBuffers == 0)

        // Each class alone, then a dedicated buffer as large as the budget allows.
        for capacity in packedCapacities {
            do {
                let buffer = try pool.allocate(byteCount: capacity)
                #expect(buffer.count == capacity)
            } catch {
                Issue.record("\(capacity)-byte class refused after the burst: \(error)")
            }
        }
        let largest = budget - systemPageSize
        do {
            let buffer = try pool.allocate(byteCount: largest)
            #expect(buffer.count == largest)
        } catch {
            Issue.record("\(largest)-byte dedicated buffer refused after the burst: \(error)")
        }
    }

    @Test("a vault whose budget a burst of scopes filled serves a 200 KB append once they are discarded")
    func vaultRecoversAfterBurst() throws {
        let vault = try makeVault(budget: 2 << 20)
        var scopes: [RequestScope] = []
        // No 256 KiB-class chunk in the burst: the 200 KB append afterwards needs a new region.
        let sizes = [100, 3000, 20_000, 90_000, 600_000]
        var refused = 0
        var index = 0
        while refused < sizes.count * 2 && index < 10_000 {
            let scope: RequestScope
            do { scope = try vault.openScope() } catch { refused += 1; index += 1; continue }
            scopes.append(scope)
            do {
                try scope.append(content(sizes[index % sizes.count], seed: index), to: .textInput)
            } catch {
                refused += 1
            }
            index += 1
        }
        #expect(refused > 0, "the burst never reached the budget")
        for scope in scopes { scope.discard(reason: .completed) }
        scopes.removeAll()
        #expect(vault.statistics.openScopes == 0)
        #expect(vault.statistics.pool.liveBuffers == 0)

        let scope = try vault.openScope()
        defer { scope.discard(reason: .completed) }
        do {
            try scope.append(content(200_000), to: .textInput)
        } catch {
            Issue.record("200 KB append refused with nothing live: \(error)")
        }
        #expect(try scope.plaintext(of: .textInput) == content(200_000))
    }
}

@Suite("Locked-memory budget: idle regions are wiped, verified, unlocked and unmapped beyond the warm reserve")
struct WarmReserveTests {
    private func pool(budget: Int = 8 << 20, reserve: Int, harness: SyscallHarness) throws -> SecureMemoryPool {
        try SecureMemoryPool(
            configuration: .init(backend: .locked, byteBudget: budget, warmReserveByteCount: reserve),
            system: SystemCalls(harness: harness))
    }

    @Test("with no reserve, releasing the last buffer of each region returns it; every byte read back zero before the unmap")
    func noReserveReturnsEveryRegion() throws {
        let harness = SyscallHarness()
        let pool = try pool(reserve: 0, harness: harness)
        var kept: [LockedBufferBox] = []
        for size in [64, 64, 500, 4096, 70_000, 300_000, 1 << 20, (1 << 20) + 1] {
            var buffer = try pool.allocate(byteCount: size)
            buffer.withUnsafeMutableBytes(fillPattern)
            kept.append(LockedBufferBox(buffer))
        }
        let mapped = pool.statistics.mappedBytes
        #expect(mapped > 2 << 20)
        kept.removeAll()
        let retired = harness.retired
        #expect(retired.nonZero == 0, "a region held non-zero bytes when it was unmapped")
        #expect(retired.bytes == mapped)
        #expect(harness.unlockedBytes == mapped)
        #expect(harness.outstandingBytes == 0)
        #expect(pool.statistics.mappedBytes == 0)
        #expect(pool.statistics.regions == 0)
        #expect(pool.regionAddresses.isEmpty)
        // And the pool maps again on demand.
        let again = try pool.allocate(byteCount: 64)
        #expect(again.count == 64)
    }

    @Test("the warm reserve keeps an emptied region mapped, so a steady load maps once; a region beyond it is returned")
    func reserveKeepsHotRegion() throws {
        let harness = SyscallHarness()
        let smallRegion = 256 * 1024
        let pool = try pool(reserve: smallRegion, harness: harness)
        var address: UnsafeMutableRawPointer?
        for _ in 0..<1000 {
            var buffer = try pool.allocate(byteCount: 64)
            buffer.withUnsafeMutableBytes(fillPattern)
            if address == nil { address = buffer.baseAddressForTesting }
            #expect(buffer.baseAddressForTesting == address)
        }
        #expect(harness.retired.regions == 0)
        #expect(pool.statistics.mappedBytes == smallRegion)
        #expect(pool.statistics.idleBytes == smallRegion)
        #expect(isAllZero(try #require(address), 64))

        // A second class empties with the reserve taken: returned at once.
        do {
            var other = try pool.allocate(byteCount: 4096)
            other.withUnsafeMutableBytes(fillPattern)
        }
        #expect(harness.retired.regions == 1)
        #expect(harness.retired.nonZero == 0)
        #expect(pool.statistics.mappedBytes == smallRegion)
    }

    @Test("threads allocating and releasing under a full budget leave every region returned and read back zero")
    func concurrentChurnReturnsEverything() throws {
        let harness = SyscallHarness()
        let pool = try pool(budget: 2 << 20, reserve: 256 * 1024, harness: harness)
        let sizes = [64, 1000, 5000, 70_000, 300_000, 1 << 20]
        let refused = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var held: [LockedBufferBox] = []
            for step in 0..<600 {
                let size = sizes[(step &* 7 &+ worker &* 3) % sizes.count]
                do {
                    var buffer = try pool.allocate(byteCount: size)
                    _ = buffer.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xA5) }
                    held.append(LockedBufferBox(buffer))
                } catch {
                    refused.add(1, ordering: .relaxed)
                    held.removeAll()  // backpressure: let go, then carry on
                }
                if held.count > 3 { held.removeFirst() }
            }
        }
        #expect(refused.load(ordering: .relaxed) > 0, "the budget was never reached")
        let stats = pool.statistics
        #expect(stats.liveBuffers == 0)
        #expect(stats.corruptionEvents == 0)
        #expect(stats.mappedBytes == stats.idleBytes)
        #expect(stats.idleBytes <= 256 * 1024)
        #expect(harness.retired.regions > 0)
        #expect(harness.retired.nonZero == 0)
        pool.reclaimIdleRegions()
        #expect(pool.statistics.mappedBytes == 0)
        #expect(harness.outstandingBytes == 0)
    }

    @Test("warm regions give way when a mapping would exceed the budget")
    func reserveGivesWayUnderPressure() throws {
        let harness = SyscallHarness()
        let budget = 2 << 20
        let pool = try pool(budget: budget, reserve: budget, harness: harness)
        var kept: [LockedBufferBox] = []
        for size in [64, 512, 4096, 30_000, 100_000, 200_000] {
            var buffer = try pool.allocate(byteCount: size)
            buffer.withUnsafeMutableBytes(fillPattern)
            kept.append(LockedBufferBox(buffer))
        }
        kept.removeAll()
        #expect(harness.retired.regions == 0)  // all within the reserve
        let idle = pool.statistics.idleBytes
        #expect(idle == pool.statistics.mappedBytes)
        let large = try pool.allocate(byteCount: 1 << 20)
        #expect(large.count == 1 << 20)
        #expect(harness.retired.regions > 0)
        #expect(harness.retired.nonZero == 0)
        #expect(pool.statistics.mappedBytes <= budget)
    }
}

@Suite("Locked-memory budget: the start-up check refuses a budget the process cannot lock")
struct LockLimitStartupTests {
    private let limited = MemoryLimits(lockedSoftLimit: 64 * 1024, lockedHardLimit: 64 * 1024, hasLockCapability: false)

    @Test("RLIMIT_MEMLOCK below an explicit budget fails at start, naming the fix, with nothing mapped")
    func explicitBudgetAboveLimit() throws {
        let harness = SyscallHarness(limits: limited)
        do {
            _ = try SecureMemoryPool(
                configuration: .init(backend: .locked, byteBudget: 16 << 20), system: SystemCalls(harness: harness))
            Issue.record("a 16 MiB budget under a 64 KiB lock limit was accepted")
        } catch {
            #expect(error == .lockLimitBelowBudget(budget: 16 << 20, lockLimit: 64 * 1024))
            let text = error.description
            for fix in ["ulimit -l", "LimitMEMLOCK=", "CAP_IPC_LOCK"] { #expect(text.contains(fix), "\(text)") }
        }
        #expect(harness.outstandingBytes == 0)
    }

    @Test("a default budget too small for one region (ulimit -l 64) fails Vault() at start, naming the fix")
    func defaultBudgetBelowOneRegion() throws {
        let harness = SyscallHarness(limits: limited)
        do {
            _ = try Vault(
                configuration: .init(backend: .locked, aead: .fixed(.xchacha20poly1305), reaperInterval: nil),
                perKeyByteLimit: nil, system: SystemCalls(harness: harness))
            Issue.record("Vault() accepted a 48 KiB default budget")
        } catch {
            #expect(error == .memory(.budgetBelowOneRegion(budget: 48 * 1024, regionByteCount: 256 * 1024)))
            let text = error.description
            for fix in ["ulimit -l", "LimitMEMLOCK=", "CAP_IPC_LOCK"] { #expect(text.contains(fix), "\(text)") }
        }
        #expect(harness.outstandingBytes == 0)
    }

    @Test("CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK passes the check", arguments: [
        MemoryLimits(lockedSoftLimit: 64 * 1024, lockedHardLimit: 64 * 1024, hasLockCapability: true),
        MemoryLimits(lockedSoftLimit: nil, lockedHardLimit: nil, hasLockCapability: false),
    ])
    func capabilityOrUnlimitedPasses(limits: MemoryLimits) throws {
        let pool = try SecureMemoryPool(
            configuration: .init(backend: .locked, byteBudget: 16 << 20),
            system: SystemCalls(harness: SyscallHarness(limits: limits)))
        #expect(pool.byteBudget == 16 << 20)
    }

    @Test("secretmem's EAGAIN (its RLIMIT_MEMLOCK charge) gets the mlock hint and no fallback",
          .enabled(if: secretmemAvailable, "kernel refuses memfd_secret"),
          arguments: [BackendPreference.secretmem, .automatic])
    func secretmemLimitHint(preference: BackendPreference) throws {
        let harness = SyscallHarness(failing: [.mapShared: EAGAIN])
        do {
            _ = try SecureMemoryPool(
                configuration: .init(backend: preference, byteBudget: 1 << 20), system: SystemCalls(harness: harness))
            Issue.record("secretmem EAGAIN was accepted")
        } catch {
            #expect(error == .lockFailed(errno: EAGAIN))
            #expect(error.description.contains("ulimit -l"), "\(error)")
        }
        #expect(harness.outstandingBytes == 0)
    }
}

private let lockLimitChildVariable = "ZDR_VAULT_TEST_LOCK_LIMIT_CHILD"

/// The child half of the real-kernel test below: without the variable it does nothing. With it
/// (run without CAP_IPC_LOCK under `RLIMIT_MEMLOCK` 64 KiB) it opens a `Vault()` with the budget
/// the variable names ("default" for none) and, if that succeeds, appends a request, printing
/// what happened (metadata only) for the parent.
@Test("child process: Vault() under a 64 KiB lock limit (runs only when spawned by the test below)",
      .enabled(if: ProcessInfo.processInfo.environment[lockLimitChildVariable] != nil, "the parent test spawns it"))
func lockLimitChildProcess() throws {
    guard let budgetSetting = ProcessInfo.processInfo.environment[lockLimitChildVariable] else { return }
    func say(_ line: String) {
        let bytes = Array("ZDR-CHILD \(line)\n".utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
    }
    say("limits \(MemoryLimits.current())")
    let vault: Vault
    do {
        vault = try Vault(configuration: .init(byteBudget: Int(budgetSetting), reaperInterval: nil))
    } catch {
        say("init-refused \(error)")
        return
    }
    say("init-ok budget \(vault.pool.byteBudget)")
    do {
        let scope = try vault.openScope()
        defer { scope.discard(reason: .completed) }
        try scope.append(content(100), to: .textInput)
        say("append-ok")
    } catch {
        say("append-failed \(error)")
    }
}

@Suite("Locked-memory budget: the start-up check on a real kernel limit")
struct LockLimitKernelTests {
    @Test("without CAP_IPC_LOCK and with ulimit -l 64, Vault() fails at start with the fix instead of failing every request",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                      && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs setpriv and prlimit"),
          arguments: ["default", "16777216"])
    func realLimitRefusedAtStart(budget: String) throws {
        let run = try runTestChild(
            filter: "lockLimitChildProcess", variable: lockLimitChildVariable, value: budget,
            wrapper: ["/usr/bin/setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--",
                      "/usr/bin/prlimit", "--memlock=65536:65536", "--"])
        let text = run.output
        let lines = run.lines(prefixed: "ZDR-CHILD ")
        try #require(lines.contains { $0.hasPrefix("limits ") }, "child did not run: \(text.suffix(2000))")
        #expect(lines.contains { $0.contains("RLIMIT_MEMLOCK soft 65536 B") && $0.contains("CAP_IPC_LOCK no") }, "\(lines)")
        let refusal = lines.first { $0.hasPrefix("init-refused ") }
        #expect(refusal != nil, "Vault() started under a 64 KiB lock limit: \(lines)")
        if let refusal {
            for fix in ["ulimit -l", "LimitMEMLOCK=", "CAP_IPC_LOCK"] { #expect(refusal.contains(fix), "\(refusal)") }
        }
    }
}
