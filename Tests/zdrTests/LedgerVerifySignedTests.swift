import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

@Suite("zdr ledger verify: exactly what the signatures cover (issue 13 §1)")
struct LedgerVerifySignedTests {
    @Test("text and JSON name the records the last checkpoint signs and count those after it", arguments: [0, 2])
    func signedCoverage(unsignedRecords: Int) throws {
        // Nine records, then the checkpoint of them (record 9).
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        if unsignedRecords > 0 {
            // Unsigned flushes on purpose: records after the last checkpoint.
            let ledger = try Ledger(
                path: fixture.ledgerPath, registry: IdentifierRegistry(), signer: try SigningKey(loadingFrom: fixture.keyPath),
                configuration: LedgerConfiguration(
                    flushIntervalNanoseconds: nil, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil,
                    signsEveryFlush: false))
            for _ in 0..<unsignedRecords {
                try ledger.append(.usage(UsageRecord(requestID: RequestID.random(), counts: [UsageCount(unit: .characters, count: 1)])))
            }
            try ledger.close()
        }
        let text = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey])
        #expect(text.status == 0)
        #expect(text.out.contains("signed: records 0..<9 by the last checkpoint (record 9); \(unsignedRecords) after it"), "\(text.out)")
        let json = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--json"]).json()
        #expect(json["signedRecords"] as? Int == 9)
        #expect(json["unsignedRecords"] as? Int == unsignedRecords)
        #expect(json["records"] as? Int == 10 + unsignedRecords)
    }
}
