import Foundation
import Testing

@Suite("zdr selftest: synthetic requests, then a residue scan", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct SelftestTests {
    @Test("clean run exits zero with no residue") func cleanRunExitsZeroWithNoResidue() throws {
        let run = try ZDR.run(["selftest", "--requests", "4", "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["result"] as? String == "pass")
        let requests = try #require(object["requests"] as? [String: Any])
        #expect(requests["tts"] as? Int == 4 && requests["stt"] as? Int == 4 && requests["llm"] as? Int == 4)
        #expect(requests["total"] as? Int == 12)
        let residue = try #require(object["residue"] as? [String: Any])
        #expect(residue["matches"] as? Int == 0)
        let vault = try #require(object["vault"] as? [String: Any])
        let bytesIn = try #require(vault["bytesIn"] as? Int)
        #expect(bytesIn > 0)
        #expect((vault["bytesHeld"] as? Int ?? 0) >= bytesIn)
        #expect((vault["bytesVerifiedZero"] as? Int ?? 0) >= (vault["bytesHeld"] as? Int ?? .max))
        #expect(vault["keysDestroyed"] as? Int == 12)
        // Release wipes a buffer's used bytes and verifies its whole slot.
        #expect((vault["poolBytesVerifiedZero"] as? Int ?? 0) >= (vault["poolBytesWiped"] as? Int ?? .max))
        #expect(vault["quarantinedSlots"] as? Int == 0)
        #expect(vault["openScopes"] as? Int == 0)
        let ledger = try #require(object["ledger"] as? [String: Any])
        #expect(ledger["valid"] as? Bool == true)
        #expect(ledger["receiptsVerified"] as? Int == 12)
        #expect(ledger["receiptsChecked"] as? Int == 12)
        let scan = try #require(object["scan"] as? [String: Any])
        #expect((scan["bytesScanned"] as? Int ?? 0) > 0)
        #expect(["secretmem", "locked"].contains(object["backend"] as? String))
    }

    /// The positive control plants one copy of content in the heap: the scan must find it, or
    /// a clean result would mean nothing.
    @Test("positive control is found", arguments: ["locked", "auto"])
    func positiveControlIsFound(backend: String) throws {
        let run = try ZDR.run(["selftest", "--requests", "2", "--backend", backend, "--positive-control", "--json"])
        #expect(run.status == 1)
        let object = try run.json()
        #expect(object["result"] as? String == "residue")
        let residue = try #require(object["residue"] as? [String: Any])
        #expect((residue["matches"] as? Int ?? 0) >= 1)
        let locations = try #require(residue["locations"] as? [[String: Any]])
        #expect(locations.first?["offset"] is Int)
    }

    @Test("locked backend scans the vault regions") func lockedBackendScansTheVaultRegions() throws {
        let run = try ZDR.run(["selftest", "--requests", "2", "--backend", "locked", "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["backend"] as? String == "locked")
        let scan = try #require(object["scan"] as? [String: Any])
        #expect(scan["regionsSecretmem"] as? Int == 0)
    }

    @Test("human output summarizes") func humanOutputSummarizes() throws {
        let run = try ZDR.run(["selftest", "--requests", "2"])
        #expect(run.status == 0)
        for label in ["backend", "requests:", "discarded:", "pool:", "scanned:", "ledger:", "residue:", "time:", "result:"] {
            #expect(run.out.contains(label))
        }
        #expect(run.out.contains("PASS"))
    }
}

/// `--ledger` keeps the ledger the run wrote; an auditor then verifies it and any receipt with
/// the verifier key the run reported.
@Suite("zdr selftest --ledger: receipts recorded and provable", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct SelftestLedgerTests {
    @Test("kept ledger verifies and proves every request") func keptLedgerVerifiesAndProvesEveryRequest() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-selftest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = directory.appendingPathComponent("selftest.ledger").path

        let run = try ZDR.run(["selftest", "--requests", "2", "--ledger", ledger, "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["ledgerPath"] as? String == ledger)
        let key = try #require(object["verifierKey"] as? String)

        let verify = try ZDR.run(["ledger", "verify", ledger, "--key", key, "--json"])
        #expect(verify.status == 0)
        let show = try ZDR.run(["ledger", "show", ledger, "--json"])
        let records = try #require(try JSONSerialization.jsonObject(with: show.stdout) as? [[String: Any]])
        let receipts = records.filter { $0["kind"] as? String == "discard_receipt" }
        #expect(receipts.count == 6)
        #expect(records.contains { $0["kind"] as? String == "policy_decision" })
        #expect(records.contains { $0["kind"] as? String == "upstream_egress" })
        let id = try #require(receipts.first?["request_id"] as? String)
        let bundle = directory.appendingPathComponent("receipt.json").path
        #expect(try ZDR.run(["ledger", "prove", ledger, "--request", id, "--key", key, "--out", bundle]).status == 0)
        #expect(try ZDR.run(["ledger", "check-receipt", bundle, "--key", key, "--request", id]).status == 0)
    }

    @Test("runs append to a ledger with its key") func runsAppendToALedgerWithItsKey() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let ledger = fixture.path("shared.ledger")
        for _ in 0..<2 {
            let run = try ZDR.run(["selftest", "--requests", "1", "--ledger", ledger, "--signing-key", fixture.keyPath, "--json"])
            #expect(run.status == 0)
            #expect(try run.json()["verifierKey"] as? String == fixture.verifierKey)
        }
        let verify = try ZDR.run(["ledger", "verify", ledger, "--key", fixture.verifierKey, "--json"])
        #expect(verify.status == 0)
        #expect(try verify.json()["checkpoints"] as? Int == 2)
    }

    @Test("existing ledger needs its key") func existingLedgerNeedsItsKey() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let withoutKey = try ZDR.run(["selftest", "--requests", "1", "--ledger", fixture.ledgerPath])
        #expect(withoutKey.status == 64)
        #expect(withoutKey.err.contains("--signing-key"))
    }
}
