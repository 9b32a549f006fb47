import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

@Suite("Records: canonical encoding, registry, coarsening, export")
struct RecordTests {
    /// Two records of every kind (one with optional fields set, one without where the kind has any).
    private static func recordsOfEveryKind() -> [LedgerRecord] {
        var records = sampleRecords(request(1))
        records.append(LedgerRecord(.policyDecision(PolicyDecisionRecord(
            requestID: request(2), workspace: identifier("ws-beta"), agent: nil, outcome: .acceptedWithRetention, reasonCode: 65535))))
        var receipt = sampleReceipt(request(3))
        receipt.firstContentAt = nil
        receipt.externalHolders = []
        receipt.memoryCorruptionDetected = true
        records.append(.discardReceipt(receipt))
        records.append(LedgerRecord(.keyRotation(KeyRotationRecord(epoch: 1, newPublicKey: Array(repeating: 7, count: 32), treeSize: 9, signature: Array(repeating: 9, count: 64)))))
        records.append(LedgerRecord(.checkpoint(CheckpointRecord(treeSize: 9, rootHash: Array(repeating: 1, count: 32), keyEpoch: 0, signature: Array(repeating: 2, count: 64)))))
        records.append(LedgerRecord(.softwareIdentity(sampleIdentity)))
        records.append(.witnessHealth(sampleWitnessHealth))
        records.append(.witnessHealth(WitnessHealthRecord(
            witnessKeyID: .max, checkpointSize: .max, cosignedSize: 0, witnessSize: 0,
            consecutiveFailures: .max, outcome: .unexpectedStatus, httpStatus: 599)))
        return records
    }

    @Test("every record kind round-trips through canonical bytes", arguments: LedgerRecordKind.allCases)
    func everyRecordKindRoundTripsThroughCanonicalBytes(kind: LedgerRecordKind) throws {
        let records = Self.recordsOfEveryKind().filter { $0.body.kind == kind }
        #expect(!records.isEmpty)
        for var record in records {
            record.recordedAt = Timestamp(nanosecondsSinceEpoch: 123_456_789)
            let bytes = record.canonicalBytes
            let decoded = try LedgerRecord(canonicalBytes: bytes)
            #expect(decoded == record)
            #expect(decoded.canonicalBytes == bytes)
        }
    }

    @Test("discard receipt encoding is fixed byte for byte") func discardReceiptEncodingIsFixedByteForByte() throws {
        // Pins the documented layout (Docs/LedgerFormat.md §3): changing the encoding breaks this.
        var record = LedgerRecord.discardReceipt(sampleReceipt(RequestID(high: 1, low: 2)))
        record.recordedAt = Timestamp(nanosecondsSinceEpoch: 0x0102_0304_0506_0708)
        let expected = "01" + "05" + "0102030405060708"
            + "0000000000000001" + "0000000000000002"   // request id
            + "01"                                      // reason completed
            + "17979cfe362a0000"                        // openedAt
            + "01" + "17979cfe3c1fe100"                 // firstContentAt present
            + "17979cfe71c4ca00"                        // discardedAt
            + "0000000000001000" + "0000000000003039"   // peak, total bytes
            + "0000000000000003" + "0000000000000002"   // chunks, slots
            + "0000000000003039"                        // bytes verified zero
            + "01" + "00"                               // key destroyed, no memory corruption
            + "01" + "01"                               // secretmem, xchacha20poly1305
            + "02" + "0101" + "0203"                    // two holders: kvCache wiped, gpuBuffer timedOut
        #expect(Hex.encode(record.canonicalBytes) == expected)
    }

    @Test("non-canonical encodings are refused") func nonCanonicalEncodingsAreRefused() throws {
        let opened = LedgerRecord.requestOpened(RequestOpenedRecord(
            requestID: request(1), workspace: identifier("ws-alpha"), product: .speechToText, model: identifier("scribe-v1"),
            retentionMode: .zeroDataRetention, dataClasses: [.audioInput, .transcriptOutput]))
        let bytes = opened.canonicalBytes
        // Trailing byte.
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: bytes + [0]) }
        // Truncated.
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: Array(bytes.dropLast())) }
        // Data classes out of order (swap the last two bytes: 6, 8 -> 8, 6).
        var unsorted = bytes
        unsorted.swapAt(unsorted.count - 1, unsorted.count - 2)
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: unsorted) }
        // Unknown kind and unknown version.
        var badKind = bytes
        badKind[1] = 99
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: badKind) }
        var badVersion = bytes
        badVersion[0] = 2
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: badVersion) }
        // A boolean that is neither 0 nor 1.
        let egress = LedgerRecord.upstreamEgress(UpstreamEgressRecord(requestID: request(1), provider: identifier("upstream-a"), mode: .sync, coveredByZeroDataRetention: false))
        var badBool = egress.canonicalBytes
        badBool[badBool.count - 1] = 2
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: badBool) }
        // An identifier byte outside the allowed alphabet (uppercase 'A').
        var badIdentifier = egress.canonicalBytes
        badIdentifier[10 + 16 + 1] = UInt8(ascii: "A")
        #expect(throws: LedgerError.self) { try LedgerRecord(canonicalBytes: badIdentifier) }
    }

    @Test("registry refuses undeclared identifiers and reserved kinds") func registryRefusesUndeclaredIdentifiersAndReservedKinds() throws {
        let registry = testRegistry
        let undeclaredWorkspace = LedgerRecord.requestOpened(RequestOpenedRecord(
            requestID: request(1), workspace: identifier("hello-my-secret-prompt"), product: .languageModel,
            model: identifier("eleven-v3"), retentionMode: .zeroDataRetention, dataClasses: [.promptMessages]))
        #expect(throws: LedgerError.undeclaredIdentifier(.workspace)) { try registry.validate(undeclaredWorkspace) }
        let undeclaredModel = LedgerRecord.requestOpened(RequestOpenedRecord(
            requestID: request(1), workspace: identifier("ws-alpha"), product: .languageModel,
            model: identifier("gpt-unknown"), retentionMode: .zeroDataRetention, dataClasses: []))
        #expect(throws: LedgerError.undeclaredIdentifier(.model)) { try registry.validate(undeclaredModel) }
        let undeclaredProvider = LedgerRecord.upstreamEgress(UpstreamEgressRecord(requestID: request(1), provider: identifier("elsewhere"), mode: .sync, coveredByZeroDataRetention: true))
        #expect(throws: LedgerError.undeclaredIdentifier(.provider)) { try registry.validate(undeclaredProvider) }
        let undeclaredAgent = LedgerRecord.policyDecision(PolicyDecisionRecord(requestID: request(1), workspace: identifier("ws-alpha"), agent: identifier("agent-9"), outcome: .rejected, reasonCode: 1))
        #expect(throws: LedgerError.undeclaredIdentifier(.agent)) { try registry.validate(undeclaredAgent) }
        let checkpoint = LedgerRecord(.checkpoint(CheckpointRecord(treeSize: 0, rootHash: Array(repeating: 0, count: 32), keyEpoch: 0, signature: Array(repeating: 0, count: 64))))
        #expect(throws: LedgerError.reservedRecordKind) { try registry.validate(checkpoint) }
        for record in sampleRecords(request(1)) { try registry.validate(record) }
        // The error text never echoes the refused value.
        #expect(!LedgerError.undeclaredIdentifier(.workspace).description.contains("secret"))
    }

    @Test("ledger refuses registry violations and writes nothing") func ledgerRefusesRegistryViolationsAndWritesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let ledger = try Ledger(path: path, registry: testRegistry, signer: try SigningKey.generate(name: "ledger.example"), configuration: quietConfiguration())
        let smuggled = LedgerRecord.upstreamEgress(UpstreamEgressRecord(requestID: request(1), provider: identifier("the-user-said-hello"), mode: .sync, coveredByZeroDataRetention: true))
        #expect(throws: LedgerError.undeclaredIdentifier(.provider)) { try ledger.append(smuggled) }
        let forged = LedgerRecord(.checkpoint(CheckpointRecord(treeSize: 0, rootHash: Array(repeating: 0, count: 32), keyEpoch: 0, signature: Array(repeating: 0, count: 64))))
        #expect(throws: LedgerError.reservedRecordKind) { try ledger.append(forged) }
        var tooMany = sampleReceipt(request(2))
        tooMany.externalHolders = Array(repeating: ExternalHolderReport(kind: .other, outcome: .wiped), count: DiscardReceipt.maximumExternalHolders + 1)
        #expect(throws: LedgerError.self) { try ledger.append(.discardReceipt(tooMany)) }
        let duplicateUnits = UsageRecord(requestID: request(3), counts: [UsageCount(unit: .bytes, count: 1), UsageCount(unit: .bytes, count: 2)])
        #expect(throws: LedgerError.self) { try ledger.append(.usage(duplicateUnits)) }
        try ledger.close()
        #expect(ledger.size == 0)
        #expect(try LedgerVerifier.entries(path: path).isEmpty)
    }

    @Test("a timestamp resolution floors every time the file holds, record stamps and record fields alike")
    func timestampResolutionFloorsEveryTime() throws {
        let second: UInt64 = 1_000_000_000
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        // A clock between whole seconds, and record times that are not whole seconds either.
        let offset = Timestamp(nanosecondsSinceEpoch: 1_700_000_000_123_456_789)
        let ledger = try Ledger(
            path: path, registry: testRegistry, signer: try SigningKey.generate(name: "ledger.example"),
            configuration: LedgerConfiguration(
                flushIntervalNanoseconds: nil, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil,
                timestampResolutionNanoseconds: second, clock: { offset }))
        var receipt = sampleReceipt(request(1))
        receipt.openedAt = Timestamp(nanosecondsSinceEpoch: 1_700_000_000_999_999_999)
        receipt.firstContentAt = Timestamp(nanosecondsSinceEpoch: 1_700_000_001_000_000_001)
        receipt.discardedAt = Timestamp(nanosecondsSinceEpoch: 1_700_000_002_500_000_000)
        try ledger.append(.discardReceipt(receipt))
        try ledger.append(.serviceHealth(ServiceHealthRecord(
            windowStart: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_400_000_000), windowEnd: Timestamp(nanosecondsSinceEpoch: 1_700_000_060_600_000_000),
            requestsOpened: 1, requestsDiscarded: 1, discardFailures: 0, activeRequests: 0, bytesHeld: 1, budgetUsedPermille: 1)))
        _ = try ledger.checkpoint()
        try ledger.close()
        let entries = try LedgerVerifier.entries(path: path)
        #expect(entries.count >= 3)  // receipt, health, checkpoint (and a seal if the close wrote one)
        #expect(entries.allSatisfy { $0.record.recordedAt.nanosecondsSinceEpoch == 1_700_000_000 * second })
        guard case .discardReceipt(let stored) = entries[0].record.body, case .serviceHealth(let health) = entries[1].record.body else {
            Issue.record("unexpected kinds")
            return
        }
        #expect(stored.openedAt.nanosecondsSinceEpoch == 1_700_000_000 * second)
        #expect(stored.firstContentAt?.nanosecondsSinceEpoch == 1_700_000_001 * second)
        #expect(stored.discardedAt.nanosecondsSinceEpoch == 1_700_000_002 * second)
        #expect(health.windowStart.nanosecondsSinceEpoch == 1_700_000_000 * second)
        #expect(health.windowEnd.nanosecondsSinceEpoch == 1_700_000_060 * second)
    }

    @Test("bucketing rounds sizes up to powers of two") func bucketingRoundsSizesUpToPowersOfTwo() throws {
        #expect(Coarsening.bucket(0) == 0)
        #expect(Coarsening.bucket(1) == 1)
        #expect(Coarsening.bucket(3) == 4)
        #expect(Coarsening.bucket(4096) == 4096)
        #expect(Coarsening.bucket(4097) == 8192)
        #expect(Coarsening.bucket(UInt64.max) == UInt64.max)
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let ledger = try Ledger(path: path, registry: testRegistry, signer: try SigningKey.generate(name: "ledger.example"), configuration: quietConfiguration(bucketSizes: true))
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        try ledger.append(.usage(UsageRecord(requestID: request(1), counts: [UsageCount(unit: .characters, count: 1000)])))
        try ledger.close()
        let entries = try LedgerVerifier.entries(path: path)
        guard case .discardReceipt(let receipt) = entries[0].record.body, case .usage(let usage) = entries[1].record.body else {
            Issue.record("unexpected kinds")
            return
        }
        #expect(receipt.totalBytesHeld == 16384 && receipt.peakBytesHeld == 4096 && receipt.bytesVerifiedZero == 16384)
        #expect(usage.counts[0].count == 1024)
        // A verifier holds the file to the header's promise: an exact size is refused.
        var exact = entries[1].record
        exact.body = .usage(UsageRecord(requestID: request(1), counts: [UsageCount(unit: .characters, count: 1000)]))
        var frame: [UInt8] = []
        appendFrame(exact.canonicalBytes, to: &frame)
        var bytes = readFile(path)
        bytes.replaceSubrange(Int(entries[1].offset)..., with: frame)
        let forgedPath = directory.file("exact.zdr")
        writeFile(forgedPath, bytes)
        #expect(throws: LedgerError.invalidRecord(index: 1, offset: entries[1].offset, fault: .unbucketedSize)) {
            _ = try LedgerVerifier.entries(path: forgedPath)
            _ = try replayLedger(readFile(forgedPath), pinnedKey: nil)
        }
        // The header records the switch; reopening with a different setting is refused.
        #expect(throws: LedgerError.self) {
            _ = try Ledger(path: path, registry: testRegistry, signer: try SigningKey.generate(name: "ledger.example"), configuration: quietConfiguration())
        }
    }

    @Test("JSON export has no field that can hold free text") func jsonExportHasNoFieldThatCanHoldFreeText() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        var configuration = quietConfiguration(keyEvolution: KeyEvolution())
        configuration.softwareIdentity = sampleIdentity
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        try ledger.append(.witnessHealth(sampleWitnessHealth))
        _ = try ledger.checkpoint()
        try ledger.close()
        let export = try LedgerVerifier.exportJSONLines(path: path)
        let lines = export.split(separator: "\n")
        #expect(lines.count == 11)  // the identity, seven records, a checkpoint, a key rotation, the identity again
        let declared = Set((testRegistry.workspaces.union(testRegistry.agents).union(testRegistry.models).union(testRegistry.providers)).map(\.value))
        let kindNames = Set(LedgerRecordKind.allCases.map(\.name))
        var enumNames = kindNames
        func addCases<E: CaseIterable & LedgerEnumName>(_: E.Type) { for value in E.allCases { enumNames.insert(name(value)) } }
        addCases(Product.self); addCases(DataClass.self); addCases(RetentionMode.self); addCases(TransferMode.self)
        addCases(UsageUnit.self); addCases(PolicyOutcome.self); addCases(DiscardReason.self); addCases(MemoryBackend.self)
        addCases(AEADAlgorithm.self); addCases(ExternalHolderKind.self); addCases(ExternalHolderOutcome.self)
        addCases(WitnessOutcome.self)
        // Every string must be one of: a declared identifier, a snake_case enum name, 32 hex digits
        // (request id) or base64 of a fixed-length hash/key/signature. Nothing else is allowed.
        func isAllowed(_ text: String) -> Bool {
            if declared.contains(text) || enumNames.contains(text) { return true }
            if text.count == 32 && text.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) { return true }
            if let bytes = Data(base64Encoded: text), [32, 64].contains(bytes.count) { return true }
            return false
        }
        var kindsSeen = Set<String>()
        func check(_ value: Any, key: String) {
            switch value {
            case let text as String:
                #expect(isAllowed(text), "field \(key)")
                if key == "kind" { kindsSeen.insert(text) }
                // Enum-valued fields must be from the closed sets of case names.
                if ["product", "retention_mode", "mode", "outcome", "reason", "backend", "aead", "unit"].contains(key) {
                    #expect(text.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" })
                }
            case let object as [String: Any]:
                for (innerKey, inner) in object { check(inner, key: innerKey) }
            case let array as [Any]:
                for inner in array { check(inner, key: key) }
            case is NSNumber, is NSNull:
                break
            default:
                Issue.record("unexpected JSON value type in \(key)")
            }
        }
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            check(object, key: "")
        }
        #expect(kindsSeen == kindNames)
        #expect(export.contains("\"backend\":\"secretmem\"") && export.contains("\"holder\":\"kv_cache\"") && export.contains("\"unit\":\"audio_milliseconds_out\""))
    }

    @Test("the frame checksum is standard CRC-32C") func frameChecksumIsStandardCRC32C() {
        // The standard check value of CRC-32C (iSCSI), as stated in Docs/LedgerFormat.md §2.2.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("export enum names are snake_case of the case names and distinct") func exportEnumNamesAreSnakeCaseOfTheCaseNamesAndDistinct() {
        // Guards the hand-written tables against typos: each must equal the case name in snake_case.
        func snake(_ value: some Any) -> String {
            String(describing: value).reduce(into: "") { out, character in
                if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
            }
        }
        func check<E: CaseIterable & LedgerEnumName>(_: E.Type) {
            let names = E.allCases.map(name)
            #expect(names == E.allCases.map(snake))
            #expect(Set(names).count == names.count)
        }
        check(Product.self); check(DataClass.self); check(RetentionMode.self); check(TransferMode.self)
        check(UsageUnit.self); check(PolicyOutcome.self); check(DiscardReason.self); check(MemoryBackend.self)
        check(AEADAlgorithm.self); check(ExternalHolderKind.self); check(ExternalHolderOutcome.self)
    }

    /// The encoder keeps a record inline (on the stack) and spills to an array past 1 KiB: an
    /// encoding across that boundary must be byte-for-byte the big-endian fields in order.
    @Test("RecordEncoder.bytes is the same bytes inline and past the inline storage")
    func encoderSpillsWithoutChangingBytes() {
        for length in [0, 1, 1000, 1011, 1012, 1013, 1023, 1024, 3000] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let bytes = RecordEncoder.bytes { out in
                out.u8(0xA5)
                out.raw(payload)
                out.u16(0x0102)
                out.u32(0x0304_0506)
                out.u64(0x0708_090A_0B0C_0D0E)
            }
            let expected = [0xA5] + payload + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
            #expect(bytes == expected, "length \(length)")
        }
    }

    @Test("a frame encoder that runs out of room overflows instead of writing past it")
    func frameEncoderOverflows() {
        var fits = RecordEncoder(frameCapacity: 16)
        fits.u64(1)
        fits.u64(2)
        #expect(!fits.overflowed && fits.count == 16)
        var over = RecordEncoder(frameCapacity: 16)
        over.raw([UInt8](repeating: 7, count: 15))
        over.u16(3)
        #expect(over.overflowed && over.count == 15)
    }

    @Test("a sealed frame is the frame appendFrame writes")
    func sealedFrameMatchesAppendFrame() {
        let record = sampleRecords(request(5))[4]
        var encoder = RecordEncoder(frameCapacity: encodingScratchLength)
        record.encode(into: &encoder)
        encoder.sealFrame()
        let sealed = [UInt8](copying: encoder.storage.span.extracting(0..<(encoder.count + frameOverhead)))
        var expected: [UInt8] = []
        appendFrame(record.canonicalBytes, to: &expected)
        #expect(sealed == expected)
    }
}
