import Foundation
@testable import RetentionLedger
import RetentionVocabulary

/// A fresh private directory per test, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/ledger-test-XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

func identifier(_ text: String) -> Identifier { Identifier(text)! }

let testRegistry = IdentifierRegistry(
    workspaces: [identifier("ws-alpha"), identifier("ws-beta")],
    agents: [identifier("agent-1")],
    models: [identifier("eleven-v3"), identifier("scribe-v1")],
    providers: [identifier("upstream-a")])

/// A deterministic clock: 1 µs per call from a fixed epoch.
func steppingClock() -> @Sendable () -> Timestamp {
    let counter = Counter()
    return { Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000 + counter.next() * 1_000) }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// A configuration with no background work, so tests control every write. Unsigned flushes
/// (not the default): the suites built on it count records, checkpoints, epochs and frame
/// offsets exactly, and a seal checkpoint per flush would add records they do not write.
/// SignedFlushTests covers the default.
func quietConfiguration(
    checkpointEvery: UInt64? = nil, keyEvolution: KeyEvolution? = nil, bucketSizes: Bool = false, sinks: [any LedgerSink] = [],
    signsEveryFlush: Bool = false
) -> LedgerConfiguration {
    LedgerConfiguration(
        flushIntervalNanoseconds: nil, checkpointEveryRecords: checkpointEvery, checkpointIntervalNanoseconds: nil,
        bucketSizes: bucketSizes, keyEvolution: keyEvolution, sinks: sinks, signsEveryFlush: signsEveryFlush, clock: steppingClock())
}

func request(_ n: UInt64) -> RequestID { RequestID(high: 0x0123_4567_89ab_cdef, low: n) }

func sampleReceipt(_ id: RequestID) -> DiscardReceipt {
    DiscardReceipt(
        requestID: id, reason: .completed,
        openedAt: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000),
        firstContentAt: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_100_000_000),
        discardedAt: Timestamp(nanosecondsSinceEpoch: 1_700_000_001_000_000_000),
        peakBytesHeld: 4096, totalBytesHeld: 12_345, chunksWiped: 3, slotsWiped: 2, bytesVerifiedZero: 12_345,
        keyDestroyed: true, backend: .secretmem, aead: .xchacha20poly1305,
        externalHolders: [ExternalHolderReport(kind: .kvCache, outcome: .wiped), ExternalHolderReport(kind: .gpuBuffer, outcome: .timedOut)])
}

/// One record of every host-appendable kind.
func sampleRecords(_ id: RequestID) -> [LedgerRecord] {
    [
        .requestOpened(RequestOpenedRecord(
            requestID: id, workspace: identifier("ws-alpha"), product: .textToSpeech, model: identifier("eleven-v3"),
            retentionMode: .zeroDataRetention, dataClasses: [.textInput, .audioOutput])),
        .policyDecision(PolicyDecisionRecord(
            requestID: id, workspace: identifier("ws-alpha"), agent: identifier("agent-1"), outcome: .accepted, reasonCode: 7)),
        .upstreamEgress(UpstreamEgressRecord(requestID: id, provider: identifier("upstream-a"), mode: .streaming, coveredByZeroDataRetention: true)),
        .usage(UsageRecord(requestID: id, counts: [UsageCount(unit: .characters, count: 1234), UsageCount(unit: .audioMillisecondsOut, count: 5678)])),
        .discardReceipt(sampleReceipt(id)),
        .serviceHealth(ServiceHealthRecord(
            windowStart: Timestamp(nanosecondsSinceEpoch: 1), windowEnd: Timestamp(nanosecondsSinceEpoch: 2),
            requestsOpened: 10, requestsDiscarded: 9, discardFailures: 0, activeRequests: 1, bytesHeld: 777, budgetUsedPermille: 125)),
    ]
}

func hexBytes(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        out.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return out
}

func readFile(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

func writeFile(_ path: String, _ bytes: [UInt8]) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// A software identity with recognisable hashes.
let sampleIdentity = SoftwareIdentityRecord(
    executableSHA256: Array(repeating: 0xE1, count: 32), policySHA256: Array(repeating: 0xB0, count: 32),
    configurationSHA256: Array(repeating: 0xC0, count: 32), version: SoftwareVersion(major: 0, minor: 15, patch: 1))

/// A witness-health record with recognisable values.
let sampleWitnessHealth = WitnessHealthRecord(
    witnessKeyID: 0xA7A7_A7A7, checkpointSize: 41, cosignedSize: 30, witnessSize: 30,
    consecutiveFailures: 2, outcome: .noAnswer)
