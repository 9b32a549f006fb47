import RetentionVocabulary
import RetentionPolicy
import Testing

@Suite("Egress")
struct EgressTests {
    @Test("ZDR content goes only to a provider covering the transfer mode")
    func zdrNeedsCoverage() throws {
        let policy = try seedPolicy()
        let streaming = policy.egress(for: .zeroDataRetention, to: id("streaming-only"), transferMode: .streaming)
        #expect(streaming.isAllowed && streaming.covered && streaming.reason == .egressCovered)
        let sync = policy.egress(for: .zeroDataRetention, to: id("streaming-only"), transferMode: .sync)
        #expect(!sync.isAllowed && !sync.covered && sync.reason == .providerNotCovered)
        for mode in TransferMode.allCases {
            let thirdParty = policy.egress(for: .zeroDataRetention, to: id("third-party-llm"), transferMode: mode)
            #expect(!thirdParty.isAllowed && thirdParty.reason == .providerNotCovered)
        }
    }

    @Test("Standard retention may go to any declared provider; coverage is still recorded")
    func standardGoesToDeclaredProviders() throws {
        let policy = try seedPolicy()
        let uncovered = policy.egress(for: .standard, to: id("third-party-llm"), transferMode: .sync)
        #expect(uncovered.isAllowed && !uncovered.covered && uncovered.reason == .egressStandardRetention)
        let covered = policy.egress(for: .standard, to: id("fully-covered"), transferMode: .sync)
        #expect(covered.isAllowed && covered.covered && covered.reason == .egressStandardRetention)
    }

    @Test("An unknown provider is refused in every mode", arguments: RetentionMode.allCases)
    func unknownProviderRefused(mode: RetentionMode) throws {
        let policy = try seedPolicy()
        for transfer in TransferMode.allCases {
            let decision = policy.egress(for: mode, to: id("stranger"), transferMode: transfer)
            #expect(!decision.isAllowed && !decision.covered && decision.reason == .unknownProvider)
        }
    }

    @Test("A rejected request may send nothing anywhere")
    func rejectedDecisionRefusesEgress() throws {
        let policy = try seedPolicy()
        let rejected = policy.decide(
            workspace: id("zdr-org"), flags: RequestFlags(zdr: false), product: .languageModel,
            dataClasses: [.completion], model: id("llm-1"))
        #expect(rejected.outcome == .rejected)
        let egress = policy.egress(for: rejected, to: id("fully-covered"), transferMode: .sync)
        #expect(!egress.isAllowed && egress.reason == .requestRejected && egress.retentionMode == nil)
        #expect(egress.covered, "coverage is still recorded for the auditor")
    }

    @Test("An accepted decision's egress follows its retention mode")
    func acceptedDecisionEgress() throws {
        let policy = try seedPolicy()
        let zdr = policy.decide(
            workspace: id("zdr-org"), product: .languageModel, dataClasses: [.completion], model: id("llm-1"))
        #expect(!policy.egress(for: zdr, to: id("third-party-llm"), transferMode: .sync).isAllowed)
        #expect(policy.egress(for: zdr, to: id("fully-covered"), transferMode: .sync).isAllowed)
        let standard = policy.decide(
            workspace: id("plain"), product: .languageModel, dataClasses: [.completion], model: id("llm-1"))
        #expect(policy.egress(for: standard, to: id("third-party-llm"), transferMode: .sync).isAllowed)
    }

    @Test("Egress descriptions carry identifiers and names only")
    func egressDescription() throws {
        let egress = try seedPolicy().egress(for: .zeroDataRetention, to: id("streaming-only"), transferMode: .streaming)
        #expect(egress.description == "streaming-only streaming: allowed (egressCovered, 300), covered")
    }
}

@Suite("Stable numbers")
struct StableNumberTests {
    @Test("Policy reasons keep their ledger numbers")
    func reasonNumbers() {
        let pinned: [PolicyReason: UInt16] = [
            .zdrByWorkspace: 1, .zdrByAgent: 2, .zdrByRequest: 3, .zdrNotRequested: 4,
            .unknownWorkspace: 100, .unknownAgent: 101, .noDataClasses: 102, .agentLoosensWorkspace: 103,
            .requestLoosensWorkspace: 104, .requestLoosensAgent: 105, .dataClassIneligible: 106,
            .modelNotCovered: 107, .unknownProvider: 108, .providerNotCovered: 109, .requestRejected: 110,
            .dataClassIneligibleRetained: 200, .modelNotCoveredRetained: 201,
            .egressCovered: 300, .egressStandardRetention: 301,
        ]
        #expect(PolicyReason.allCases.count == pinned.count, "a new reason needs a pinned number here")
        for reason in PolicyReason.allCases {
            #expect(reason.rawValue == pinned[reason], "\(reason)")
            #expect(reason.description == "\(reason)" && !reason.description.isEmpty)
        }
    }

    @Test("Outcomes, sources and retained fields keep their numbers")
    func otherNumbers() {
        #expect(PolicyOutcome.allCases.map(\.rawValue) == [1, 2, 3])
        #expect(PolicyOutcome.allCases.map(\.description) == ["accepted", "rejected", "accepted_with_retention"])
        #expect(ZDRSource.allCases.map(\.rawValue) == [1, 2, 3])
        #expect(RetainedField.metadataList == expectedRetainedMetadata)
        #expect(RetainedField.metadataList.map(\.rawValue) == [1, 2, 3, 4, 5, 6, 7])
        #expect(RetentionPolicy.IneligibleHandling.allCases.map(\.rawValue) == [1, 2])
    }
}
