// The request-id index behind `receiptBundle(forRequest:)`: built on demand or in steps by the
// background flusher, it must return each request's latest receipt however the folding was split.

import Testing
@testable import RetentionLedger
import RetentionVocabulary

@Suite("Receipt index: the latest receipt per request")
struct ReceiptIndexTests {
    @Test("receipt index returns the latest receipt however folding is split") func receiptIndexReturnsTheLatestReceiptHoweverFoldingIsSplit() {
        func location(_ n: Int, version: Int) -> RecordLocation {
            RecordLocation(leafIndex: UInt64(n * 10 + version), offset: 1_000 + n * 200 + version, length: 100 + version)
        }
        var index = ReceiptIndex(capacity: 16)
        // Enough requests to grow the table several times; every 7th request gets a second receipt
        // later, after part of the first batch was folded.
        for n in 0..<5_000 { index.add(request(UInt64(n)), location(n, version: 0)) }
        index.fold(limit: 1_234)
        #expect(index.unindexedCount == 5_000 - 1_234)
        for n in stride(from: 0, to: 5_000, by: 7) { index.add(request(UInt64(n)), location(n, version: 1)) }
        index.fold(limit: 2_000)
        var mismatches = 0
        for n in 0..<5_000 {
            let expected = location(n, version: n % 7 == 0 ? 1 : 0)
            let found = index.location(of: request(UInt64(n)))
            if found?.leafIndex != expected.leafIndex || found?.offset != expected.offset || found?.length != expected.length {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        #expect(index.unindexedCount == 0)
        #expect(index.location(of: request(5_000)) == nil)
        #expect(index.location(of: RequestID(high: 1, low: 0)) == nil)
    }

    /// With the background flusher folding receipts into the index while appends go on, lookups
    /// still find every receipt and refuse unknown requests.
    @Test("lookups find receipts while the background flusher indexes") func lookupsFindReceiptsWhileTheBackgroundFlusherIndexes() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var configuration = quietConfiguration(checkpointEvery: 100)
        configuration.flushIntervalNanoseconds = 1_000_000
        let signer = try SigningKey.generate(name: "ledger.example")
        let ledger = try Ledger(path: directory.file("ledger"), registry: testRegistry, signer: signer, configuration: configuration)
        for n in 0..<300 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n))))) }
        for n in [0, 150, 299] {
            let bundle = try ledger.receiptBundle(forRequest: request(UInt64(n)))
            let verified = try bundle.verify(verifierKey: signer.verifier)
            #expect(verified.receipt.requestID == request(UInt64(n)))
        }
        #expect(throws: LedgerError.requestNotFound) { _ = try ledger.receiptBundle(forRequest: request(300)) }
        try ledger.close()
    }
}
