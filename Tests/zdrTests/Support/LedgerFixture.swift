import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

/// A temporary directory with a signing key made by `zdr ledger keygen` and a small ledger
/// written through the RetentionLedger API: three requests, each opened, used and discarded,
/// then a signed checkpoint.
struct LedgerFixture {
    let directory: URL
    let keyPath: String
    let verifierKey: String
    let ledgerPath: String
    let requests: [RequestID]

    /// `name` is the signing key's name, so the log's origin (distinct logs of a fleet need distinct ones).
    init(requests count: Int = 3, name: String = "test.example/zdr") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        keyPath = directory.appendingPathComponent("signing.key").path
        ledgerPath = directory.appendingPathComponent("zdr.ledger").path
        let keygen = try ZDR.run(["ledger", "keygen", "--out", keyPath, "--name", name, "--json"])
        try #require(keygen.status == 0)
        verifierKey = try #require(try keygen.json()["verifierKey"] as? String)

        requests = try Self.append(requests: count, to: ledgerPath, keyPath: keyPath).requests
    }

    /// Appends `count` requests (opened, used, discarded) and a checkpoint to the ledger at
    /// `path`, signing with the key at `keyPath`; returns their ids and the checkpoint note.
    @discardableResult
    static func append(
        requests count: Int, to path: String, keyPath: String, identity: SoftwareIdentityRecord? = nil
    ) throws -> (requests: [RequestID], checkpoint: String) {
        let signer = try SigningKey(loadingFrom: keyPath)
        let workspace = Identifier("ws-test")!, model = Identifier("model-a")!
        let ledger = try Ledger(
            path: path, registry: IdentifierRegistry(workspaces: [workspace], models: [model]), signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil, checkpointEveryRecords: nil,
                                               checkpointIntervalNanoseconds: nil, softwareIdentity: identity))
        var ids: [RequestID] = []
        for index in 0..<count {
            let id = RequestID.random()
            ids.append(id)
            let now = Timestamp.now()
            try ledger.append(.requestOpened(RequestOpenedRecord(
                requestID: id, workspace: workspace, product: index % 2 == 0 ? .textToSpeech : .languageModel,
                model: model, retentionMode: .zeroDataRetention, dataClasses: [.textInput, .audioOutput])))
            try ledger.append(.usage(UsageRecord(requestID: id, counts: [UsageCount(unit: .characters, count: 42)])))
            try ledger.append(.discardReceipt(DiscardReceipt(
                requestID: id, reason: .completed, openedAt: now, firstContentAt: now, discardedAt: now,
                peakBytesHeld: 4096, totalBytesHeld: 8192, chunksWiped: 2, slotsWiped: 2, bytesVerifiedZero: 8192,
                keyDestroyed: true, backend: .locked, aead: .xchacha20poly1305, externalHolders: [])))
        }
        let checkpoint = try ledger.checkpoint()
        try ledger.close()
        return (ids, checkpoint.noteText)
    }

    /// File offsets of every record frame, in order.
    func frameOffsets() throws -> [Int] { try LedgerVerifier.entries(path: ledgerPath).map { Int($0.offset) } }

    /// Cuts the ledger file to its first `length` bytes.
    func truncate(to length: Int) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ledgerPath))
        try bytes.prefix(length).write(to: URL(fileURLWithPath: ledgerPath))
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }

    /// Flips one byte at `offset` in the ledger file.
    func corrupt(at offset: Int) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: ledgerPath))
        bytes[offset] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: ledgerPath))
    }
}

extension RequestID {
    /// A random id for fixtures (the vault's generator is not a dependency of these tests).
    static func random() -> RequestID {
        RequestID(high: .random(in: .min ... .max), low: .random(in: .min ... .max))
    }
}
