public import RetentionVocabulary

// The record vocabulary. Every field is a number, an enum, a timestamp, a vault-generated
// RequestID or a registry-declared Identifier: there is no String or byte-array field a host
// could fill with request content. Raw values are part of the on-disk format (Docs/LedgerFormat.md):
// add cases, never renumber.

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

/// A periodic service-health sample: counters and memory-budget use.
public struct ServiceHealthRecord: Sendable, Hashable {
    /// Start of the sampled window.
    public var windowStart: Timestamp
    /// End of the sampled window.
    public var windowEnd: Timestamp
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
        windowStart: Timestamp, windowEnd: Timestamp, requestsOpened: UInt64, requestsDiscarded: UInt64,
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
    case discardReceipt(DiscardReceipt)
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
    public var recordedAt: Timestamp
    /// What the record says.
    public var body: LedgerRecordBody

    public init(recordedAt: Timestamp = Timestamp(nanosecondsSinceEpoch: 0), _ body: LedgerRecordBody) {
        self.recordedAt = recordedAt
        self.body = body
    }

    /// Convenience constructors, one per host-appendable kind (`recordedAt` is set on append).
    public static func requestOpened(_ record: RequestOpenedRecord) -> LedgerRecord { LedgerRecord(.requestOpened(record)) }
    public static func usage(_ record: UsageRecord) -> LedgerRecord { LedgerRecord(.usage(record)) }
    public static func upstreamEgress(_ record: UpstreamEgressRecord) -> LedgerRecord { LedgerRecord(.upstreamEgress(record)) }
    public static func policyDecision(_ record: PolicyDecisionRecord) -> LedgerRecord { LedgerRecord(.policyDecision(record)) }
    public static func discardReceipt(_ record: DiscardReceipt) -> LedgerRecord { LedgerRecord(.discardReceipt(record)) }
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
