import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// `dump`, `print` and `String(reflecting:)` of the ledger's reference types are short and hold
/// no heap addresses or key material: a host that logs one by mistake leaks nothing.
@Suite("Ledger and keys: short reflections, no internals")
struct ReflectionTests {
    static func dumped(_ value: Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }

    @Test("dump of a ledger with records is a few lines, without addresses")
    func ledgerDump() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "ledger.example")
        let ledger = try Ledger(path: directory.file("ledger.zdr"), registry: testRegistry, signer: signer,
                                configuration: quietConfiguration())
        for n in 0..<200 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n))))) }
        try ledger.flush()
        for text in [Self.dumped(ledger), String(describing: ledger), String(reflecting: ledger)] {
            #expect(text.utf8.count < 512, "\(text.utf8.count) bytes")
            #expect(!text.contains("0x"))
            #expect(text.contains("ledger.example"))
        }
        try ledger.close()
    }

    @Test("dump of a signing key names it and shows no key material or address")
    func signingKeyDump() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "ledger.example")
        try signer.save(to: directory.file("signer.key"))
        let secretText = String(decoding: readFile(directory.file("signer.key")), as: UTF8.self).trimmed
        #expect(secretText.hasPrefix("PRIVATE+KEY+ledger.example+"))
        for text in [Self.dumped(signer), String(describing: signer), String(reflecting: signer)] {
            #expect(text.utf8.count < 512, "\(text.utf8.count) bytes")
            // The verifier key is base64 and may hold "0x" by chance: look for addresses beside it.
            #expect(!text.replacingOccurrences(of: signer.verifierKey, with: "").contains("0x"))
            // PRIVATE+KEY+name+keyid+base64: the base64 (which may itself hold "+") is the secret.
            #expect(!text.contains(String(secretText.split(separator: "+", maxSplits: 4).last ?? "?")))
            #expect(text.contains(signer.verifierKey))
        }
    }
}

private extension String {
    var trimmed: String { String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
}
