// Writes the seed corpora of the ledger targets from real ledgers signed with the fixed test
// key. Off by default; run after a format change:
//   ZDR_FUZZ_WRITE_SEEDS=1 swift test --filter FuzzReplayTests.writeLedgerSeeds
// then review and commit Fuzz/Corpus.

import Foundation
import Glibc
import RetentionLedger
import RetentionVocabulary
import Testing

@Test("write ledger seeds", .enabled(if: ProcessInfo.processInfo.environment["ZDR_FUZZ_WRITE_SEEDS"] == "1"))
func writeLedgerSeeds() throws {
    let corpus = SavedInput.fuzzRoot.appendingPathComponent("Corpus")
    func save(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
        let folder = corpus.appendingPathComponent(target)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(bytes).write(to: folder.appendingPathComponent(name))
    }

    let plain = try SeedLedger(name: "plain", configuration: seedConfiguration(evolving: false, bucketed: false))
    let evolving = try SeedLedger(name: "evolving", configuration: seedConfiguration(evolving: true, bucketed: true))
    for ledger in [plain, evolving] {
        let file = FuzzScratch.load(ledger.path)
        #expect((try? LedgerVerifier.verify(path: ledger.path, verifierKey: FuzzLedgerKey.verifier)) != nil)
        try save("FuzzLedgerFile", "\(ledger.name)", [0] + file)
        try save("FuzzLedgerFile", "\(ledger.name)-fixup", [1] + file)
        // A frame cut short (the torn tail of an interrupted write), and a zero-filled tail
        // (corruption: zeros where a frame should start).
        try save("FuzzLedgerFile", "\(ledger.name)-torn", [0] + file.dropLast(7))
        try save("FuzzLedgerFile", "\(ledger.name)-zeros", [0] + file + [UInt8](repeating: 0, count: 40))
        for (index, entry) in try LedgerVerifier.entries(path: ledger.path).enumerated() {
            try save("FuzzLedgerRecord", "\(ledger.name)-\(index)-\(entry.record.body.kind.name)", entry.canonicalBytes)
        }
        try save("FuzzSignedNote", "\(ledger.name)-note", [0] + Array(ledger.note.utf8))
        try save("FuzzReceiptBundle", "\(ledger.name)-bundle.json", Array(ledger.bundle.utf8))
        try FileManager.default.removeItem(atPath: ledger.path)
    }
    try save("FuzzSignedNote", "verifier-key", [1] + Array(FuzzLedgerKey.verifierKeyText.utf8))
    try save("FuzzSignedNote", "signer-key", [2] + Array(FuzzLedgerKey.signerKeyText.utf8))
    // Merkle: size, index, first size (two bytes each), then a few edit ops.
    try save("FuzzMerkleProofs", "size7", [0, 6, 0, 3, 0, 4])
    try save("FuzzMerkleProofs", "size8-edits", [0, 7, 0, 5, 0, 4, 0, 1, 0, 4, 0, 77, 6, 0, 2])
    try save("FuzzMerkleProofs", "size300", [1, 43, 0, 200, 0, 255, 5, 1, 9, 3, 2, 7])
}

private func seedConfiguration(evolving: Bool, bucketed: Bool) -> LedgerConfiguration {
    LedgerConfiguration(
        flushIntervalNanoseconds: nil, checkpointEveryRecords: 3, checkpointIntervalNanoseconds: nil,
        bucketSizes: bucketed, keyEvolution: evolving ? KeyEvolution(checkpointsPerEpoch: 1) : nil,
        clock: { Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000) })
}

/// A small ledger holding one record of every host-written kind, checkpointed.
private struct SeedLedger {
    let name: String
    let path: String
    let note: String
    let bundle: String

    init(name: String, configuration: LedgerConfiguration) throws {
        self.name = name
        path = FuzzScratch.path("seed-\(name)")
        unlink(path)
        let ledger = try Ledger(path: path, registry: FuzzLedgerKey.registry, signer: FuzzLedgerKey.signer(),
                                configuration: configuration)
        let request = RequestID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        let acme = Identifier("acme")!
        let at = Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)
        try ledger.append(.requestOpened(RequestOpenedRecord(
            requestID: request, workspace: acme, product: .textToSpeech, model: Identifier("tts-fast")!,
            retentionMode: .zeroDataRetention, dataClasses: [.textInput, .audioOutput])))
        try ledger.append(.policyDecision(PolicyDecisionRecord(
            requestID: request, workspace: acme, agent: Identifier("support-bot")!, outcome: .accepted, reasonCode: 3)))
        try ledger.append(.upstreamEgress(UpstreamEgressRecord(
            requestID: request, provider: Identifier("realtime-llm")!, mode: .streaming, coveredByZeroDataRetention: true)))
        try ledger.append(.usage(UsageRecord(
            requestID: request, counts: [UsageCount(unit: .characters, count: 120), UsageCount(unit: .audioMillisecondsOut, count: 4000)])))
        try ledger.append(.discardReceipt(DiscardReceipt(
            requestID: request, reason: .completed, openedAt: at, firstContentAt: at, discardedAt: at,
            peakBytesHeld: 4096, totalBytesHeld: 8192, chunksWiped: 3, slotsWiped: 2, bytesVerifiedZero: 8192,
            keyDestroyed: true, backend: .secretmem, aead: .xchacha20poly1305,
            externalHolders: [ExternalHolderReport(kind: .kvCache, outcome: .wiped)])))
        try ledger.append(.serviceHealth(ServiceHealthRecord(
            windowStart: at, windowEnd: at, requestsOpened: 1, requestsDiscarded: 1, discardFailures: 0,
            activeRequests: 0, bytesHeld: 0, budgetUsedPermille: 12)))
        bundle = try ledger.receiptBundle(forRequest: request).json
        note = try ledger.checkpoint().noteText
        try ledger.close()
    }
}
