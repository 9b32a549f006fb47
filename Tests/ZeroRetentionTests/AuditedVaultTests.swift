#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RetentionLedger
import Testing
import ZeroRetention

@Suite("AuditedVault: policy decides, ledger records, content stays out")
struct AuditedVaultTests {
    private static let canary = "CANARY-audited-4d1f7e-never-in-the-ledger"

    private struct Fixture {
        let directory: String
        let ledger: Ledger
        let signer: SigningKey
        let audited: AuditedVault
        var ledgerPath: String { directory + "/ledger.zdr" }
    }

    private func fixture() throws -> Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audited-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let registry = IdentifierRegistry(
            workspaces: [Identifier("acme")!, Identifier("open")!], models: [Identifier("tts-1")!],
            providers: [Identifier("upstream")!])
        let signer = try SigningKey.generate()
        let ledger = try Ledger(
            path: directory + "/ledger.zdr", registry: registry, signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil))
        let policy = try RetentionPolicy()
            .workspace("acme", zdr: true)
            .workspace("open", zdr: false)
            .provider("upstream", zdrCoverage: [.streaming])
        let audited = AuditedVault(vault: try Vault(configuration: .init(
            backend: .locked, byteBudget: 16 << 20, aead: .fixed(.xchacha20poly1305), reaperInterval: nil)),
            policy: policy, ledger: ledger)
        return Fixture(directory: directory, ledger: ledger, signer: signer, audited: audited)
    }

    private func request(_ workspace: String, classes: Set<DataClass> = [.textInput, .audioOutput]) -> PolicyRequest {
        PolicyRequest(
            workspace: Identifier(workspace)!, agent: nil, flags: .none, product: .textToSpeech,
            dataClasses: classes, model: Identifier("tts-1")!, upstream: nil)
    }

    private func kinds(_ path: String) throws -> [LedgerRecordKind] {
        try LedgerVerifier.entries(path: path).map(\.record.body.kind)
    }

    @Test("an accepted request: decision and opening first, the receipt at discard, provable offline")
    func acceptedLifecycle() throws {
        let f = try fixture()
        let admitted = try f.audited.open(request("acme"))
        #expect(admitted.decision.retentionMode == .zeroDataRetention)
        try Array(Self.canary.utf8).withUnsafeBytes { try admitted.scope.append(to: .textInput, copying: $0) }
        try f.audited.authorizeEgress(of: admitted, to: Identifier("upstream")!, transferMode: .streaming)
        try f.audited.recordUsage(of: admitted, [UsageCount(unit: .characters, count: UInt64(Self.canary.utf8.count))])
        let receipt = admitted.scope.discard(reason: .completed)
        #expect(receipt.keyDestroyed)
        try f.ledger.flush()
        _ = try f.ledger.checkpoint()
        #expect(f.audited.unrecordedReceipts == 0)

        let recorded = try kinds(f.ledgerPath).filter { $0 != .checkpoint && $0 != .keyRotation }
        #expect(recorded == [.policyDecision, .requestOpened, .upstreamEgress, .usage, .discardReceipt])
        let bundle = try f.ledger.receiptBundle(forRequest: admitted.scope.id)
        let verified = try ReceiptBundle.verify(json: bundle.json, verifierKey: f.signer.verifierKey)
        _ = verified

        // No byte of the content anywhere in what the ledger wrote or exports.
        let fileBytes = try Data(contentsOf: URL(fileURLWithPath: f.ledgerPath))
        #expect(fileBytes.range(of: Data(Self.canary.utf8)) == nil)
        #expect(fileBytes.range(of: Data("CANARY".utf8)) == nil)
        #expect(!(try LedgerVerifier.exportJSONLines(path: f.ledgerPath)).contains("CANARY"))
        #expect(!bundle.json.contains("CANARY"))
    }

    @Test("a rejected request opens nothing and the rejection is recorded with its reason")
    func rejected() throws {
        let f = try fixture()
        #expect(throws: AuditedVaultError.rejected(reason: .dataClassIneligible)) {
            _ = try f.audited.open(request("acme", classes: [.voiceSample]))
        }
        #expect(f.audited.vault.statistics.openScopes == 0)
        try f.ledger.flush()
        let entries = try LedgerVerifier.entries(path: f.ledgerPath)
        guard case .policyDecision(let decision)? = entries.first?.record.body else {
            Issue.record("no policy decision recorded")
            return
        }
        #expect(decision.outcome == .rejected)
        #expect(decision.reasonCode == PolicyReason.dataClassIneligible.rawValue)
        // The decision and nothing else; then the checkpoint that seals the flush (the default).
        #expect(entries.map(\.record.body.kind) == [.policyDecision, .checkpoint])
    }

    @Test("an undeclared but well-formed workspace is a recorded rejection under `undeclared`, never under its name")
    func undeclaredWorkspaceIsRecorded() throws {
        let f = try fixture()
        let name = "canary-workspace-5e21b9"
        let admission = try f.audited.admit(request(name))
        guard case .rejected(let reason, let requestID) = admission else {
            Issue.record("an undeclared workspace was admitted")
            return
        }
        #expect(reason == .unknownWorkspace)
        #expect(f.audited.vault.statistics.openScopes == 0)
        try f.ledger.flush()
        let entries = try LedgerVerifier.entries(path: f.ledgerPath)
        guard case .policyDecision(let decision)? = entries.first?.record.body else {
            Issue.record("no policy decision recorded")
            return
        }
        #expect(decision.requestID == requestID)
        #expect(decision.workspace == .undeclared)
        #expect(decision.outcome == .rejected)
        #expect(decision.reasonCode == PolicyReason.unknownWorkspace.rawValue)
        let fileBytes = try Data(contentsOf: URL(fileURLWithPath: f.ledgerPath))
        #expect(fileBytes.range(of: Data(name.utf8)) == nil)
    }

    @Test("an undeclared agent is recorded as `undeclared` in its declared workspace")
    func undeclaredAgentIsRecorded() throws {
        let f = try fixture()
        var request = request("acme")
        request.agent = Identifier("canary-agent-0c44")!
        guard case .rejected(.unknownAgent, _) = try f.audited.admit(request) else {
            Issue.record("an undeclared agent was not refused as unknownAgent")
            return
        }
        try f.ledger.flush()
        guard case .policyDecision(let decision)? = try LedgerVerifier.entries(path: f.ledgerPath).first?.record.body else {
            Issue.record("no policy decision recorded")
            return
        }
        #expect(decision.workspace == Identifier("acme")!)
        #expect(decision.agent == .undeclared)
    }

    @Test("a policy cannot declare the reserved `undeclared` name")
    func reservedNameCannotBeDeclared() throws {
        #expect(throws: PolicyConfigurationError(path: "workspaces[0].id", kind: .reservedIdentifier)) {
            _ = try RetentionPolicy().workspace(Identifier.undeclared.value, zdr: true)
        }
        #expect(Identifier(Identifier.undeclared.value)?.isReserved == true)
        #expect(Identifier("acme")?.isReserved == false)
    }

    @Test("the identifier registry derived from a policy declares its workspaces, agents, providers and ZDR models")
    func registryDerivedFromPolicy() throws {
        let policy = try RetentionPolicy()
            .workspace("acme", zdr: true)
            .agent("support-bot", in: "acme")
            .provider("upstream", zdrCoverage: [.streaming])
            .zdrModels(["tts-1"], for: .textToSpeech)
        let registry = IdentifierRegistry(declaredBy: policy, additionalModels: [Identifier("stt-legacy")!])
        #expect(registry == IdentifierRegistry(
            workspaces: [Identifier("acme")!], agents: [Identifier("support-bot")!],
            models: [Identifier("tts-1")!, Identifier("stt-legacy")!], providers: [Identifier("upstream")!]))
    }

    @Test("egress to a mode the provider does not cover is refused before anything leaves")
    func egressRefused() throws {
        let f = try fixture()
        let admitted = try f.audited.open(request("acme"))
        #expect(throws: AuditedVaultError.egressRefused(reason: .providerNotCovered)) {
            try f.audited.authorizeEgress(of: admitted, to: Identifier("upstream")!, transferMode: .sync)
        }
        #expect(throws: AuditedVaultError.egressRefused(reason: .unknownProvider)) {
            try f.audited.authorizeEgress(of: admitted, to: Identifier("elsewhere")!, transferMode: .streaming)
        }
        admitted.scope.discard(reason: .completed)
        try f.ledger.flush()
        #expect(!(try kinds(f.ledgerPath)).contains(.upstreamEgress))
    }

    @Test("when the ledger cannot record, no scope is opened (fail closed)")
    func ledgerFailureFailsClosed() throws {
        let f = try fixture()
        try f.ledger.close()
        #expect(throws: AuditedVaultError.ledger(.closed)) { _ = try f.audited.open(request("acme")) }
        #expect(f.audited.vault.statistics.openScopes == 0)
    }

    @Test("a receipt the ledger refuses is counted, not lost silently")
    func unrecordedReceiptCounted() throws {
        let f = try fixture()
        let admitted = try f.audited.open(request("open"))
        try f.ledger.close()
        admitted.scope.discard(reason: .completed)
        #expect(f.audited.unrecordedReceipts == 1)
    }

    @Test("dump of an audited vault after a request is short and holds no content or address")
    func shortReflection() throws {
        let f = try fixture()
        let admitted = try f.audited.open(request("acme"))
        try Array(Self.canary.utf8).withUnsafeBytes { try admitted.scope.append(to: .textInput, copying: $0) }
        admitted.scope.discard(reason: .completed)
        var dumped = ""
        dump(f.audited, to: &dumped)
        for text in [dumped, String(describing: f.audited), String(reflecting: f.audited)] {
            #expect(text.utf8.count < 2048, "\(text.utf8.count) bytes")
            #expect(!text.contains("0x"))
            #expect(!text.contains("CANARY"))
        }
    }
}
