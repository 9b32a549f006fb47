public import ContentVault
import Foundation
public import Metrics
public import RetentionLedger

/// The names ``StatisticsReporter`` publishes under. Fixed, so dashboards and alerts can rely on
/// them; every value is a number, and the only dimension is the discard `reason` (a fixed set).
public enum ZeroRetentionMetricName {
    // Gauges: the value now.
    /// Request scopes open now.
    public static let vaultOpenScopes = "zdr_vault_open_scopes"
    /// Bytes of transfer slots mapped now.
    public static let vaultTransferBytes = "zdr_vault_transfer_bytes"
    /// Bytes of locked memory mapped now, counted against the budget.
    public static let poolMappedBytes = "zdr_pool_mapped_bytes"
    /// Of the mapped bytes, those held by no buffer (the warm reserve).
    public static let poolIdleBytes = "zdr_pool_idle_bytes"
    /// The pool's byte budget.
    public static let poolBudgetBytes = "zdr_pool_budget_bytes"
    /// Regions mapped now.
    public static let poolRegions = "zdr_pool_regions"
    /// Buffers handed out and not yet released.
    public static let poolLiveBuffers = "zdr_pool_live_buffers"
    /// Slots never reused because of an overrun or a failed verification.
    public static let poolQuarantinedSlots = "zdr_pool_quarantined_slots"
    /// Ledger records appended but not yet known to be on disk.
    public static let ledgerPendingRecords = "zdr_ledger_pending_records"

    // Counters: increments since the reporter was created (its first report adds the totals
    // accumulated before).
    /// Request scopes opened.
    public static let vaultScopesOpened = "zdr_vault_scopes_opened_total"
    /// Request scopes discarded, with dimension `reason`: completed, cancelled, expired, purged, failed.
    public static let vaultScopesDiscarded = "zdr_vault_scopes_discarded_total"
    /// Pool slots wiped.
    public static let poolWipes = "zdr_pool_wipes_total"
    /// Bytes written with zeroes.
    public static let poolWipedBytes = "zdr_pool_wiped_bytes_total"
    /// Bytes read back as zero after their wipe.
    public static let poolVerifiedZeroBytes = "zdr_pool_verified_zero_bytes_total"
    /// Releases that found memory corruption (only under `quarantineAndReport`).
    public static let poolCorruptionEvents = "zdr_pool_corruption_events_total"
    /// Ledger records appended (including checkpoints and key rotations).
    public static let ledgerRecords = "zdr_ledger_records_total"
    /// Ledger records known to be on disk.
    public static let ledgerDurableRecords = "zdr_ledger_durable_records_total"
    /// fdatasync calls the ledger's flushes made.
    public static let ledgerSyncs = "zdr_ledger_syncs_total"

    /// The dimension of ``vaultScopesDiscarded``.
    public static let discardReasonDimension = "reason"
}

/// Publishes a vault's and a ledger's statistics as swift-metrics gauges and counters, named as
/// in ``ZeroRetentionMetricName``.
///
/// It has no thread of its own: the host calls ``report()`` on its own timer, or runs
/// ``run(every:)`` in a task it cancels. Counters are published as the increase of the
/// cumulative statistics since the previous report, so they only go up.
///
/// ```swift
/// let reporter = StatisticsReporter(vault: vault, ledger: ledger)  // MetricsSystem.factory
/// let task = Task { await reporter.run(every: .seconds(10)) }
/// // at shutdown:
/// task.cancel()
/// ```
public final class StatisticsReporter: @unchecked Sendable {
    private let vault: Vault?
    private let ledger: Ledger?
    private let vaultMetrics: VaultMetrics?
    private let ledgerMetrics: LedgerMetrics?
    // NSLock rather than Synchronization.Mutex: the project's ThreadSanitizer CI sees NSLock.
    // It also keeps concurrent report() calls from publishing one delta twice.
    private let lock = NSLock()
    private var published = Published()

    /// A reporter for `vault` and `ledger` (either may be nil), publishing through `factory`.
    /// The metrics are created here, once; pass a factory to keep tests off the global
    /// `MetricsSystem`.
    public init(vault: Vault? = nil, ledger: Ledger? = nil, factory: any MetricsFactory = MetricsSystem.factory) {
        self.vault = vault
        self.ledger = ledger
        self.vaultMetrics = vault.map { _ in VaultMetrics(factory: factory) }
        self.ledgerMetrics = ledger.map { _ in LedgerMetrics(factory: factory) }
    }

    /// Reads the statistics once and publishes them: gauges with their current value, counters
    /// with the increase since the previous call.
    public func report() {
        // Read under the lock too: two reports that read in one order and published in the other
        // would publish the older totals last, and the next report would count the gap twice.
        lock.withLock {
            if let vault, let vaultMetrics { publish(vault.statistics, to: vaultMetrics) }
            if let ledger, let ledgerMetrics {
                // Durable first: read after it, the size is at least as large.
                let durable = ledger.durableSize
                publish(LedgerTotals(records: ledger.size, durable: durable, syncs: ledger.syncCount), to: ledgerMetrics)
            }
        }
    }

    /// Calls ``report()`` now and then every `interval`, until the task running it is cancelled.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            report()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    // MARK: - Publishing (under `lock`)

    private func publish(_ statistics: VaultStatistics, to metrics: VaultMetrics) {
        let pool = statistics.pool
        metrics.openScopes.record(statistics.openScopes)
        metrics.transferBytes.record(statistics.transferBytesInUse)
        metrics.mappedBytes.record(pool.mappedBytes)
        metrics.idleBytes.record(pool.idleBytes)
        metrics.budgetBytes.record(pool.byteBudget)
        metrics.regions.record(pool.regions)
        metrics.liveBuffers.record(pool.liveBuffers)
        metrics.quarantinedSlots.record(pool.quarantinedSlots)

        advance(metrics.scopesOpened, from: &published.scopesOpened, to: UInt64(clamping: statistics.openedScopes))
        // Keyed by the reason's name: the vault reports every reason (0 until it happens), so
        // all five counters exist from the first report on.
        for (reason, count) in statistics.discardedByReason {
            let counter = metrics.discardCounter(reason.description)
            advance(counter, from: &published.discarded[reason.description, default: 0], to: UInt64(clamping: count))
        }
        advance(metrics.wipes, from: &published.wipes, to: pool.wipes)
        advance(metrics.wipedBytes, from: &published.wipedBytes, to: pool.bytesWiped)
        advance(metrics.verifiedZeroBytes, from: &published.verifiedZeroBytes, to: pool.bytesVerifiedZero)
        advance(metrics.corruptionEvents, from: &published.corruptionEvents, to: UInt64(clamping: pool.corruptionEvents))
    }

    private func publish(_ totals: LedgerTotals, to metrics: LedgerMetrics) {
        metrics.pendingRecords.record(Int64(clamping: totals.records - min(totals.durable, totals.records)))
        advance(metrics.records, from: &published.ledgerRecords, to: totals.records)
        advance(metrics.durableRecords, from: &published.ledgerDurable, to: totals.durable)
        advance(metrics.syncs, from: &published.ledgerSyncs, to: totals.syncs)
    }

    /// Publishes the increase from `last` to `total`. A total below `last` (not expected: the
    /// statistics are cumulative) is taken as the new base, so a counter never goes down.
    private func advance(_ counter: Counter, from last: inout UInt64, to total: UInt64) {
        if total > last { counter.increment(by: Int64(clamping: total - last)) }
        last = total
    }
}

/// The cumulative totals as last published.
private struct Published {
    var scopesOpened: UInt64 = 0
    var discarded: [String: UInt64] = [:]
    var wipes: UInt64 = 0
    var wipedBytes: UInt64 = 0
    var verifiedZeroBytes: UInt64 = 0
    var corruptionEvents: UInt64 = 0
    var ledgerRecords: UInt64 = 0
    var ledgerDurable: UInt64 = 0
    var ledgerSyncs: UInt64 = 0
}

private struct LedgerTotals {
    var records: UInt64
    var durable: UInt64
    var syncs: UInt64
}

/// Used under the reporter's lock only.
private final class VaultMetrics {
    let factory: any MetricsFactory
    let openScopes, transferBytes, mappedBytes, idleBytes, budgetBytes, regions, liveBuffers, quarantinedSlots: Gauge
    let scopesOpened, wipes, wipedBytes, verifiedZeroBytes, corruptionEvents: Counter
    private var scopesDiscarded: [String: Counter] = [:]

    /// The discard counter of one reason, created the first time the reason is seen.
    func discardCounter(_ reason: String) -> Counter {
        if let counter = scopesDiscarded[reason] { return counter }
        let counter = Counter(
            label: ZeroRetentionMetricName.vaultScopesDiscarded,
            dimensions: [(ZeroRetentionMetricName.discardReasonDimension, reason)], factory: factory)
        scopesDiscarded[reason] = counter
        return counter
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
        typealias Name = ZeroRetentionMetricName
        func gauge(_ label: String) -> Gauge { Gauge(label: label, factory: factory) }
        func counter(_ label: String) -> Counter { Counter(label: label, factory: factory) }
        openScopes = gauge(Name.vaultOpenScopes)
        transferBytes = gauge(Name.vaultTransferBytes)
        mappedBytes = gauge(Name.poolMappedBytes)
        idleBytes = gauge(Name.poolIdleBytes)
        budgetBytes = gauge(Name.poolBudgetBytes)
        regions = gauge(Name.poolRegions)
        liveBuffers = gauge(Name.poolLiveBuffers)
        quarantinedSlots = gauge(Name.poolQuarantinedSlots)
        scopesOpened = counter(Name.vaultScopesOpened)
        wipes = counter(Name.poolWipes)
        wipedBytes = counter(Name.poolWipedBytes)
        verifiedZeroBytes = counter(Name.poolVerifiedZeroBytes)
        corruptionEvents = counter(Name.poolCorruptionEvents)
    }
}

private struct LedgerMetrics {
    let pendingRecords: Gauge
    let records, durableRecords, syncs: Counter

    init(factory: any MetricsFactory) {
        typealias Name = ZeroRetentionMetricName
        pendingRecords = Gauge(label: Name.ledgerPendingRecords, factory: factory)
        records = Counter(label: Name.ledgerRecords, factory: factory)
        durableRecords = Counter(label: Name.ledgerDurableRecords, factory: factory)
        syncs = Counter(label: Name.ledgerSyncs, factory: factory)
    }
}
