import RetentionVocabulary
// The canonical binary encoding (Docs/LedgerFormat.md §3). Encoding is a pure function of the
// record; decoding accepts exactly the bytes encoding produces (sorted sets, 0/1 booleans, no
// trailing bytes), so every record has one byte representation and the hash of a record is the
// hash of its meaning.

/// The record encoding version byte (first byte of every record).
let recordEncodingVersion: UInt8 = 1

/// A malformed record; mapped to `RecordFault.malformedEncoding` by callers.
struct MalformedRecord: Error {}

/// Writes big-endian fields into inline storage: a local encoder lives on the stack, so the
/// append path encodes a record into the frame it will copy into the pending buffer without a
/// heap array per record. A frame encoder never writes past its capacity: a record that does
/// not fit sets `overflowed` instead. The encoder behind ``bytes(_:)`` spills into an array
/// once the inline storage is full, so any length encodes.
struct RecordEncoder {
    /// Bytes held inline: a whole frame of the largest record `validateShape()` accepts.
    static let inlineCapacity = 1024

    /// The encoding lives at `storage[start..<(start + count)]` (until it spills).
    private(set) var storage = InlineArray<1024, UInt8>(repeating: 0)
    /// Offset of the first encoded byte (8 in a frame: room for the length words).
    private let start: Int
    /// One past the last inline byte the encoding may use.
    private let limit: Int
    /// Whether bytes past `limit` go to `spill` rather than setting `overflowed`.
    private let growable: Bool
    /// The whole encoding, once it outgrew the inline storage.
    private var spill: [UInt8] = []
    private(set) var count = 0
    private(set) var overflowed = false

    /// An encoder for one frame: the record goes at offset 8, and at most `capacity` bytes of
    /// it (`capacity + frameOverhead` must fit inline); ``sealFrame()`` adds the envelope.
    init(frameCapacity capacity: Int) {
        start = 8
        limit = min(8 + capacity, Self.inlineCapacity - 4)
        growable = false
    }

    /// An encoder for ``bytes(_:)``: any length, spilling to the heap past the inline storage.
    private init() {
        start = 0
        limit = Self.inlineCapacity
        growable = true
    }

    /// Writes `value` big-endian: one bounds check and one store while it fits inline.
    @inline(__always)
    private mutating func put<Value: FixedWidthInteger & BitwiseCopyable>(_ value: Value) {
        let size = MemoryLayout<Value>.size
        let position = start + count
        guard position + size <= limit else { return putOutsideStorage(value) }
        var span = storage.mutableSpan
        var bytes = span.mutableBytes
        bytes.storeBytes(of: value.bigEndian, toByteOffset: position, as: Value.self)
        count += size
    }

    /// The slow path: a growable encoder moves to (or continues in) `spill`; a frame encoder
    /// overflows.
    @inline(never)
    private mutating func putOutsideStorage<Value: FixedWidthInteger>(_ value: Value) {
        guard growable else {
            overflowed = true
            return
        }
        if spill.isEmpty {
            spill.reserveCapacity(2 * Self.inlineCapacity)
            for index in start..<(start + count) { spill.append(storage[index]) }
        }
        for shift in stride(from: Value.bitWidth - 8, through: 0, by: -8) {
            spill.append(UInt8(truncatingIfNeeded: value >> shift))
        }
        count += MemoryLayout<Value>.size
    }

    @inline(__always) mutating func u8(_ value: UInt8) { put(value) }
    @inline(__always) mutating func u16(_ value: UInt16) { put(value) }
    @inline(__always) mutating func u32(_ value: UInt32) { put(value) }
    @inline(__always) mutating func u64(_ value: UInt64) { put(value) }
    @inline(__always) mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    @inline(__always) mutating func timestamp(_ value: Timestamp) { u64(value.nanosecondsSinceEpoch) }
    @inline(__always) mutating func request(_ id: RequestID) {
        u64(id.high)
        u64(id.low)
    }
    mutating func identifier(_ id: Identifier) {
        let utf8 = id.value.utf8
        u8(UInt8(truncatingIfNeeded: utf8.count))
        raw(utf8)
    }
    mutating func raw(_ value: some Collection<UInt8>) {
        let position = start + count
        guard position + value.count <= limit else {
            for byte in value { putOutsideStorage(byte) }
            return
        }
        var span = storage.mutableSpan
        var index = position
        for byte in value {
            span[index] = byte
            index += 1
        }
        count += value.count
    }

    /// Fills in the envelope around a frame encoder's record: the length word, its complement
    /// and the CRC-32C over the length word and the record. The frame is then
    /// `storage[0..<(count + frameOverhead)]`.
    mutating func sealFrame() {
        let length = UInt32(count)
        let crc = frameChecksum(lengthWord: length, record: storage.span.extracting(8..<(8 + count)))
        store(length, at: 0)
        store(~length, at: 4)
        store(crc, at: 8 + count)
    }

    @inline(__always)
    private mutating func store(_ word: UInt32, at position: Int) {
        var span = storage.mutableSpan
        var bytes = span.mutableBytes
        bytes.storeBytes(of: word.bigEndian, toByteOffset: position, as: UInt32.self)
    }

    /// What `body` encodes, as an array (one allocation: the result).
    static func bytes(_ body: (inout RecordEncoder) -> Void) -> [UInt8] {
        var out = RecordEncoder()
        body(&out)
        if !out.spill.isEmpty { return out.spill }
        return [UInt8](copying: out.storage.span.extracting(0..<out.count))
    }
}

/// A record body's canonical encoding: each record kind writes and reads its own fields, side
/// by side in Records.swift, so adding a field touches one place.
protocol RecordBodyCoding {
    /// Writes the fields after the record header (version, kind, timestamp).
    func encode(into out: inout RecordEncoder)
    /// Reads exactly what ``encode(into:)`` writes; anything else is malformed.
    init(from input: inout RecordReader) throws(MalformedRecord)
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
        case .softwareIdentity(let identity):
            guard identity.executableSHA256.count == 32, identity.policySHA256.count == 32,
                  identity.configurationSHA256.count == 32
            else { throw .invalidField("software_identity") }
        case .requestOpened, .upstreamEgress, .policyDecision, .serviceHealth, .witnessHealth:
            break
        }
    }

    /// The canonical bytes (call `validateShape()` first; limits are not re-checked here).
    public var canonicalBytes: [UInt8] {
        // A validated record fits the inline storage; an unvalidated one may not, so it spills.
        RecordEncoder.bytes { encode(into: &$0) }
    }

    /// Writes the canonical bytes into `out` (check `out.overflowed` afterwards).
    func encode(into out: inout RecordEncoder) {
        out.u8(recordEncodingVersion)
        out.u8(body.kind.rawValue)
        out.timestamp(recordedAt)
        switch body {
        case .requestOpened(let r): r.encode(into: &out)
        case .usage(let r): r.encode(into: &out)
        case .upstreamEgress(let r): r.encode(into: &out)
        case .policyDecision(let r): r.encode(into: &out)
        case .discardReceipt(let r): r.encode(into: &out)
        case .serviceHealth(let r): r.encode(into: &out)
        case .keyRotation(let r): r.encode(into: &out)
        case .checkpoint(let r): r.encode(into: &out)
        case .softwareIdentity(let r): r.encode(into: &out)
        case .witnessHealth(let r): r.encode(into: &out)
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
        case .requestOpened: body = .requestOpened(try RequestOpenedRecord(from: &input))
        case .usage: body = .usage(try UsageRecord(from: &input))
        case .upstreamEgress: body = .upstreamEgress(try UpstreamEgressRecord(from: &input))
        case .policyDecision: body = .policyDecision(try PolicyDecisionRecord(from: &input))
        case .discardReceipt: body = .discardReceipt(try DiscardReceipt(from: &input))
        case .serviceHealth: body = .serviceHealth(try ServiceHealthRecord(from: &input))
        case .keyRotation: body = .keyRotation(try KeyRotationRecord(from: &input))
        case .checkpoint: body = .checkpoint(try CheckpointRecord(from: &input))
        case .softwareIdentity: body = .softwareIdentity(try SoftwareIdentityRecord(from: &input))
        case .witnessHealth: body = .witnessHealth(try WitnessHealthRecord(from: &input))
        }
        try input.finish()
        return LedgerRecord(recordedAt: recordedAt, body)
    }
}
