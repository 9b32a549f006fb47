import Foundation
@testable import RetentionLedger
import RetentionVocabulary
import Testing

@Suite("Software identity: recorded at open and after every key rotation, never by the host")
struct SoftwareIdentityTests {
    private let identity = SoftwareIdentityRecord(
        executableSHA256: [UInt8](repeating: 0xE1, count: 32), policySHA256: [UInt8](repeating: 0xB0, count: 32),
        configurationSHA256: [UInt8](repeating: 0xC0, count: 32), version: SoftwareVersion(major: 0, minor: 15, patch: 1))

    private func kinds(_ path: String) throws -> [LedgerRecordKind] {
        try LedgerVerifier.entries(path: path).map(\.record.body.kind)
    }

    @Test("open and each rotation append it; it round-trips canonically; the host may not append one")
    func recorded() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("identity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("l").path
        let signer = try SigningKey.generate(name: "test.example/identity")
        let pinned = signer.verifier   // epoch 0: the key evolves below
        let ledger = try Ledger(
            path: path, registry: IdentifierRegistry(), signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil, checkpointEveryRecords: nil,
                                               checkpointIntervalNanoseconds: nil,
                                               keyEvolution: KeyEvolution(checkpointsPerEpoch: 1), softwareIdentity: identity))
        #expect(throws: LedgerError.reservedRecordKind) { try ledger.append(LedgerRecord(.softwareIdentity(identity))) }
        _ = try ledger.checkpoint()
        try ledger.flush()
        try ledger.close()
        // The flush seals what follows the rotation with a checkpoint of its own.
        #expect(try kinds(path) == [.softwareIdentity, .checkpoint, .keyRotation, .softwareIdentity, .checkpoint])
        let recorded = try LedgerVerifier.entries(path: path).filter { $0.record.body.kind == .softwareIdentity }
        for entry in recorded {
            #expect(entry.record.body == .softwareIdentity(identity))
            #expect(try LedgerRecord(canonicalBytes: entry.canonicalBytes).canonicalBytes == entry.canonicalBytes)
        }
        // The verifier accepts the identity records within the signed chain.
        _ = try LedgerVerifier.verify(path: path, verifierKey: pinned)
    }

    @Test("a hash of the wrong length is refused at open, with a typed error")
    func wrongLength() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("identity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var bad = identity
        bad.policySHA256 = [0xB0]
        #expect(throws: LedgerError.invalidField("software_identity")) {
            _ = try Ledger(path: directory.appendingPathComponent("l").path, registry: IdentifierRegistry(),
                           signer: try SigningKey.generate(name: "test.example/identity"),
                           configuration: LedgerConfiguration(flushIntervalNanoseconds: nil, softwareIdentity: bad))
        }
    }

    @Test("current(): the executable's SHA-256 is what sha256sum computes for this process's binary")
    func currentExecutable() throws {
        let current = try SoftwareIdentityRecord.current(
            policyDocument: Array("{}".utf8), configuration: [], version: SoftwareVersion(major: 1, minor: 0, patch: 0))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = ["/proc/\(ProcessInfo.processInfo.processIdentifier)/exe"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let expected = String(output.prefix(64))
        #expect(current.executableSHA256.map { String(format: "%02x", $0) }.joined() == expected)
        // SHA-256("{}") and SHA-256("") (FIPS 180-4 test values).
        #expect(current.policySHA256.map { String(format: "%02x", $0) }.joined()
                == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        #expect(current.configurationSHA256.map { String(format: "%02x", $0) }.joined()
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
