import RetentionVocabulary
// The canonical binary encoding (Docs/LedgerFormat.md §3). Encoding is a pure function of the
// record; decoding accepts exactly the bytes encoding produces (sorted sets, 0/1 booleans, no
// trailing bytes), so every record has one byte representation and the hash of a record is the
// hash of its meaning.

/// The record encoding version byte (first byte of every record).
let recordEncodingVersion: UInt8 = 1

/// A malformed record; mapped to `RecordFault.malformedEncoding` by callers.
struct MalformedRecord: Error {}

struct RecordWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 96) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }
    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
    mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    mutating func timestamp(_ value: Timestamp) { u64(value.nanosecondsSinceEpoch) }
    mutating func request(_ id: RequestID) {
        u64(id.high)
        u64(id.low)
    }
    mutating func identifier(_ id: Identifier) {
        let utf8 = Array(id.value.utf8)
        u8(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }
}

/// Writes big-endian fields straight into caller-provided memory (the append path encodes into
/// the frame it will copy into the pending buffer: no heap array per record). It never writes
/// past `capacity`: a record that does not fit sets `overflowed` instead.
struct RecordEncoder {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0
    private(set) var overflowed = false

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    /// The next `size` bytes to fill, or nil (and `overflowed`) if they do not fit.
    @inline(__always)
    private mutating func claim(_ size: Int) -> UnsafeMutableRawPointer? {
        guard capacity - count >= size else {
            overflowed = true
            return nil
        }
        defer { count += size }
        return base + count
    }

    @inline(__always) mutating func u8(_ value: UInt8) { claim(1)?.storeBytes(of: value, as: UInt8.self) }
    @inline(__always) mutating func u16(_ value: UInt16) { claim(2)?.storeBytes(of: value.bigEndian, as: UInt16.self) }
    @inline(__always) mutating func u32(_ value: UInt32) { claim(4)?.storeBytes(of: value.bigEndian, as: UInt32.self) }
    @inline(__always) mutating func u64(_ value: UInt64) { claim(8)?.storeBytes(of: value.bigEndian, as: UInt64.self) }
    @inline(__always) mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    @inline(__always) mutating func timestamp(_ value: Timestamp) { u64(value.nanosecondsSinceEpoch) }
    @inline(__always) mutating func request(_ id: RequestID) {
        u64(id.high)
        u64(id.low)
    }
    mutating func identifier(_ id: Identifier) {
        let utf8 = id.value.utf8
        u8(UInt8(truncatingIfNeeded: utf8.count))
        if utf8.withContiguousStorageIfAvailable({ raw(UnsafeRawBufferPointer($0)) }) == nil { raw(Array(utf8)) }
    }
    mutating func raw(_ value: UnsafeRawBufferPointer) {
        guard value.count > 0, let target = claim(value.count) else { return }
        target.copyMemory(from: value.baseAddress!, byteCount: value.count)
    }
    mutating func raw(_ value: [UInt8]) { value.withUnsafeBytes { raw($0) } }
}

struct RecordReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8() throws(MalformedRecord) -> UInt8 {
        guard position < bytes.count else { throw MalformedRecord() }
        defer { position += 1 }
        return bytes[position]
    }
    mutating func u16() throws(MalformedRecord) -> UInt16 {
        UInt16(try u8()) << 8 | UInt16(try u8())
    }
    mutating func u32() throws(MalformedRecord) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(try u8()) }
        return value
    }
    mutating func u64() throws(MalformedRecord) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(try u8()) }
        return value
    }
    mutating func bool() throws(MalformedRecord) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw MalformedRecord()
        }
    }
    mutating func timestamp() throws(MalformedRecord) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: try u64())
    }
    mutating func request() throws(MalformedRecord) -> RequestID {
        let high = try u64()
        return RequestID(high: high, low: try u64())
    }
    mutating func identifier() throws(MalformedRecord) -> Identifier {
        let length = Int(try u8())
        let raw = try self.raw(length)
        guard let id = Identifier(String(decoding: raw, as: UTF8.self)), id.value.utf8.count == length else {
            throw MalformedRecord()
        }
        return id
    }
    mutating func raw(_ count: Int) throws(MalformedRecord) -> [UInt8] {
        guard count >= 0, bytes.count - position >= count else { throw MalformedRecord() }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
    mutating func enumeration<E: RawRepresentable>(_: E.Type) throws(MalformedRecord) -> E where E.RawValue == UInt8 {
        guard let value = E(rawValue: try u8()) else { throw MalformedRecord() }
        return value
    }
    func finish() throws(MalformedRecord) {
        guard position == bytes.count else { throw MalformedRecord() }
    }
}

extension LedgerRecord {
    /// Checks the limits a record must respect before it can be encoded.
    func validateShape() throws(LedgerError) {
        switch body {
        case .usage(let usage):
            guard usage.counts.count <= UsageRecord.maximumCounts else { throw .invalidField("usage.counts") }
            guard Set(usage.counts.map(\.unit)).count == usage.counts.count else { throw .invalidField("usage.counts") }
        case .discardReceipt(let receipt):
            guard receipt.externalHolders.count <= DiscardReceipt.maximumExternalHolders else {
                throw .invalidField("discard_receipt.external_holders")
            }
        case .keyRotation(let rotation):
            guard rotation.newPublicKey.count == 32, rotation.signature.count == 64 else { throw .invalidField("key_rotation") }
        case .checkpoint(let checkpoint):
            guard checkpoint.rootHash.count == 32, checkpoint.signature.count == 64 else { throw .invalidField("checkpoint") }
        case .requestOpened, .upstreamEgress, .policyDecision, .serviceHealth:
            break
        }
    }

    /// The canonical bytes (call `validateShape()` first; limits are not re-checked here).
    public var canonicalBytes: [UInt8] {
        // A validated record fits the stack scratch; an unvalidated one may not, so grow.
        var capacity = encodingScratchLength
        while true {
            let bytes = withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 8) { buffer -> [UInt8]? in
                var out = RecordEncoder(buffer)
                encode(into: &out)
                return out.overflowed ? nil : Array(UnsafeRawBufferPointer(rebasing: buffer[..<out.count]))
            }
            if let bytes { return bytes }
            capacity *= 4
        }
    }

    /// Writes the canonical bytes into `out` (check `out.overflowed` afterwards).
    func encode(into out: inout RecordEncoder) {
        out.u8(recordEncodingVersion)
        out.u8(body.kind.rawValue)
        out.timestamp(recordedAt)
        switch body {
        case .requestOpened(let r):
            out.request(r.requestID)
            out.identifier(r.workspace)
            out.u8(r.product.rawValue)
            out.identifier(r.model)
            out.u8(r.retentionMode.rawValue)
            let classes = r.dataClasses.map(\.rawValue).sorted()
            out.u8(UInt8(classes.count))
            for value in classes { out.u8(value) }
        case .usage(let r):
            out.request(r.requestID)
            let counts = r.counts.sorted { $0.unit.rawValue < $1.unit.rawValue }
            out.u8(UInt8(truncatingIfNeeded: counts.count))
            for entry in counts {
                out.u8(entry.unit.rawValue)
                out.u64(entry.count)
            }
        case .upstreamEgress(let r):
            out.request(r.requestID)
            out.identifier(r.provider)
            out.u8(r.mode.rawValue)
            out.bool(r.coveredByZeroDataRetention)
        case .policyDecision(let r):
            out.request(r.requestID)
            out.identifier(r.workspace)
            if let agent = r.agent {
                out.u8(1)
                out.identifier(agent)
            } else {
                out.u8(0)
            }
            out.u8(r.outcome.rawValue)
            out.u16(r.reasonCode)
        case .discardReceipt(let r):
            out.request(r.requestID)
            out.u8(r.reason.rawValue)
            out.timestamp(r.openedAt)
            if let first = r.firstContentAt {
                out.u8(1)
                out.timestamp(first)
            } else {
                out.u8(0)
            }
            out.timestamp(r.discardedAt)
            out.u64(r.peakBytesHeld)
            out.u64(r.totalBytesHeld)
            out.u64(r.chunksWiped)
            out.u64(r.slotsWiped)
            out.u64(r.bytesVerifiedZero)
            out.bool(r.keyDestroyed)
            out.u8(r.backend.rawValue)
            out.u8(r.aead.rawValue)
            out.u8(UInt8(truncatingIfNeeded: r.externalHolders.count))
            for holder in r.externalHolders {
                out.u8(holder.kind.rawValue)
                out.u8(holder.outcome.rawValue)
            }
        case .serviceHealth(let r):
            out.timestamp(r.windowStart)
            out.timestamp(r.windowEnd)
            out.u64(r.requestsOpened)
            out.u64(r.requestsDiscarded)
            out.u64(r.discardFailures)
            out.u64(r.activeRequests)
            out.u64(r.bytesHeld)
            out.u16(r.budgetUsedPermille)
        case .keyRotation(let r):
            out.u32(r.epoch)
            out.raw(r.newPublicKey)
            out.u64(r.treeSize)
            out.raw(r.signature)
        case .checkpoint(let r):
            out.u64(r.treeSize)
            out.raw(r.rootHash)
            out.u32(r.keyEpoch)
            out.raw(r.signature)
        }
    }

    /// Decodes canonical bytes; anything else (unknown kind, bad enum, unsorted set, trailing
    /// bytes) is refused, so decode-then-encode always reproduces the input.
    public init(canonicalBytes bytes: [UInt8]) throws(LedgerError) {
        do {
            self = try Self.decode(bytes)
        } catch {
            throw .invalidField("record encoding")
        }
    }

    static func decode(_ bytes: [UInt8]) throws(MalformedRecord) -> LedgerRecord {
        var input = RecordReader(bytes)
        guard try input.u8() == recordEncodingVersion else { throw MalformedRecord() }
        let kind = try input.enumeration(LedgerRecordKind.self)
        let recordedAt = try input.timestamp()
        let body: LedgerRecordBody
        switch kind {
        case .requestOpened:
            let requestID = try input.request()
            let workspace = try input.identifier()
            let product = try input.enumeration(Product.self)
            let model = try input.identifier()
            let mode = try input.enumeration(RetentionMode.self)
            let count = Int(try input.u8())
            var classes: [DataClass] = []
            for _ in 0..<count { classes.append(try input.enumeration(DataClass.self)) }
            for index in classes.indices.dropFirst() where classes[index - 1].rawValue >= classes[index].rawValue {
                throw MalformedRecord()
            }
            body = .requestOpened(RequestOpenedRecord(
                requestID: requestID, workspace: workspace, product: product, model: model,
                retentionMode: mode, dataClasses: Set(classes)))
        case .usage:
            let requestID = try input.request()
            let count = Int(try input.u8())
            guard count <= UsageRecord.maximumCounts else { throw MalformedRecord() }
            var counts: [UsageCount] = []
            for _ in 0..<count {
                let unit = try input.enumeration(UsageUnit.self)
                counts.append(UsageCount(unit: unit, count: try input.u64()))
            }
            for index in counts.indices.dropFirst() where counts[index - 1].unit.rawValue >= counts[index].unit.rawValue {
                throw MalformedRecord()
            }
            body = .usage(UsageRecord(requestID: requestID, counts: counts))
        case .upstreamEgress:
            let requestID = try input.request()
            let provider = try input.identifier()
            let mode = try input.enumeration(TransferMode.self)
            body = .upstreamEgress(UpstreamEgressRecord(
                requestID: requestID, provider: provider, mode: mode, coveredByZeroDataRetention: try input.bool()))
        case .policyDecision:
            let requestID = try input.request()
            let workspace = try input.identifier()
            let agent: Identifier? = try input.bool() ? try input.identifier() : nil
            let outcome = try input.enumeration(PolicyOutcome.self)
            body = .policyDecision(PolicyDecisionRecord(
                requestID: requestID, workspace: workspace, agent: agent, outcome: outcome, reasonCode: try input.u16()))
        case .discardReceipt:
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
            let backend = try input.enumeration(MemoryBackend.self)
            let aead = try input.enumeration(AEADAlgorithm.self)
            let holderCount = Int(try input.u8())
            guard holderCount <= DiscardReceipt.maximumExternalHolders else { throw MalformedRecord() }
            var holders: [ExternalHolderReport] = []
            for _ in 0..<holderCount {
                let holderKind = try input.enumeration(ExternalHolderKind.self)
                holders.append(ExternalHolderReport(kind: holderKind, outcome: try input.enumeration(ExternalHolderOutcome.self)))
            }
            body = .discardReceipt(DiscardReceipt(
                requestID: requestID, reason: reason, openedAt: openedAt, firstContentAt: firstContentAt,
                discardedAt: discardedAt, peakBytesHeld: peak, totalBytesHeld: total, chunksWiped: chunks,
                slotsWiped: slots, bytesVerifiedZero: verifiedZero, keyDestroyed: keyDestroyed, backend: backend,
                aead: aead, externalHolders: holders))
        case .serviceHealth:
            body = .serviceHealth(ServiceHealthRecord(
                windowStart: try input.timestamp(), windowEnd: try input.timestamp(),
                requestsOpened: try input.u64(), requestsDiscarded: try input.u64(),
                discardFailures: try input.u64(), activeRequests: try input.u64(),
                bytesHeld: try input.u64(), budgetUsedPermille: try input.u16()))
        case .keyRotation:
            body = .keyRotation(KeyRotationRecord(
                epoch: try input.u32(), newPublicKey: try input.raw(32), treeSize: try input.u64(),
                signature: try input.raw(64)))
        case .checkpoint:
            body = .checkpoint(CheckpointRecord(
                treeSize: try input.u64(), rootHash: try input.raw(32), keyEpoch: try input.u32(),
                signature: try input.raw(64)))
        }
        try input.finish()
        return LedgerRecord(recordedAt: recordedAt, body)
    }
}

/// Coarsening applied before encoding when configured: exact sizes and durations can leak what
/// a request contained (a 3-character prompt versus a 3,000-character one).
enum Coarsening {
    /// Rounds up to the next power of two (0 stays 0).
    static func bucket(_ value: UInt64) -> UInt64 {
        guard value > 1 else { return value }
        let leading = (value - 1).leadingZeroBitCount
        guard leading > 0 else { return UInt64.max }
        return UInt64(1) << UInt64(64 - leading)
    }

    /// Whether every bucketed field of `record` holds a bucket value (what a bucketing writer
    /// would have produced).
    static func isBucketed(_ record: LedgerRecord) -> Bool {
        func ok(_ value: UInt64) -> Bool { bucket(value) == value }
        switch record.body {
        case .usage(let usage): return usage.counts.allSatisfy { ok($0.count) }
        case .discardReceipt(let r): return ok(r.peakBytesHeld) && ok(r.totalBytesHeld) && ok(r.bytesVerifiedZero)
        case .serviceHealth(let health): return ok(health.bytesHeld)
        case .requestOpened, .upstreamEgress, .policyDecision, .keyRotation, .checkpoint: return true
        }
    }

    static func floor(_ timestamp: Timestamp, resolution: UInt64) -> Timestamp {
        guard resolution > 1 else { return timestamp }
        return Timestamp(nanosecondsSinceEpoch: timestamp.nanosecondsSinceEpoch / resolution * resolution)
    }

    static func apply(to record: inout LedgerRecord, bucketSizes: Bool, timestampResolution: UInt64) {
        // The default (exact sizes, nanosecond timestamps) changes nothing: skip the copies.
        guard bucketSizes || timestampResolution > 1 else { return }
        record.recordedAt = floor(record.recordedAt, resolution: timestampResolution)
        switch record.body {
        case .usage(var usage):
            if bucketSizes { usage.counts = usage.counts.map { UsageCount(unit: $0.unit, count: bucket($0.count)) } }
            record.body = .usage(usage)
        case .discardReceipt(var receipt):
            receipt.openedAt = floor(receipt.openedAt, resolution: timestampResolution)
            receipt.firstContentAt = receipt.firstContentAt.map { floor($0, resolution: timestampResolution) }
            receipt.discardedAt = floor(receipt.discardedAt, resolution: timestampResolution)
            if bucketSizes {
                receipt.peakBytesHeld = bucket(receipt.peakBytesHeld)
                receipt.totalBytesHeld = bucket(receipt.totalBytesHeld)
                receipt.bytesVerifiedZero = bucket(receipt.bytesVerifiedZero)
            }
            record.body = .discardReceipt(receipt)
        case .serviceHealth(var health):
            health.windowStart = floor(health.windowStart, resolution: timestampResolution)
            health.windowEnd = floor(health.windowEnd, resolution: timestampResolution)
            if bucketSizes { health.bytesHeld = bucket(health.bytesHeld) }
            record.body = .serviceHealth(health)
        case .requestOpened, .upstreamEgress, .policyDecision, .keyRotation, .checkpoint:
            break
        }
    }
}
