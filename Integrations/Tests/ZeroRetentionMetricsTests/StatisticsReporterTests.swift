import ContentVault
import Foundation
import Metrics
import RetentionLedger
import Testing
import ZeroRetentionMetrics

typealias Name = ZeroRetentionMetricName

/// A small vault as the ContentVault tests build one: locked memory, no reaper thread, the
/// process left unhardened (a test process keeps its core dumps and debugger).
func makeVault(budget: Int = 2 << 20) throws -> Vault {
    try Vault(configuration: .init(backend: .locked, byteBudget: budget, reaperInterval: nil, hardensProcess: false))
}

/// Opens a scope, writes `bytes` of content into it and discards it (as completed, or as failed),
/// returning its receipt as a ledger record. (The receipt and reason types are not named here:
/// they live in RetentionVocabulary, which this test target does not depend on.)
@discardableResult
func serveRequest(in vault: Vault, bytes: Int = 300, failed: Bool = false) throws -> LedgerRecord {
    let scope = try vault.openScope()
    let body = [UInt8](repeating: 0x5A, count: bytes)
    try body.withUnsafeBytes { try scope.append(to: .textInput, copying: $0) }
    return .discardReceipt(scope.discard(reason: failed ? .failed : .completed))
}

/// A ledger in a fresh temporary directory, with no background flusher or checkpoints, so
/// its counts change only with the test's own calls. The caller removes `directory`.
func makeLedger() throws -> (ledger: Ledger, directory: URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-metrics-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let ledger = try Ledger(
        path: directory.appendingPathComponent("ledger.zdr").path, registry: IdentifierRegistry(),
        signer: try SigningKey.generate(name: "metrics.example"),
        configuration: LedgerConfiguration(
            flushIntervalNanoseconds: nil, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil))
    return (ledger, directory)
}

@Suite("Statistics reporter: vault, pool and ledger statistics as metrics")
struct StatisticsReporterTests {
    @Test("Gauges show the vault's and the pool's state at each report")
    func gaugesFollowState() throws {
        let vault = try makeVault()
        let factory = RecordingMetricsFactory()
        let reporter = StatisticsReporter(vault: vault, factory: factory)

        let scope = try vault.openScope()
        let body = [UInt8](repeating: 0x5A, count: 1000)
        try body.withUnsafeBytes { try scope.append(to: .textInput, copying: $0) }
        reporter.report()
        let held = vault.statistics.pool
        #expect(factory.gauge(Name.vaultOpenScopes)?.last == 1)
        #expect(held.mappedBytes > 0)
        #expect(factory.gauge(Name.poolMappedBytes)?.last == Double(held.mappedBytes))
        #expect(factory.gauge(Name.poolIdleBytes)?.last == Double(held.idleBytes))
        #expect(factory.gauge(Name.poolBudgetBytes)?.last == Double(2 << 20))
        #expect(factory.gauge(Name.poolRegions)?.last == Double(held.regions))
        #expect((factory.gauge(Name.poolLiveBuffers)?.last ?? 0) >= 1)
        #expect(factory.gauge(Name.poolQuarantinedSlots)?.last == 0)
        #expect(factory.gauge(Name.vaultTransferBytes)?.last == 0)

        scope.discard(reason: .completed)
        reporter.report()
        #expect(factory.gauge(Name.vaultOpenScopes)?.last == 0)
        #expect(factory.gauge(Name.poolLiveBuffers)?.last == 0)
        #expect(factory.gauge(Name.poolIdleBytes)?.last == Double(vault.statistics.pool.idleBytes))
    }

    @Test("Counters publish the increase since the last report, so they only go up and sum to the totals",
          arguments: [1, 3])
    func countersPublishDeltas(requestsPerRound: Int) throws {
        let vault = try makeVault()
        let factory = RecordingMetricsFactory()
        // Activity before the reporter exists is in its first report.
        try serveRequest(in: vault)
        let reporter = StatisticsReporter(vault: vault, factory: factory)

        for round in 1...3 {
            for _ in 0..<requestsPerRound { try serveRequest(in: vault) }
            try serveRequest(in: vault, failed: true)
            reporter.report()
            reporter.report()  // nothing happened in between: adds nothing

            let statistics = vault.statistics
            let served = 1 + round * (requestsPerRound + 1)
            #expect(factory.counter(Name.vaultScopesOpened)?.total == Int64(served))
            #expect(statistics.openedScopes == served)
            #expect(factory.counter(Name.vaultScopesDiscarded, [("reason", "completed")])?.total
                    == Int64(1 + round * requestsPerRound))
            #expect(factory.counter(Name.vaultScopesDiscarded, [("reason", "failed")])?.total == Int64(round))
            #expect(factory.counter(Name.vaultScopesDiscarded, [("reason", "expired")])?.total == 0)
            #expect(statistics.pool.wipes > 0)
            #expect(factory.counter(Name.poolWipes)?.total == Int64(statistics.pool.wipes))
            #expect(factory.counter(Name.poolWipedBytes)?.total == Int64(statistics.pool.bytesWiped))
            #expect(factory.counter(Name.poolVerifiedZeroBytes)?.total == Int64(statistics.pool.bytesVerifiedZero))
            #expect(factory.counter(Name.poolCorruptionEvents)?.total == 0)
        }
        for label in [Name.vaultScopesOpened, Name.poolWipes, Name.poolWipedBytes, Name.poolVerifiedZeroBytes] {
            let increments = try #require(factory.counter(label)).recordedIncrements
            #expect(increments.allSatisfy { $0 > 0 }, "\(label) was reset, decremented or incremented by 0")
            #expect(increments.count == 3, "\(label) should increase once per round, not at the idle report")
        }
    }

    @Test("Ledger counters and the pending gauge follow appends and flushes")
    func ledgerCounts() throws {
        let vault = try makeVault()
        let (ledger, directory) = try makeLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factory = RecordingMetricsFactory()
        let reporter = StatisticsReporter(vault: vault, ledger: ledger, factory: factory)

        for _ in 0..<3 { try ledger.append(serveRequest(in: vault)) }
        reporter.report()
        #expect(factory.counter(Name.ledgerRecords)?.total == 3)
        #expect(factory.counter(Name.ledgerDurableRecords)?.total == 0)
        #expect(factory.gauge(Name.ledgerPendingRecords)?.last == 3)
        #expect(factory.counter(Name.ledgerSyncs)?.total == 0)

        try ledger.flush()
        reporter.report()
        #expect(factory.counter(Name.ledgerRecords)?.total == Int64(ledger.size))
        #expect(factory.counter(Name.ledgerDurableRecords)?.total == Int64(ledger.durableSize))
        #expect(ledger.durableSize >= 3)
        #expect(factory.gauge(Name.ledgerPendingRecords)?.last == 0)
        #expect(factory.counter(Name.ledgerSyncs)?.total == Int64(ledger.syncCount))
        #expect(ledger.syncCount >= 1)
        #expect(factory.counter(Name.vaultScopesOpened)?.total == 3)
        try ledger.close()
    }

    @Test("Only the documented names are published, each a number, with the discard reason as the only dimension")
    func onlyDocumentedNames() throws {
        let vault = try makeVault()
        let (ledger, directory) = try makeLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factory = RecordingMetricsFactory()
        let reporter = StatisticsReporter(vault: vault, ledger: ledger, factory: factory)
        try ledger.append(serveRequest(in: vault))
        reporter.report()

        let documented: Set<String> = [
            Name.vaultOpenScopes, Name.vaultTransferBytes, Name.poolMappedBytes, Name.poolIdleBytes,
            Name.poolBudgetBytes, Name.poolRegions, Name.poolLiveBuffers, Name.poolQuarantinedSlots,
            Name.ledgerPendingRecords, Name.vaultScopesOpened, Name.vaultScopesDiscarded, Name.poolWipes,
            Name.poolWipedBytes, Name.poolVerifiedZeroBytes, Name.poolCorruptionEvents, Name.ledgerRecords,
            Name.ledgerDurableRecords, Name.ledgerSyncs,
        ]
        #expect(factory.labels == documented)
        #expect(factory.labels.allSatisfy { $0.hasPrefix("zdr_") })
        #expect(factory.dimensions == ["reason=completed", "reason=cancelled", "reason=expired", "reason=purged", "reason=failed"])
        try ledger.close()
    }

    @Test("A reporter for a vault alone publishes no ledger metrics, and one for a ledger alone no vault metrics")
    func sourcesAreOptional() throws {
        let vaultFactory = RecordingMetricsFactory()
        StatisticsReporter(vault: try makeVault(), factory: vaultFactory).report()
        #expect(vaultFactory.labels.contains(Name.poolMappedBytes))
        #expect(!vaultFactory.labels.contains { $0.hasPrefix("zdr_ledger_") })

        let (ledger, directory) = try makeLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledgerFactory = RecordingMetricsFactory()
        StatisticsReporter(ledger: ledger, factory: ledgerFactory).report()
        #expect(ledgerFactory.labels.contains(Name.ledgerRecords))
        #expect(ledgerFactory.labels.allSatisfy { $0.hasPrefix("zdr_ledger_") })
        try ledger.close()
    }

    @Test("Concurrent reports during concurrent requests publish each increase exactly once")
    func concurrentReports() async throws {
        let vault = try makeVault(budget: 4 << 20)
        let factory = RecordingMetricsFactory()
        let reporter = StatisticsReporter(vault: vault, factory: factory)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { for _ in 0..<25 { try serveRequest(in: vault) } }
                group.addTask { for _ in 0..<25 { reporter.report() } }
            }
            try await group.waitForAll()
        }
        reporter.report()

        #expect(factory.counter(Name.vaultScopesOpened)?.total == 100)
        #expect(factory.counter(Name.vaultScopesDiscarded, [("reason", "completed")])?.total == 100)
        #expect(factory.counter(Name.poolWipes)?.total == Int64(vault.statistics.pool.wipes))
        #expect(factory.gauge(Name.vaultOpenScopes)?.last == 0)
    }

    @Test("run(every:) reports until the task running it is cancelled, then returns")
    func runEndsWithCancellation() async throws {
        let vault = try makeVault()
        let factory = RecordingMetricsFactory()
        let reporter = StatisticsReporter(vault: vault, factory: factory)
        let task = Task { await reporter.run(every: .milliseconds(5)) }

        // Waits for the event, not a fixed time: at least two reports have run.
        let deadline = ContinuousClock.now + .seconds(10)
        while (factory.gauge(Name.vaultOpenScopes)?.recordedValues.count ?? 0) < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect((factory.gauge(Name.vaultOpenScopes)?.recordedValues.count ?? 0) >= 2)

        task.cancel()
        await task.value
        let reportsAtEnd = factory.gauge(Name.vaultOpenScopes)?.recordedValues.count
        try await Task.sleep(for: .milliseconds(30))
        #expect(factory.gauge(Name.vaultOpenScopes)?.recordedValues.count == reportsAtEnd)
    }
}
