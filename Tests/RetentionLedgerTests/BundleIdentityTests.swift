import Foundation
@testable import RetentionLedger
import RetentionVocabulary
import Testing

/// Issue 15: every receipt bundle names the software identity in force, with its own
/// inclusion proof, whichever path built it (the writer, the file, the tiles).
@Suite("Receipt bundles name the software identity in force, proven under the same checkpoint")
struct BundleIdentityTests {
    private static func identity(_ executable: UInt8) -> SoftwareIdentityRecord {
        SoftwareIdentityRecord(
            executableSHA256: [UInt8](repeating: executable, count: 32), policySHA256: [UInt8](repeating: 0xB0, count: 32),
            configurationSHA256: [UInt8](repeating: 0xC0, count: 32), version: SoftwareVersion(major: 2, minor: 0, patch: UInt16(executable)))
    }

    private static func open(_ path: String, _ signer: SigningKey, identity: SoftwareIdentityRecord?) throws -> Ledger {
        try Ledger(
            path: path, registry: testRegistry, signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil, checkpointEveryRecords: nil,
                                               checkpointIntervalNanoseconds: nil, softwareIdentity: identity, clock: steppingClock()))
    }

    /// A ledger written by binary 0xA1 (request 1), then reopened by binary 0xA2 (request 2).
    private static func twoBinaries(_ directory: TemporaryDirectory) throws -> (path: String, signer: SigningKey) {
        let path = directory.file("l")
        let signer = try SigningKey.generate(name: "test.example/bundle-identity")
        let first = try open(path, signer, identity: identity(0xA1))
        _ = try first.append(.discardReceipt(sampleReceipt(request(1))))
        try first.close()
        let second = try open(path, signer, identity: identity(0xA2))
        _ = try second.append(.discardReceipt(sampleReceipt(request(2))))
        _ = try second.checkpoint()
        try second.close()
        return (path, signer)
    }

    @Test("writer, file and tiles bundles each name the identity of the binary that recorded the receipt")
    func everyPathNamesIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (path, signer) = try Self.twoBinaries(directory)
        let tiles = directory.file("tiles")
        _ = try LedgerTiles.write(ledgerPath: path, to: tiles, verifierKey: signer.verifier)
        let reader = TileReader(directory: tiles, verifierKey: signer.verifier)
        let writer = try Self.open(path, signer, identity: Self.identity(0xA2))
        defer { try? writer.close() }
        for (id, executable) in [(request(1), UInt8(0xA1)), (request(2), 0xA2)] {
            let fromFile = try LedgerVerifier.receiptBundle(path: path, request: id, verifierKey: signer.verifier, files: .live)
            for bundle in [fromFile, try reader.receiptBundle(request: id)] {
                let verified = try bundle.verify(verifierKey: signer.verifier)
                #expect(verified.softwareIdentity?.identity == Self.identity(executable))
                #expect(try ReceiptBundle(json: bundle.json) == bundle)
            }
            // The writer's bundle may use a later checkpoint (the reopen wrote records), but
            // names the same identity record.
            let live = try writer.receiptBundle(forRequest: id)
            #expect(try live.verify(verifierKey: signer.verifier).softwareIdentity?.identity == Self.identity(executable))
            #expect(live.softwareIdentity?.record == fromFile.softwareIdentity?.record)
            #expect(live.softwareIdentity?.leafIndex == fromFile.softwareIdentity?.leafIndex)
        }
    }

    @Test("a ledger without identity records gives bundles without the member, in the five-key form")
    func absentWithoutIdentity() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let signer = try SigningKey.generate(name: "test.example/bundle-identity")
        let ledger = try Self.open(directory.file("l"), signer, identity: nil)
        defer { try? ledger.close() }
        _ = try ledger.append(.discardReceipt(sampleReceipt(request(7))))
        let bundle = try ledger.receiptBundle(forRequest: request(7))
        #expect(bundle.softwareIdentity == nil)
        #expect(!bundle.json.contains("software_identity"))
        #expect(try bundle.verify(verifierKey: signer.verifier).softwareIdentity == nil)
    }

    @Test("a forged identity member is refused: wrong proof, not before the receipt, another record kind, extra field")
    func forgeriesRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let (path, signer) = try Self.twoBinaries(directory)
        let bundle = try LedgerVerifier.receiptBundle(path: path, request: request(2), verifierKey: signer.verifier, files: .live)
        let identity = try #require(bundle.softwareIdentity)
        let refused = LedgerError.bundleInvalid(.softwareIdentityInvalid)

        // Claiming the first binary's record with the second's proof.
        var swapped = bundle
        let first = try #require(try LedgerVerifier.receiptBundle(path: path, request: request(1), verifierKey: signer.verifier, files: .live).softwareIdentity)
        swapped.softwareIdentity = SoftwareIdentityProof(record: first.record, leafIndex: identity.leafIndex, inclusionProof: identity.inclusionProof)
        #expect(throws: refused) { try swapped.verify(verifierKey: signer.verifier) }

        // A tampered proof hash.
        var tampered = bundle
        var proof = identity.inclusionProof
        proof[0][0] ^= 1
        tampered.softwareIdentity = SoftwareIdentityProof(record: identity.record, leafIndex: identity.leafIndex, inclusionProof: proof)
        #expect(throws: refused) { try tampered.verify(verifierKey: signer.verifier) }

        // The receipt itself offered as its identity: a valid proof, but neither before it nor kind 9.
        var itself = bundle
        itself.softwareIdentity = SoftwareIdentityProof(record: bundle.record, leafIndex: bundle.leafIndex, inclusionProof: bundle.inclusionProof)
        #expect(throws: refused) { try itself.verify(verifierKey: signer.verifier) }

        // An earlier record of another kind (the first request's receipt), with a valid proof
        // under the same checkpoint: before the receipt, but not kind 9.
        let firstReceipt = try LedgerVerifier.receiptBundle(path: path, request: request(1), verifierKey: signer.verifier, files: .live)
        let size = try SignedCheckpoint.parseUnverified(note: bundle.checkpoint).treeSize
        let earlierProof = try LedgerVerifierTestHooks.proof(path: path, index: firstReceipt.leafIndex, size: size)
        var otherKind = bundle
        otherKind.softwareIdentity = SoftwareIdentityProof(record: firstReceipt.record, leafIndex: firstReceipt.leafIndex, inclusionProof: earlierProof)
        #expect(firstReceipt.leafIndex < bundle.leafIndex)
        #expect(MerkleProofs.verifyInclusion(
            leafIndex: firstReceipt.leafIndex, treeSize: size, leafHash: MerkleProofs.leafHash(firstReceipt.record), proof: earlierProof,
            root: try SignedCheckpoint.parseUnverified(note: bundle.checkpoint).rootHash))
        #expect(throws: refused) { try otherKind.verify(verifierKey: signer.verifier) }

        // A later identity (the first binary's bundle naming the second binary's record): not before the receipt.
        var later = try LedgerVerifier.receiptBundle(path: path, request: request(1), verifierKey: signer.verifier, files: .live)
        later.softwareIdentity = identity
        #expect(throws: refused) { try later.verify(verifierKey: signer.verifier) }

        // Free text beside what the member proves.
        let padded = bundle.json.replacingOccurrences(of: "\"software_identity\":{", with: "\"software_identity\":{\"note\":\"x\",")
        #expect(throws: LedgerError.bundleInvalid(.notCanonical)) { try ReceiptBundle(json: padded) }
    }
}
