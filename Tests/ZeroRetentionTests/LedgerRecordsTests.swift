import RetentionLedger
import Testing
import ZeroRetention

@Suite("What the ledger records about a decision")
struct LedgerRecordsTests {
    private let policy: RetentionPolicy = {
        try! RetentionPolicy()
            .workspace("acme", zdr: true)
            .workspace("open", zdr: false)
            .provider("upstream-llm", zdrCoverage: [.streaming])
    }()

    private func request(_ workspace: String, upstream: Upstream? = nil, classes: Set<DataClass> = [.textInput, .audioOutput]) -> PolicyRequest {
        PolicyRequest(
            workspace: Identifier(workspace)!, agent: nil, flags: .none, product: .textToSpeech,
            dataClasses: classes, model: Identifier("tts-1")!, upstream: upstream)
    }

    @Test("an accepted ZDR request records the decision, then the opening")
    func accepted() {
        let id = RequestID(high: 1, low: 2)
        let req = request("acme")
        let decision = policy.decide(req)
        let records = decision.ledgerRecords(for: req, requestID: id)
        #expect(records.count == 2)
        guard case .policyDecision(let recorded) = records[0].body else { Issue.record("first is not a decision"); return }
        #expect(recorded.outcome == .accepted)
        #expect(recorded.reasonCode == PolicyReason.zdrByWorkspace.rawValue)
        guard case .requestOpened(let opened) = records[1].body else { Issue.record("second is not an opening"); return }
        #expect(opened.retentionMode == .zeroDataRetention)
        #expect(opened.dataClasses == [.textInput, .audioOutput])
        #expect(opened.requestID == id)
    }

    @Test("a rejected request records only the decision, with its reason")
    func rejected() {
        let req = request("acme", classes: [.voiceSample])
        let decision = policy.decide(req)
        #expect(decision.outcome == .rejected)
        let records = decision.ledgerRecords(for: req, requestID: RequestID(high: 3, low: 4))
        #expect(records.count == 1)
        guard case .policyDecision(let recorded) = records[0].body else { Issue.record("not a decision"); return }
        #expect(recorded.reasonCode == decision.reason.rawValue)
        #expect(recorded.outcome == .rejected)
    }

    @Test("allowed egress is recorded with its coverage; refused egress is not")
    func egress() {
        let allowed = request("acme", upstream: Upstream(provider: Identifier("upstream-llm")!, transferMode: .streaming))
        let records = policy.decide(allowed).ledgerRecords(for: allowed, requestID: RequestID(high: 5, low: 6))
        guard case .upstreamEgress(let egress)? = records.last?.body else { Issue.record("no egress record"); return }
        #expect(egress.coveredByZeroDataRetention)
        #expect(egress.mode == .streaming)

        let refused = request("acme", upstream: Upstream(provider: Identifier("upstream-llm")!, transferMode: .sync))
        let decision = policy.decide(refused)
        #expect(!decision.isAccepted)
        let refusedRecords = decision.ledgerRecords(for: refused, requestID: RequestID(high: 7, low: 8))
        #expect(!refusedRecords.contains { if case .upstreamEgress = $0.body { true } else { false } })
    }
}
