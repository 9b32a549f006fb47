import Glibc

// The record vocabulary. Every field is a number, an enum, a timestamp, a vault-generated
// RequestID or a registry-declared Identifier: there is no String or byte-array field a host
// could fill with request content. Raw values are part of the on-disk format (Docs/LedgerFormat.md):
// add cases, never renumber.

/// Nanoseconds since the Unix epoch (UTC).
public struct LedgerTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var nanosecondsSinceEpoch: UInt64

    /// A timestamp from nanoseconds since the Unix epoch.
    public init(nanosecondsSinceEpoch: UInt64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// The current wall-clock time (CLOCK_REALTIME).
    public static func now() -> LedgerTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return LedgerTimestamp(
            nanosecondsSinceEpoch: UInt64(max(0, spec.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, spec.tv_nsec)))
    }

    public static func < (lhs: LedgerTimestamp, rhs: LedgerTimestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    public var description: String { String(nanosecondsSinceEpoch) }
}

/// The unit a usage count is measured in.
public enum UsageUnit: UInt8, Sendable, Hashable, CaseIterable {
    case characters = 1
    case tokensIn = 2
    case tokensOut = 3
    case audioMillisecondsIn = 4
    case audioMillisecondsOut = 5
    case bytes = 6
}

/// One usage measurement.
public struct UsageCount: Sendable, Hashable {
    public var unit: UsageUnit
    public var count: UInt64
    public init(unit: UsageUnit, count: UInt64) {
        self.unit = unit
        self.count = count
    }
}

/// A request was opened: what it is, for whom, under which retention mode.
public struct RequestOpenedRecord: Sendable, Hashable {
    public var requestID: RequestID
    public var workspace: Identifier
    public var product: Product
    public var model: Identifier
    public var retentionMode: RetentionMode
    /// Declared data classes. Stored as a sorted set, so order and duplicates carry nothing.
    public var dataClasses: Set<DataClass>

    public init(
        requestID: RequestID, workspace: Identifier, product: Product, model: Identifier,
        retentionMode: RetentionMode, dataClasses: Set<DataClass>
    ) {
        self.requestID = requestID
        self.workspace = workspace
        self.product = product
        self.model = model
        self.retentionMode = retentionMode
        self.dataClasses = dataClasses
    }
}

/// Usage totals for a request: at most one count per unit.
public struct UsageRecord: Sendable, Hashable {
    /// Most units a usage record may hold (one per `UsageUnit`).
    public static let maximumCounts = 16
    public var requestID: RequestID
    public var counts: [UsageCount]
    public init(requestID: RequestID, counts: [UsageCount]) {
        self.requestID = requestID
        self.counts = counts
    }
}

/// Content left the process for an upstream provider.
public struct UpstreamEgressRecord: Sendable, Hashable {
    public var requestID: RequestID
    public var provider: Identifier
    public var mode: TransferMode
    /// Whether the provider's zero-data-retention agreement covers this call.
    public var coveredByZeroDataRetention: Bool
    public init(requestID: RequestID, provider: Identifier, mode: TransferMode, coveredByZeroDataRetention: Bool) {
        self.requestID = requestID
        self.provider = provider
        self.mode = mode
        self.coveredByZeroDataRetention = coveredByZeroDataRetention
    }
}

/// A retention-policy decision. The policy module owns the meaning of `reasonCode`.
public struct PolicyDecisionRecord: Sendable, Hashable {
    public var requestID: RequestID
    public var workspace: Identifier
    public var agent: Identifier?
    public var outcome: PolicyOutcome
    public var reasonCode: UInt16
    public init(requestID: RequestID, workspace: Identifier, agent: Identifier?, outcome: PolicyOutcome, reasonCode: UInt16) {
        self.requestID = requestID
        self.workspace = workspace
        self.agent = agent
        self.outcome = outcome
        self.reasonCode = reasonCode
    }
}

/// One external holder's wipe outcome.
public struct ExternalHolderReport: Sendable, Hashable {
    public var kind: ExternalHolderKind
    public var outcome: ExternalHolderOutcome
    public init(kind: ExternalHolderKind, outcome: ExternalHolderOutcome) {
        self.kind = kind
        self.outcome = outcome
    }
}

/// Every field of the vault's DiscardReceipt: what was held, how it was wiped.
public struct DiscardReceiptRecord: Sendable, Hashable {
    /// Most external holders one receipt may list.
    public static let maximumExternalHolders = 32
    /// The request whose content was discarded.
    public var requestID: RequestID
    /// Why it was discarded.
    public var reason: DiscardReason
    /// When the vault opened the request.
    public var openedAt: LedgerTimestamp
    /// When the first content byte arrived (nil if none ever did).
    public var firstContentAt: LedgerTimestamp?
    /// When the discard completed.
    public var discardedAt: LedgerTimestamp
    /// Most content bytes held at once.
    public var peakBytesHeld: UInt64
    /// Content bytes held over the request's life.
    public var totalBytesHeld: UInt64
    /// Memory chunks wiped.
    public var chunksWiped: UInt64
    /// Content slots (one per data class) wiped.
    public var slotsWiped: UInt64
    /// Bytes read back as zero after wiping.
    public var bytesVerifiedZero: UInt64
    /// Whether the per-request encryption key was destroyed.
    public var keyDestroyed: Bool
    /// The memory backend that held the content.
    public var backend: MemoryBackend
    /// The AEAD that sealed the content in memory.
    public var aead: AEADAlgorithm
    /// External holders asked to wipe, at most ``maximumExternalHolders``.
    public var externalHolders: [ExternalHolderReport]

    public init(
        requestID: RequestID, reason: DiscardReason, openedAt: LedgerTimestamp, firstContentAt: LedgerTimestamp?,
        discardedAt: LedgerTimestamp, peakBytesHeld: UInt64, totalBytesHeld: UInt64, chunksWiped: UInt64,
        slotsWiped: UInt64, bytesVerifiedZero: UInt64, keyDestroyed: Bool, backend: MemoryBackend,
        aead: AEADAlgorithm, externalHolders: [ExternalHolderReport]
    ) {
        self.requestID = requestID
        self.reason = reason
        self.openedAt = openedAt
        self.firstContentAt = firstContentAt
        self.discardedAt = discardedAt
        self.peakBytesHeld = peakBytesHeld
        self.totalBytesHeld = totalBytesHeld
        self.chunksWiped = chunksWiped
        self.slotsWiped = slotsWiped
        self.bytesVerifiedZero = bytesVerifiedZero
        self.keyDestroyed = keyDestroyed
        self.backend = backend
        self.aead = aead
        self.externalHolders = externalHolders
    }
}

/// A periodic service-health sample: counters and memory-budget use.
public struct ServiceHealthRecord: Sendable, Hashable {
    /// Start of the sampled window.
    public var windowStart: LedgerTimestamp
    /// End of the sampled window.
    public var windowEnd: LedgerTimestamp
    /// Requests opened in the window.
    public var requestsOpened: UInt64
    /// Requests discarded in the window.
    public var requestsDiscarded: UInt64
    /// Discards that failed in the window.
    public var discardFailures: UInt64
    /// Requests open at the end of the window.
    public var activeRequests: UInt64
    /// Content bytes held at the end of the window.
    public var bytesHeld: UInt64
    /// Share of the memory budget in use, in thousandths (0…1000; over-budget values allowed up to 65535).
    public var budgetUsedPermille: UInt16

    public init(
        windowStart: LedgerTimestamp, windowEnd: LedgerTimestamp, requestsOpened: UInt64, requestsDiscarded: UInt64,
        discardFailures: UInt64, activeRequests: UInt64, bytesHeld: UInt64, budgetUsedPermille: UInt16
    ) {
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.requestsOpened = requestsOpened
        self.requestsDiscarded = requestsDiscarded
        self.discardFailures = discardFailures
        self.activeRequests = activeRequests
        self.bytesHeld = bytesHeld
        self.budgetUsedPermille = budgetUsedPermille
    }
}

/// The signing key evolved (forward security): the next key, signed by the previous one.
/// Written by the ledger only.
public struct KeyRotationRecord: Sendable, Hashable {
    /// The epoch of the new key (the first key is epoch 0).
    public var epoch: UInt32
    /// The new Ed25519 public key (32 bytes).
    public var newPublicKey: [UInt8]
    /// The number of records before this one (its own leaf index).
    public var treeSize: UInt64
    /// Ed25519 signature by the previous key over the rotation statement (Docs/LedgerFormat.md).
    public var signature: [UInt8]
}

/// A signed checkpoint of all records before it. Written by the ledger only.
public struct CheckpointRecord: Sendable, Hashable {
    /// The number of records covered (equals this record's own leaf index).
    public var treeSize: UInt64
    /// RFC 6962 root hash of the first `treeSize` records (32 bytes).
    public var rootHash: [UInt8]
    /// The epoch of the key that signed it.
    public var keyEpoch: UInt32
    /// Ed25519 signature of the C2SP checkpoint body (64 bytes).
    public var signature: [UInt8]
}

/// A ledger record body: one of the fixed record kinds.
public enum LedgerRecordBody: Sendable, Hashable {
    case requestOpened(RequestOpenedRecord)
    case usage(UsageRecord)
    case upstreamEgress(UpstreamEgressRecord)
    case policyDecision(PolicyDecisionRecord)
    case discardReceipt(DiscardReceiptRecord)
    case serviceHealth(ServiceHealthRecord)
    case keyRotation(KeyRotationRecord)
    case checkpoint(CheckpointRecord)

    /// The kind byte on disk.
    public var kind: LedgerRecordKind {
        switch self {
        case .requestOpened: .requestOpened
        case .usage: .usage
        case .upstreamEgress: .upstreamEgress
        case .policyDecision: .policyDecision
        case .discardReceipt: .discardReceipt
        case .serviceHealth: .serviceHealth
        case .keyRotation: .keyRotation
        case .checkpoint: .checkpoint
        }
    }
}

/// The kind byte of a record.
public enum LedgerRecordKind: UInt8, Sendable, Hashable, CaseIterable {
    case requestOpened = 1
    case usage = 2
    case upstreamEgress = 3
    case policyDecision = 4
    case discardReceipt = 5
    case serviceHealth = 6
    case keyRotation = 7
    case checkpoint = 8

    /// Kinds only the ledger itself writes.
    public var isReserved: Bool { self == .keyRotation || self == .checkpoint }

    /// The name used in the JSON Lines export.
    public var name: String {
        switch self {
        case .requestOpened: "request_opened"
        case .usage: "usage"
        case .upstreamEgress: "upstream_egress"
        case .policyDecision: "policy_decision"
        case .discardReceipt: "discard_receipt"
        case .serviceHealth: "service_health"
        case .keyRotation: "key_rotation"
        case .checkpoint: "checkpoint"
        }
    }
}

/// A ledger record: when it was recorded and what it says.
public struct LedgerRecord: Sendable, Hashable {
    /// Set by the ledger when appended (the value passed to `append` is replaced).
    public var recordedAt: LedgerTimestamp
    /// What the record says.
    public var body: LedgerRecordBody

    public init(recordedAt: LedgerTimestamp = LedgerTimestamp(nanosecondsSinceEpoch: 0), _ body: LedgerRecordBody) {
        self.recordedAt = recordedAt
        self.body = body
    }

    /// Convenience constructors, one per host-appendable kind (`recordedAt` is set on append).
    public static func requestOpened(_ record: RequestOpenedRecord) -> LedgerRecord { LedgerRecord(.requestOpened(record)) }
    public static func usage(_ record: UsageRecord) -> LedgerRecord { LedgerRecord(.usage(record)) }
    public static func upstreamEgress(_ record: UpstreamEgressRecord) -> LedgerRecord { LedgerRecord(.upstreamEgress(record)) }
    public static func policyDecision(_ record: PolicyDecisionRecord) -> LedgerRecord { LedgerRecord(.policyDecision(record)) }
    public static func discardReceipt(_ record: DiscardReceiptRecord) -> LedgerRecord { LedgerRecord(.discardReceipt(record)) }
    public static func serviceHealth(_ record: ServiceHealthRecord) -> LedgerRecord { LedgerRecord(.serviceHealth(record)) }

    /// The request this record is about, if any.
    public var requestID: RequestID? {
        switch body {
        case .requestOpened(let r): r.requestID
        case .usage(let r): r.requestID
        case .upstreamEgress(let r): r.requestID
        case .policyDecision(let r): r.requestID
        case .discardReceipt(let r): r.requestID
        case .serviceHealth, .keyRotation, .checkpoint: nil
        }
    }
}
