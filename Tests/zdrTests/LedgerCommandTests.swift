import Foundation
import RetentionLedger
import RetentionVocabulary
@testable import zdr
import Testing

@Suite("zdr ledger keygen") struct LedgerKeygenTests {
    @Test("writes a private key and prints the verifier key") func writesAPrivateKeyAndPrintsTheVerifierKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-keygen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("k").path
        let verifierFile = directory.appendingPathComponent("k.pub").path

        let run = try ZDR.run(["ledger", "keygen", "--out", key, "--verifier-out", verifierFile])
        #expect(run.status == 0)
        let verifier = run.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(verifier.hasPrefix("zdr-ledger+"))
        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try String(contentsOfFile: verifierFile, encoding: .utf8).trimmingCharacters(in: .newlines) == verifier)
        // The secret never reaches the terminal.
        let secret = try String(contentsOfFile: key, encoding: .utf8)
        #expect(!run.wrote(secret.trimmingCharacters(in: .newlines)))

        let again = try ZDR.run(["ledger", "keygen", "--out", key])
        #expect(again.status == 2)
        #expect(again.err.contains("--force"))
        let forced = try ZDR.run(["ledger", "keygen", "--out", key, "--force", "--json"])
        #expect(forced.status == 0)
        #expect(try forced.json()["verifierKey"] as? String != verifier)
    }

    @Test("invalid name is a usage error") func invalidNameIsAUsageError() throws {
        let run = try ZDR.run(["ledger", "keygen", "--out", "/tmp/zdr-never-written", "--name", "has space"])
        #expect(run.status == 64)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/zdr-never-written"))
    }
}

@Suite("zdr ledger verify") struct LedgerVerifyTests {
    @Test("valid ledger verifies") func validLedgerVerifies() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["valid"] as? Bool == true)
        #expect(object["records"] as? Int == 10)  // 3 × 3 records + 1 checkpoint
        #expect(object["checkpoints"] as? Int == 1)
        #expect((object["rootHash"] as? String)?.count == 64)

        let human = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey])
        #expect(human.status == 0)
        #expect(human.out.contains("valid"))
    }

    @Test("key may be a file") func keyMayBeAFile() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let keyFile = fixture.path("verifier.pub")
        try (fixture.verifierKey + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        #expect(try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", keyFile]).status == 0)
    }

    @Test("tampered record is named") func tamperedRecordIsNamed() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: fixture.ledgerPath)[.size] as? Int)
        try fixture.corrupt(at: size / 2)
        let run = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--json"])
        #expect(run.status == 1)
        let object = try run.json()
        #expect(object["valid"] as? Bool == false)
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["kind"] as? String == "invalidRecord")
        #expect(error["index"] is Int)
        #expect(error["offset"] is Int)

        let human = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey])
        #expect(human.status == 1)
        #expect(human.out.contains("INVALID"))
        #expect(human.out.contains("ledger record"))
    }

    @Test("other key fails") func otherKeyFails() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let other = try ZDR.run(["ledger", "keygen", "--out", fixture.path("other.key"), "--name", "test.example/zdr", "--json"])
        let otherKey = try #require(try other.json()["verifierKey"] as? String)
        let run = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", otherKey])
        #expect(run.status == 1)
    }

    @Test("missing file and malformed key are failures") func missingFileAndMalformedKeyAreFailures() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let missing = try ZDR.run(["ledger", "verify", fixture.path("absent"), "--key", fixture.verifierKey])
        #expect(missing.status == 2)
        #expect(missing.err.contains("ENOENT"))
        let malformed = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", "name+00000000+bm90YWtleQ=="])
        #expect(malformed.status == 2)
        let notAKey = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", "nonsense"])
        #expect(notAKey.status == 2)
        #expect(!notAKey.wrote("nonsense"))
    }

    @Test("not a ledger is a finding") func notALedgerIsAFinding() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let bogus = fixture.path("bogus")
        try Data(repeating: 0x41, count: 100).write(to: URL(fileURLWithPath: bogus))
        #expect(try ZDR.run(["ledger", "verify", bogus, "--key", fixture.verifierKey]).status == 1)
    }
}

@Suite("zdr ledger show and export") struct LedgerShowExportTests {
    @Test("show lists every record") func showListsEveryRecord() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["ledger", "show", fixture.ledgerPath])
        #expect(run.status == 0)
        let lines = run.out.split(separator: "\n")
        #expect(lines.count == 11)  // header + 10 records
        #expect(lines[0].hasPrefix("INDEX"))
        #expect(run.out.contains("discard_receipt"))
        #expect(run.out.contains(fixture.requests[0].description))
    }

    @Test("show filters by request and limit") func showFiltersByRequestAndLimit() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["ledger", "show", fixture.ledgerPath, "--json", "--request", fixture.requests[1].description])
        let records = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [[String: Any]])
        #expect(records.count == 3)
        #expect(records.allSatisfy { $0["request_id"] as? String == fixture.requests[1].description })
        #expect(records.map { $0["kind"] as? String } == ["request_opened", "usage", "discard_receipt"])

        let limited = try ZDR.run(["ledger", "show", fixture.ledgerPath, "--json", "--limit", "2"])
        let last = try #require(try JSONSerialization.jsonObject(with: limited.stdout) as? [[String: Any]])
        #expect(last.map { $0["leaf_index"] as? Int } == [8, 9])

        #expect(try ZDR.run(["ledger", "show", fixture.ledgerPath, "--request", "xyz"]).status == 64)
    }

    @Test("export writes one JSON object per record") func exportWritesOneJSONObjectPerRecord() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["ledger", "export", fixture.ledgerPath])
        #expect(run.status == 0)
        let lines = run.out.split(separator: "\n")
        #expect(lines.count == 10)
        for (index, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["leaf_index"] as? Int == index)
        }
        let out = fixture.path("export.jsonl")
        #expect(try ZDR.run(["ledger", "export", fixture.ledgerPath, "--out", out]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == run.out)
    }

    @Test("damaged ledger is a finding for show") func damagedLedgerIsAFindingForShow() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: fixture.ledgerPath)[.size] as? Int)
        try fixture.corrupt(at: size / 2)
        let run = try ZDR.run(["ledger", "show", fixture.ledgerPath])
        #expect(run.status == 1)
        #expect(run.err.contains("verification failed"))
    }
}

@Suite("zdr ledger prove and check-receipt") struct LedgerReceiptTests {
    @Test("prove then check receipt") func proveThenCheckReceipt() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let id = fixture.requests[2].description
        let bundle = fixture.path("receipt.json")
        let prove = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey, "--out", bundle])
        #expect(prove.status == 0)
        #expect(FileManager.default.fileExists(atPath: bundle))

        let check = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--request", id, "--json"])
        #expect(check.status == 0)
        let object = try check.json()
        #expect(object["valid"] as? Bool == true)
        #expect(object["requestID"] as? String == id)
        #expect(object["bytesVerifiedZero"] as? Int == 8192)
        #expect(object["checkpointTreeSize"] as? Int == 9)  // the checkpoint covers the records before it

        let human = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey])
        #expect(human.status == 0)
        #expect(human.out.contains("valid"))
    }

    @Test("ledger index: prove answers the same bundle from the index, and ignores a damaged index")
    func indexThenProve() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let id = fixture.requests[2].description
        let scanned = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey])
        #expect(scanned.status == 0)
        let index = try ZDR.run(["ledger", "index", fixture.ledgerPath, "--key", fixture.verifierKey])
        #expect(index.status == 0)
        #expect(FileManager.default.fileExists(atPath: fixture.ledgerPath + ".index/manifest"))
        let indexed = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey])
        #expect(indexed.status == 0 && indexed.out == scanned.out)
        try Data(repeating: 0xA5, count: 64).write(to: URL(fileURLWithPath: fixture.ledgerPath + ".index/manifest"))
        let damaged = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey])
        #expect(damaged.status == 0 && damaged.out == scanned.out)
        let wrongKey = try ZDR.run(["ledger", "index", fixture.ledgerPath, "--key", "other.example+00000000+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="])
        #expect(wrongKey.status != 0)
    }

    @Test("receipt for another request is a finding") func receiptForAnotherRequestIsAFinding() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let bundle = fixture.path("receipt.json")
        _ = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                         "--key", fixture.verifierKey, "--out", bundle])
        let run = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey,
                               "--request", fixture.requests[1].description])
        #expect(run.status == 1)
    }

    @Test("tampered bundle is a finding") func tamperedBundleIsAFinding() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let prove = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description,
                                 "--key", fixture.verifierKey])
        #expect(prove.status == 0)
        var object = try #require(try JSONSerialization.jsonObject(with: prove.stdout) as? [String: Any])
        object["leaf_index"] = ((object["leaf_index"] as? Int) ?? 0) + 1
        let bundle = fixture.path("tampered.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: bundle))
        let run = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--json"])
        #expect(run.status == 1)
        let result = try run.json()
        #expect(result["valid"] as? Bool == false)
        #expect((result["error"] as? [String: Any])?["kind"] as? String == "bundleInvalid")
    }

    @Test("unknown request is a finding") func unknownRequestIsAFinding() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", RequestID.random().description,
                               "--key", fixture.verifierKey])
        #expect(run.status == 1)
        #expect(run.out.isEmpty)
    }
}

/// The selftest's ledger audit, against ledgers written directly.
@Suite("zdr ledger audit of selftest receipts") struct LedgerAuditTests {
    @Test("every receipt verifies") func everyReceiptVerifies() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let audit = LedgerAudit.run(path: fixture.ledgerPath, verifierKey: fixture.verifierKey, requests: fixture.requests)
        #expect(audit.passed)
        #expect(audit.receiptsVerified == 3)
        #expect(audit.bytesVerifiedZero == 3 * 8192)
    }

    @Test("missing receipt fails") func missingReceiptFails() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let audit = LedgerAudit.run(path: fixture.ledgerPath, verifierKey: fixture.verifierKey,
                                    requests: fixture.requests + [RequestID.random()])
        #expect(!audit.passed)
        #expect(audit.receiptsVerified == 3)
        #expect(audit.problems.map(\.1) == [.missing])
    }

    @Test("damaged ledger fails") func damagedLedgerFails() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: fixture.ledgerPath)[.size] as? Int)
        try fixture.corrupt(at: size / 2)
        let audit = LedgerAudit.run(path: fixture.ledgerPath, verifierKey: fixture.verifierKey, requests: fixture.requests)
        #expect(!audit.passed)
        #expect(audit.ledgerError != nil)
    }
}
