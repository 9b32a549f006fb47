public import RetentionVocabulary
package import VaultSystem
// How a ledger writes: group-commit window, checkpoint cadence, coarsening, forward security.

/// Receives every record after it is appended, in append order (checkpoints and key rotations
/// included), for hosts that mirror the ledger into their own systems.
///
/// Called synchronously under the ledger's lock: keep it quick and never call back into the
/// ledger from it. A record reaching a sink is appended, not yet durable (see `Ledger.flush()`).
public protocol LedgerSink: Sendable {
    func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8])
}

/// Forward-secure key evolution settings.
public struct KeyEvolution: Sendable {
    /// The key evolves after this many checkpoints (≥ 1).
    public var checkpointsPerEpoch: UInt32
    /// Where the evolved key is saved (atomically, mode 0600) once its rotation record is durable.
    /// Without it the evolved key lives only in memory and the ledger cannot be reopened for writing.
    public var keyFilePath: String?

    public init(checkpointsPerEpoch: UInt32 = 1, keyFilePath: String? = nil) {
        self.checkpointsPerEpoch = max(1, checkpointsPerEpoch)
        self.keyFilePath = keyFilePath
    }
}

/// Ledger settings. The defaults suit a server: 5 ms group-commit window, a checkpoint every
/// 1,000 records or 60 seconds, exact sizes, no key evolution.
public struct LedgerConfiguration: Sendable {
    /// Background flusher period in nanoseconds; bounds how long an appended record may wait
    /// for fdatasync when no caller flushes. `nil` disables the flusher (callers flush).
    public var flushIntervalNanoseconds: UInt64?
    /// Write a signed checkpoint after this many records (`nil` or 0: no count trigger).
    public var checkpointEveryRecords: UInt64?
    /// Write a signed checkpoint when records are waiting and this many nanoseconds have passed
    /// since the last one (`nil`: no time trigger). Checked by the background flusher.
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
    /// Sign a checkpoint at the end of every flushed batch, so that every record a `flush()`
    /// acknowledges is covered by a signature when it returns: a record deleted, swapped,
    /// duplicated or forged after the last signed checkpoint is otherwise caught only by its
    /// CRC. One Ed25519 signature per fdatasync, cheap next to the sync. These checkpoints do not
    /// count towards key evolution. Off by default for now: with frequent flushes the periodic
    /// cadence (`checkpointEveryRecords`, `checkpointIntervalNanoseconds`, which count from the
    /// last checkpoint of any kind) would no longer fire, and with it key evolution.
    public var signsEveryFlush: Bool = false
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
        self.clock = clock
    }
}
