public import RetentionVocabulary

// The record vocabulary. Every field is a number, an enum, a timestamp, a vault-generated
// RequestID or a registry-declared Identifier: there is no String or byte-array field a host
// could fill with request content. Raw values are part of the on-disk format (Docs/LedgerFormat.md):
// add cases, never renumber.

/// A request was opened: what it is, for whom, under which retention mode.
public struct RequestOpenedRecord: Sendable, Hashable {
    /// The vault-generated request id.
    public var requestID: RequestID
    /// The declared workspace the request belongs to.
    public var workspace: Identifier
    /// What the request is for.
    public var product: Product
    /// The declared model that serves it.
    public var model: Identifier
    /// Zero retention, or the provider's ordinary retention.
    public var retentionMode: RetentionMode
    /// Declared data classes. Stored as a sorted set, so order and duplicates carry nothing.
    public var dataClasses: Set<DataClass>

    /// An opening record.
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

extension RequestOpenedRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.request(requestID)
        out.identifier(workspace)
        out.u8(product.rawValue)
        out.identifier(model)
        out.u8(retentionMode.rawValue)
        let classes = dataClasses.map(\.rawValue).sorted()
        out.u8(UInt8(classes.count))
        for value in classes { out.u8(value) }
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        requestID = try input.request()
        workspace = try input.identifier()
        product = try input.enumeration(Product.self)
        model = try input.identifier()
        retentionMode = try input.enumeration(RetentionMode.self)
        let count = Int(try input.u8())
        var classes: [DataClass] = []
        for _ in 0..<count { classes.append(try input.enumeration(DataClass.self)) }
        // Strictly ascending: one byte representation per set.
        for index in classes.indices.dropFirst() where classes[index - 1].rawValue >= classes[index].rawValue {
            throw MalformedRecord()
        }
        dataClasses = Set(classes)
    }
}

/// Usage totals for a request: at most one count per unit.
public struct UsageRecord: Sendable, Hashable {
    /// Most units a usage record may hold (one per `UsageUnit`).
    public static let maximumCounts = 16
    /// The request the usage is for.
    public var requestID: RequestID
    /// The counts, at most one per unit (encoded sorted by unit).
    public var counts: [UsageCount]
    /// A usage record.
    public init(requestID: RequestID, counts: [UsageCount]) {
        self.requestID = requestID
        self.counts = counts
    }
}

extension UsageRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.request(requestID)
        let sorted = counts.sorted { $0.unit.rawValue < $1.unit.rawValue }
        out.u8(UInt8(truncatingIfNeeded: sorted.count))
        for entry in sorted {
            out.u8(entry.unit.rawValue)
            out.u64(entry.count)
        }
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        requestID = try input.request()
        let count = Int(try input.u8())
        guard count <= Self.maximumCounts else { throw MalformedRecord() }
        counts = []
        for _ in 0..<count {
            let unit = try input.enumeration(UsageUnit.self)
            counts.append(UsageCount(unit: unit, count: try input.u64()))
        }
        for index in counts.indices.dropFirst() where counts[index - 1].unit.rawValue >= counts[index].unit.rawValue {
            throw MalformedRecord()
        }
    }
}

/// Content left the process for an upstream provider.
public struct UpstreamEgressRecord: Sendable, Hashable {
    /// The request whose content left.
    public var requestID: RequestID
    /// The declared upstream provider it went to.
    public var provider: Identifier
    /// One request/response or a stream.
    public var mode: TransferMode
    /// Whether the provider's zero-data-retention agreement covers this call.
    public var coveredByZeroDataRetention: Bool
    /// An egress record.
    public init(requestID: RequestID, provider: Identifier, mode: TransferMode, coveredByZeroDataRetention: Bool) {
        self.requestID = requestID
        self.provider = provider
        self.mode = mode
        self.coveredByZeroDataRetention = coveredByZeroDataRetention
    }
}

extension UpstreamEgressRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.request(requestID)
        out.identifier(provider)
        out.u8(mode.rawValue)
        out.bool(coveredByZeroDataRetention)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        requestID = try input.request()
        provider = try input.identifier()
        mode = try input.enumeration(TransferMode.self)
        coveredByZeroDataRetention = try input.bool()
    }
}

/// A retention-policy decision. The policy module owns the meaning of `reasonCode`.
public struct PolicyDecisionRecord: Sendable, Hashable {
    /// The request decided about.
    public var requestID: RequestID
    /// Its declared workspace.
    public var workspace: Identifier
    /// Its declared agent, if any.
    public var agent: Identifier?
    /// Accepted, rejected, or accepted with ordinary retention.
    public var outcome: PolicyOutcome
    /// The policy's reason code (RetentionPolicy's `PolicyReason` raw value).
    public var reasonCode: UInt16
    /// A decision record.
    public init(requestID: RequestID, workspace: Identifier, agent: Identifier?, outcome: PolicyOutcome, reasonCode: UInt16) {
        self.requestID = requestID
        self.workspace = workspace
        self.agent = agent
        self.outcome = outcome
        self.reasonCode = reasonCode
    }
}

extension PolicyDecisionRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.request(requestID)
        out.identifier(workspace)
        if let agent {
            out.u8(1)
            out.identifier(agent)
        } else {
            out.u8(0)
        }
        out.u8(outcome.rawValue)
        out.u16(reasonCode)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        requestID = try input.request()
        workspace = try input.identifier()
        agent = try input.bool() ? try input.identifier() : nil
        outcome = try input.enumeration(PolicyOutcome.self)
        reasonCode = try input.u16()
    }
}

// The discard receipt is the vocabulary's `DiscardReceipt` (one definition: the vault produces
// it); its encoding lives here with the other records'.
extension DiscardReceipt: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.request(requestID)
        out.u8(reason.rawValue)
        out.timestamp(openedAt)
        if let firstContentAt {
            out.u8(1)
            out.timestamp(firstContentAt)
        } else {
            out.u8(0)
        }
        out.timestamp(discardedAt)
        out.u64(peakBytesHeld)
        out.u64(totalBytesHeld)
        out.u64(chunksWiped)
        out.u64(slotsWiped)
        out.u64(bytesVerifiedZero)
        out.bool(keyDestroyed)
        out.bool(memoryCorruptionDetected)
        out.u8(backend.rawValue)
        out.u8(aead.rawValue)
        out.u8(UInt8(truncatingIfNeeded: externalHolders.count))
        for holder in externalHolders {
            out.u8(holder.kind.rawValue)
            out.u8(holder.outcome.rawValue)
        }
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        let requestID = try input.request()
        let reason = try input.enumeration(DiscardReason.self)
        let openedAt = try input.timestamp()
        let firstContentAt: Timestamp? = try input.bool() ? try input.timestamp() : nil
        let discardedAt = try input.timestamp()
        let peak = try input.u64()
        let total = try input.u64()
        let chunks = try input.u64()
        let slots = try input.u64()
        let verifiedZero = try input.u64()
        let keyDestroyed = try input.bool()
        let memoryCorruption = try input.bool()
        let backend = try input.enumeration(MemoryBackend.self)
        let aead = try input.enumeration(AEADAlgorithm.self)
        let holderCount = Int(try input.u8())
        guard holderCount <= Self.maximumExternalHolders else { throw MalformedRecord() }
        var holders: [ExternalHolderReport] = []
        for _ in 0..<holderCount {
            let kind = try input.enumeration(ExternalHolderKind.self)
            holders.append(ExternalHolderReport(kind: kind, outcome: try input.enumeration(ExternalHolderOutcome.self)))
        }
        self.init(
            requestID: requestID, reason: reason, openedAt: openedAt, firstContentAt: firstContentAt,
            discardedAt: discardedAt, peakBytesHeld: peak, totalBytesHeld: total, chunksWiped: chunks,
            slotsWiped: slots, bytesVerifiedZero: verifiedZero, keyDestroyed: keyDestroyed, backend: backend,
            aead: aead, externalHolders: holders, memoryCorruptionDetected: memoryCorruption)
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

    /// A health sample.
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

extension ServiceHealthRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.timestamp(windowStart)
        out.timestamp(windowEnd)
        out.u64(requestsOpened)
        out.u64(requestsDiscarded)
        out.u64(discardFailures)
        out.u64(activeRequests)
        out.u64(bytesHeld)
        out.u16(budgetUsedPermille)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        windowStart = try input.timestamp()
        windowEnd = try input.timestamp()
        requestsOpened = try input.u64()
        requestsDiscarded = try input.u64()
        discardFailures = try input.u64()
        activeRequests = try input.u64()
        bytesHeld = try input.u64()
        budgetUsedPermille = try input.u16()
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

extension KeyRotationRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.u32(epoch)
        out.raw(newPublicKey)
        out.u64(treeSize)
        out.raw(signature)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        epoch = try input.u32()
        newPublicKey = try input.raw(32)
        treeSize = try input.u64()
        signature = try input.raw(64)
    }
}

/// What produced the records after it: SHA-256 of the running executable, of the loaded policy
/// document and of the vault's configuration, and the package version. Written by the ledger
/// only, at open and after each key rotation, when ``LedgerConfiguration/softwareIdentity`` is
/// set. Self-reported: a modified binary can report another's hashes until the record is bound
/// to a hardware attestation (Docs/ThreatModel.md).
public struct SoftwareIdentityRecord: Sendable, Hashable {
    /// SHA-256 of the executable (32 bytes), as `/proc/self/exe` reads.
    public var executableSHA256: [UInt8]
    /// SHA-256 of the policy document as loaded (32 bytes).
    public var policySHA256: [UInt8]
    /// SHA-256 of the vault's configuration as the host encodes it (32 bytes).
    public var configurationSHA256: [UInt8]
    /// The package version, `major.minor.patch`.
    public var version: SoftwareVersion

    /// An identity from its hashes and version.
    public init(executableSHA256: [UInt8], policySHA256: [UInt8], configurationSHA256: [UInt8], version: SoftwareVersion) {
        self.executableSHA256 = executableSHA256
        self.policySHA256 = policySHA256
        self.configurationSHA256 = configurationSHA256
        self.version = version
    }
}

/// A package version, `major.minor.patch`: numbers only, so the record holds no free text.
public struct SoftwareVersion: Sendable, Hashable, CustomStringConvertible {
    /// Incompatible changes.
    public var major: UInt16
    /// Compatible additions.
    public var minor: UInt16
    /// Fixes.
    public var patch: UInt16

    /// `major.minor.patch`.
    public init(major: UInt16, minor: UInt16, patch: UInt16) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// `major.minor.patch`.
    public var description: String { "\(major).\(minor).\(patch)" }
}

extension SoftwareIdentityRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.raw(executableSHA256)
        out.raw(policySHA256)
        out.raw(configurationSHA256)
        out.u16(version.major)
        out.u16(version.minor)
        out.u16(version.patch)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        executableSHA256 = try input.raw(32)
        policySHA256 = try input.raw(32)
        configurationSHA256 = try input.raw(32)
        version = SoftwareVersion(major: try input.u16(), minor: try input.u16(), patch: try input.u16())
    }
}

/// How a submission of a checkpoint to a witness ended (C2SP tlog-witness), as a
/// ``WitnessHealthRecord`` stores it: a fixed set, so the record holds no free text.
public enum WitnessOutcome: UInt8, Sendable, Hashable, CaseIterable {
    case cosigned = 0
    case noAnswer = 1
    case badRequest = 2
    case forbidden = 3
    case unknownLog = 4
    case conflictingRoot = 5
    case invalidProof = 6
    case noValidCosignature = 7
    case malformedResponse = 8
    case unexpectedStatus = 9
    /// The witness holds a larger tree than the log's: a rollback or fork.
    case rollback = 10
    case proofUnavailable = 11
}

/// A witness's health as the ledger's ``WitnessFeed`` saw it, appended when a witness's outcome
/// changes (its first failure, another kind of failure, its recovery). The witness is named by
/// its key ID (C2SP tlog-cosignature), not by its name, so the record holds integers only.
public struct WitnessHealthRecord: Sendable, Hashable {
    /// The witness's key ID: `SHA-256(name || 0x0A || 0x04 || public key)[:4]`, as its
    /// cosignature lines carry it.
    public var witnessKeyID: UInt32
    /// The checkpoint's tree size the submission was for.
    public var checkpointSize: UInt64
    /// The largest size this witness cosigned through the feed (0: none yet).
    public var cosignedSize: UInt64
    /// The size the witness last said it holds (0: unknown or none).
    public var witnessSize: UInt64
    /// Failed submissions in a row, this one included (0 when `outcome` is `cosigned`).
    public var consecutiveFailures: UInt32
    public var outcome: WitnessOutcome
    /// The HTTP status for ``WitnessOutcome/unexpectedStatus``, else 0.
    public var httpStatus: UInt16

    public init(
        witnessKeyID: UInt32, checkpointSize: UInt64, cosignedSize: UInt64, witnessSize: UInt64, consecutiveFailures: UInt32,
        outcome: WitnessOutcome, httpStatus: UInt16 = 0
    ) {
        self.witnessKeyID = witnessKeyID
        self.checkpointSize = checkpointSize
        self.cosignedSize = cosignedSize
        self.witnessSize = witnessSize
        self.consecutiveFailures = consecutiveFailures
        self.outcome = outcome
        self.httpStatus = httpStatus
    }
}

extension WitnessHealthRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.u32(witnessKeyID)
        out.u64(checkpointSize)
        out.u64(cosignedSize)
        out.u64(witnessSize)
        out.u32(consecutiveFailures)
        out.u8(outcome.rawValue)
        out.u16(httpStatus)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        witnessKeyID = try input.u32()
        checkpointSize = try input.u64()
        cosignedSize = try input.u64()
        witnessSize = try input.u64()
        consecutiveFailures = try input.u32()
        outcome = try input.enumeration(WitnessOutcome.self)
        httpStatus = try input.u16()
    }
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

extension CheckpointRecord: RecordBodyCoding {
    func encode(into out: inout RecordEncoder) {
        out.u64(treeSize)
        out.raw(rootHash)
        out.u32(keyEpoch)
        out.raw(signature)
    }

    init(from input: inout RecordReader) throws(MalformedRecord) {
        treeSize = try input.u64()
        rootHash = try input.raw(32)
        keyEpoch = try input.u32()
        signature = try input.raw(64)
    }
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
    case softwareIdentity(SoftwareIdentityRecord)
    case witnessHealth(WitnessHealthRecord)

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
        case .softwareIdentity: .softwareIdentity
        case .witnessHealth: .witnessHealth
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
    case softwareIdentity = 9
    case witnessHealth = 10

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
        case .softwareIdentity: "software_identity"
        case .witnessHealth: "witness_health"
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
    public static func witnessHealth(_ record: WitnessHealthRecord) -> LedgerRecord { LedgerRecord(.witnessHealth(record)) }

    /// The request this record is about, if any.
    public var requestID: RequestID? {
        switch body {
        case .requestOpened(let r): r.requestID
        case .usage(let r): r.requestID
        case .upstreamEgress(let r): r.requestID
        case .policyDecision(let r): r.requestID
        case .discardReceipt(let r): r.requestID
        case .serviceHealth, .keyRotation, .checkpoint, .softwareIdentity, .witnessHealth: nil
        }
    }
}
