public import RetentionVocabulary
package import VaultSystem
// How a ledger writes: group-commit window, checkpoint cadence, coarsening, forward security.

/// Receives every record after it is appended, in append order (checkpoints and key rotations
/// included), for hosts that mirror the ledger into their own systems.
///
/// Called synchronously under the ledger's lock: keep it quick and never call back into the
/// ledger from it. A record reaching a sink is appended, not yet durable (see `Ledger.flush()`).
public protocol LedgerSink: Sendable {
    /// The kinds of record this sink is sent; every kind unless the sink says otherwise. Read
    /// once, when the ledger opens: a record of a kind no sink wants is neither copied nor sent.
    var recordKinds: Set<LedgerRecordKind> { get }
    func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8])
}

extension LedgerSink {
    public var recordKinds: Set<LedgerRecordKind> { Set(LedgerRecordKind.allCases) }
}

/// A ledger's sinks by kind, fixed when it opens. An append of a kind no sink wants costs one
/// bit test under the writer's lock, not a copy of its bytes.
struct SinkRoutes: Sendable {
    private let routes: [(kinds: UInt32, sink: any LedgerSink)]
    private let wanted: UInt32

    init(_ sinks: [any LedgerSink]) {
        routes = sinks.map { sink in (sink.recordKinds.reduce(0) { $0 | Self.bit($1) }, sink) }
        wanted = routes.reduce(0) { $0 | $1.kinds }
    }

    private static func bit(_ kind: LedgerRecordKind) -> UInt32 { 1 << UInt32(kind.rawValue) }

    func deliver(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: Span<UInt8>) {
        let bit = Self.bit(record.body.kind)
        guard wanted & bit != 0 else { return }
        let bytes = [UInt8](copying: canonicalBytes)
        for route in routes where route.kinds & bit != 0 {
            route.sink.ledgerDidAppend(record, leafIndex: leafIndex, canonicalBytes: bytes)
        }
    }
}

/// Forward-secure key evolution settings.
public struct KeyEvolution: Sendable {
    /// The key evolves after this many periodic checkpoints (≥ 1): by count, by time or
    /// `Ledger.checkpoint()`, not the seals of `LedgerConfiguration.signsEveryFlush`.
    public var checkpointsPerEpoch: UInt32
    /// Where the evolved key is saved (atomically, mode 0600) once its rotation record is durable.
    /// Without it the evolved key lives only in memory and the ledger cannot be reopened for writing.
    public var keyFilePath: String?

    public init(checkpointsPerEpoch: UInt32 = 1, keyFilePath: String? = nil) {
        self.checkpointsPerEpoch = max(1, checkpointsPerEpoch)
        self.keyFilePath = keyFilePath
    }
}

/// Ledger settings. The defaults suit a server: 5 ms group-commit window, every flushed batch
/// sealed by a signed checkpoint, a periodic checkpoint every 1,000 records or 60 seconds, exact
/// sizes, no key evolution.
public struct LedgerConfiguration: Sendable {
    /// Background flusher period in nanoseconds; bounds how long an appended record may wait
    /// for fdatasync when no caller flushes. `nil` disables the flusher (callers flush).
    public var flushIntervalNanoseconds: UInt64?
    /// Write a periodic signed checkpoint after this many host records since the last periodic
    /// one (`nil` or 0: no count trigger). Seal checkpoints (`signsEveryFlush`) do not reset it.
    public var checkpointEveryRecords: UInt64?
    /// Write a periodic signed checkpoint when host records were appended since the last periodic
    /// one and this many nanoseconds have passed since it (`nil`: no time trigger). Checked by the
    /// background flusher; seal checkpoints do not reset it.
    public var checkpointIntervalNanoseconds: UInt64?
    /// Round sizes and durations up to a power of two before encoding (lengths leak content).
    public var bucketSizes: Bool
    /// Round timestamps down to a multiple of this many nanoseconds (1 = exact).
    public var timestampResolutionNanoseconds: UInt64
    /// Forward-secure key evolution, or `nil` for a single long-lived key.
    public var keyEvolution: KeyEvolution?
    /// Mirrors for every appended record.
    public var sinks: [any LedgerSink]
    /// The clock that stamps records; replaceable for deterministic tests.
    public var clock: @Sendable () -> Timestamp
    /// Sign a checkpoint at the end of every flushed batch (on by default), so that every record
    /// a `flush()` acknowledges, or the background flusher makes durable, is covered by a
    /// signature when it is on disk: a record deleted, swapped, duplicated or forged after the
    /// last signed checkpoint is otherwise caught only by its CRC. One Ed25519 signature per
    /// fdatasync, cheap next to the sync. These seal checkpoints leave the periodic cadence alone:
    /// `checkpointEveryRecords` and `checkpointIntervalNanoseconds` count from the last periodic
    /// checkpoint, and only periodic ones count towards key evolution. Turn it off only where a
    /// record may stay unsigned until the next periodic checkpoint.
    public var signsEveryFlush: Bool
    /// What the host is (``SoftwareIdentityRecord/current(policyDocument:configuration:version:)``):
    /// recorded at open and after every key rotation, so that every receipt has an identity in
    /// force before it (`zdr ledger verify --expect-binary`). `nil` records none.
    public var softwareIdentity: SoftwareIdentityRecord?
    /// Keep the ledger index beside the file (`LEDGER.index/`, Docs/LedgerFormat.md §12) and
    /// reopen from it (on by default): the writer then replays only the records after the
    /// index's last checkpoint and keeps only the tree's frontier and what was appended since in
    /// memory. The background flusher extends the index every 2^20 durable records (writing
    /// outside the writer lock) and `close()` to every record; it is a cache, checked on open and
    /// never trusted for an answer. Off: every open replays the whole file and holds every tree node in memory.
    public var maintainsIndex: Bool = true
    /// The background flusher extends the index once this many durable records are past its
    /// end (tests lower it). Each extension dirties most pages of the id table (random slots),
    /// so it is rare; memory holds up to this many records' nodes and receipts in between.
    package var indexRefreshEveryRecords: UInt64 = 1 << 20
    /// The file calls (tests: forced failures through a `FaultInjection`).
    package var fileSystem: FileSystem = .live

    public init(
        flushIntervalNanoseconds: UInt64? = 5_000_000,
        checkpointEveryRecords: UInt64? = 1000,
        checkpointIntervalNanoseconds: UInt64? = 60_000_000_000,
        bucketSizes: Bool = false,
        timestampResolutionNanoseconds: UInt64 = 1,
        keyEvolution: KeyEvolution? = nil,
        sinks: [any LedgerSink] = [],
        signsEveryFlush: Bool = true,
        softwareIdentity: SoftwareIdentityRecord? = nil,
        clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }
    ) {
        self.flushIntervalNanoseconds = flushIntervalNanoseconds
        // 0 has no sensible count meaning; like nil it disables the trigger.
        self.checkpointEveryRecords = checkpointEveryRecords == 0 ? nil : checkpointEveryRecords
        self.checkpointIntervalNanoseconds = checkpointIntervalNanoseconds == 0 ? nil : checkpointIntervalNanoseconds
        self.bucketSizes = bucketSizes
        self.timestampResolutionNanoseconds = max(1, timestampResolutionNanoseconds)
        self.keyEvolution = keyEvolution
        self.sinks = sinks
        self.signsEveryFlush = signsEveryFlush
        self.softwareIdentity = softwareIdentity
        self.clock = clock
    }
}
