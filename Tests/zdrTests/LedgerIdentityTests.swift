import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

private func identity(_ executable: UInt8) -> SoftwareIdentityRecord {
    SoftwareIdentityRecord(
        executableSHA256: [UInt8](repeating: executable, count: 32), policySHA256: [UInt8](repeating: 0xB0, count: 32),
        configurationSHA256: [UInt8](repeating: 0xC0, count: 32), version: SoftwareVersion(major: 1, minor: 2, patch: 3))
}

private func hex(_ byte: UInt8) -> String { String(repeating: String(format: "%02x", byte), count: 32) }

/// `zdr ledger verify --expect-binary`: every discard receipt produced under one executable.
@Suite("zdr ledger verify and check-receipt --expect-binary: the software identity in force at every receipt")
struct LedgerIdentityTests {
    /// A fresh directory with a new signing key in it and the path for a ledger not yet written.
    private static func emptyLedgerDirectory() throws -> (directory: URL, keyPath: String, ledger: String, verifierKey: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-identity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            let keyPath = directory.appendingPathComponent("signing.key").path
            let keygen = try ZDR.run(["ledger", "keygen", "--out", keyPath, "--name", "test.example/zdr", "--json"])
            let key = try #require(try keygen.json()["verifierKey"] as? String)
            return (directory, keyPath, directory.appendingPathComponent("zdr.ledger").path, key)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    @Test("one identity: passes for its hash, fails for another; a second binary's receipts are counted")
    func expectBinary() throws {
        let (directory, keyPath, ledger, key) = try Self.emptyLedgerDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        try LedgerFixture.append(requests: 3, to: ledger, keyPath: keyPath, identity: identity(0xA1))
        let same = try ZDR.run(["ledger", "verify", ledger, "--key", key, "--expect-binary", hex(0xA1)])
        #expect(same.status == 0, "\(same.out)\(same.err)")
        #expect(same.out.contains("every discard receipt was produced under the expected executable (1 identity record(s) seen)"))
        let other = try ZDR.run(["ledger", "verify", ledger, "--key", key, "--expect-binary", hex(0xA2), "--json"])
        #expect(other.status == 1)
        let error = try #require(try other.json()["error"] as? [String: Any])
        #expect(error["kind"] as? String == "unexpectedBinary")
        #expect(error["receiptsUnderOtherBinaries"] as? Int == 3)

        // The server restarted with another binary: its receipts follow the new identity.
        try LedgerFixture.append(requests: 2, to: ledger, keyPath: keyPath, identity: identity(0xA2))
        let mixed = try ZDR.run(["ledger", "verify", ledger, "--key", key, "--expect-binary", hex(0xA1)])
        #expect(mixed.status == 1)
        #expect(mixed.out.contains("2 receipt(s) produced under another executable, 0 under no recorded identity"))
        let tally = try LedgerVerifier.identityTally(path: ledger)
        #expect(tally.identities == [identity(0xA1), identity(0xA2)])
        #expect(tally.receiptsByExecutable == [identity(0xA1).executableSHA256: 3, identity(0xA2).executableSHA256: 2])
    }

    @Test("receipts before any identity record fail; a malformed hash is a usage error")
    func noIdentity() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let none = try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--expect-binary", hex(0xA1)])
        #expect(none.status == 1)
        #expect(none.out.contains("0 receipt(s) produced under another executable, 3 under no recorded identity"))
        #expect(try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey, "--expect-binary", "abc"]).status == 64)
        #expect(try ZDR.run(["ledger", "verify", fixture.ledgerPath, "--key", fixture.verifierKey,
                             "--expect-binary", String(repeating: "g", count: 64)]).status == 64)
    }

    @Test("check-receipt --expect-binary: the bundle's own identity, proven, must be the expected executable")
    func checkReceiptExpectBinary() throws {
        let (directory, keyPath, ledger, key) = try Self.emptyLedgerDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try LedgerFixture.append(requests: 1, to: ledger, keyPath: keyPath, identity: identity(0xA1)).requests[0]
        let after = try LedgerFixture.append(requests: 1, to: ledger, keyPath: keyPath, identity: identity(0xA2)).requests[0]

        for (request, executable) in [(before, UInt8(0xA1)), (after, 0xA2)] {
            let bundle = directory.appendingPathComponent("\(request).json").path
            let proved = try ZDR.run(["ledger", "prove", ledger, "--request", request.description, "--key", key, "--out", bundle])
            #expect(proved.status == 0, "\(proved.err)")
            let same = try ZDR.run(["ledger", "check-receipt", bundle, "--key", key, "--expect-binary", hex(executable), "--json"])
            #expect(same.status == 0, "\(same.out)\(same.err)")
            let named = try #require(try same.json()["softwareIdentity"] as? [String: Any])
            #expect(named["executableSHA256"] as? String == hex(executable))
            #expect(named["version"] as? String == "1.2.3")
            let other = try ZDR.run(["ledger", "check-receipt", bundle, "--key", key, "--expect-binary", hex(executable ^ 0x03)])
            #expect(other.status == 1)
            #expect(other.out.contains("produced under another executable"))
        }

        // A ledger that records no identity: its bundles name none, so --expect-binary fails.
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let bundle = directory.appendingPathComponent("none.json").path
        _ = try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", fixture.requests[0].description, "--key", fixture.verifierKey, "--out", bundle])
        let none = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--expect-binary", hex(0xA1)])
        #expect(none.status == 1)
        #expect(none.out.contains("names no software identity"))
        #expect(try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey]).status == 0)
        #expect(try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--expect-binary", "abc"]).status == 64)
    }
}
