import RetentionVocabulary
import RetentionPolicy
import Testing

/// A policy as plain data, so a case can be rebuilt with one switch changed.
struct PolicySpec {
    struct WorkspaceSpec {
        var name: String
        var zdr: Bool
        var agents: [(name: String, zdr: Bool?)]
    }

    var workspaces: [WorkspaceSpec]
    var providers: [(name: String, coverage: Set<TransferMode>)]
    var models: [(Product, [String])]
    var eligibility: EligibilityMatrix
    var handling: RetentionPolicy.IneligibleHandling

    func build() throws -> RetentionPolicy {
        var policy = RetentionPolicy(eligibility: eligibility, ineligible: handling)
        for (product, names) in models { policy = try policy.zdrModels(names, for: product) }
        for provider in providers { policy = try policy.provider(provider.name, zdrCoverage: provider.coverage) }
        for workspace in workspaces {
            policy = try policy.workspace(workspace.name, zdr: workspace.zdr)
            for agent in workspace.agents { policy = try policy.agent(agent.name, in: workspace.name, zdr: agent.zdr) }
        }
        return policy
    }
}

/// Random policies and requests over small name pools, so that requests often hit declared
/// workspaces, agents, models and providers, and sometimes miss them.
struct PolicyCaseGenerator {
    var random: SplitMix64

    static let workspaceNames = ["w0", "w1", "w2"]
    static let agentNames = ["a0", "a1", "a2"]
    static let modelNames = ["m0", "m1", "m2"]
    static let providerNames = ["p0", "p1", "p2"]

    mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        random.next(upperBound: denominator) < numerator
    }

    mutating func pick<T>(_ values: [T]) -> T {
        values[Int(random.next(upperBound: UInt64(values.count)))]
    }

    mutating func subset<T: Hashable>(
        _ values: some Sequence<T>, keeping numerator: UInt64 = 1, in denominator: UInt64 = 2
    ) -> Set<T> {
        var result: Set<T> = []
        for value in values where chance(numerator, in: denominator) { result.insert(value) }
        return result
    }

    /// A declared name most of the time, an undeclared one about one time in eight.
    mutating func name(_ pool: [String], unknown: String) -> String {
        chance(1, in: 8) ? unknown : pick(pool)
    }

    mutating func optionalBool() -> Bool? {
        pick([nil, true, false])
    }

    mutating func policy() -> PolicySpec {
        var eligibility = RetentionPolicy.standardEligibility
        if chance(1, in: 4) {
            eligibility = EligibilityMatrix()
            for product in Product.allCases {
                eligibility = eligibility.allowing(subset(DataClass.allCases, keeping: 3, in: 4), for: product)
            }
        }
        let workspaces = Self.workspaceNames.filter { _ in chance(3, in: 4) }.map { name in
            PolicySpec.WorkspaceSpec(
                name: name, zdr: chance(1, in: 2),
                agents: Self.agentNames.filter { _ in chance(2, in: 3) }.map { ($0, optionalBool()) })
        }
        let providers = Self.providerNames.filter { _ in chance(2, in: 3) }.map { ($0, subset(TransferMode.allCases)) }
        let models = Product.allCases.filter { _ in chance(1, in: 4) }.map { product in
            (product, Array(subset(Self.modelNames, keeping: 3, in: 4)).sorted())
        }
        return PolicySpec(
            workspaces: workspaces, providers: providers, models: models, eligibility: eligibility,
            handling: pick(RetentionPolicy.IneligibleHandling.allCases))
    }

    mutating func request() -> PolicyRequest {
        let workspace = name(Self.workspaceNames, unknown: "w-unknown")
        let agent: String? = chance(1, in: 3) ? nil : name(Self.agentNames, unknown: "a-unknown")
        // Mostly eligible-looking requests, so the interesting paths are reached often.
        let product = pick(chance(1, in: 2) ? Product.allCases : [.textToSpeech, .speechToText, .languageModel])
        var classes = subset(RetentionPolicy.standardEligibility.eligibleClasses(for: product))
        if chance(1, in: 4) || (classes.isEmpty && chance(7, in: 8)) {
            classes.insert(pick(DataClass.allCases))
        }
        var upstream: Upstream?
        if chance(1, in: 2) {
            let provider = id(name(Self.providerNames, unknown: "p-unknown"))
            upstream = Upstream(provider: provider, transferMode: pick(TransferMode.allCases))
        }
        return PolicyRequest(
            workspace: id(workspace), agent: agent.map { id($0) }, flags: .none, product: product,
            dataClasses: classes, model: id(name(Self.modelNames, unknown: "m-unlisted")), upstream: upstream)
    }
}

@Suite("Tighten-only invariant")
struct TightenOnlyPropertyTests {
    static let caseCount = 4_000

    @Test("A request flag never retains more than the request without it")
    func requestFlagOnlyTightens() throws {
        var generator = PolicyCaseGenerator(random: SplitMix64(seed: 0x5EED_0001))
        var upperZDRCases = 0
        for _ in 0..<Self.caseCount {
            let spec = generator.policy()
            let policy = try spec.build()
            var request = generator.request()
            let unflagged = policy.decide(request)

            request.flags = RequestFlags(zdr: true)
            let tightened = policy.decide(request)
            request.flags = RequestFlags(zdr: false)
            let loosened = policy.decide(request)

            #expect(retentionRank(tightened) <= retentionRank(unflagged), "\(unflagged) -> \(tightened)")
            #expect(retentionRank(loosened) <= retentionRank(unflagged), "\(unflagged) -> \(loosened)")
            // Asking for ZDR never ends in retained content, whatever the host's fallback.
            #expect(tightened.retentionMode != .standard, "\(tightened)")

            // Under a ZDR workspace or agent, asking for retention is always refused.
            if let workspace = policy.workspace(request.workspace) {
                let agent = request.agent.flatMap { workspace.agent($0) }
                if workspace.zdr || agent?.zdr == true, request.agent == nil || agent != nil {
                    upperZDRCases += 1
                    #expect(loosened.outcome == .rejected, "\(loosened)")
                } else {
                    // Without a ZDR level above it, the explicit "no ZDR" changes nothing.
                    #expect(loosened == unflagged)
                }
            }
        }
        // The generator must reach the interesting branch often, or the property says little.
        #expect(upperZDRCases > Self.caseCount / 5)
    }

    @Test("An agent switch never retains more than inheriting the workspace")
    func agentSwitchOnlyTightens() throws {
        var generator = PolicyCaseGenerator(random: SplitMix64(seed: 0x5EED_0002))
        var checked = 0
        for _ in 0..<Self.caseCount {
            var spec = generator.policy()
            var request = generator.request()
            request.flags = RequestFlags(zdr: generator.optionalBool())
            guard let workspaceOffset = spec.workspaces.firstIndex(where: { id($0.name) == request.workspace }),
                let agentName = request.agent,
                let agentOffset = spec.workspaces[workspaceOffset].agents.firstIndex(where: { id($0.name) == agentName })
            else { continue }
            checked += 1

            func decide(agentZDR: Bool?) throws -> Decision {
                spec.workspaces[workspaceOffset].agents[agentOffset].zdr = agentZDR
                return try spec.build().decide(request)
            }
            let inheriting = try decide(agentZDR: nil)
            let on = try decide(agentZDR: true)
            let off = try decide(agentZDR: false)

            #expect(retentionRank(on) <= retentionRank(inheriting), "\(inheriting) -> \(on)")
            #expect(retentionRank(off) <= retentionRank(inheriting), "\(inheriting) -> \(off)")
            if spec.workspaces[workspaceOffset].zdr {
                #expect(off.outcome == .rejected && off.reason == .agentLoosensWorkspace, "\(off)")
            }
        }
        #expect(checked > Self.caseCount / 10)
    }

    @Test("ZDR acceptance implies eligibility, allowlist and covered egress")
    func zdrAcceptanceIsSound() throws {
        var generator = PolicyCaseGenerator(random: SplitMix64(seed: 0x5EED_0003))
        var accepted = 0
        for _ in 0..<Self.caseCount {
            let policy = try generator.policy().build()
            var request = generator.request()
            request.flags = RequestFlags(zdr: generator.optionalBool())
            let decision = policy.decide(request)

            #expect(decision.retainedMetadata == expectedRetainedMetadata)
            #expect(decision == policy.decide(request), "decisions are pure")
            switch (decision.outcome, decision.retentionMode) {
            case (.accepted, .zeroDataRetention?):
                accepted += 1
                #expect(decision.zdrSource != nil)
                for dataClass in request.dataClasses {
                    #expect(policy.eligibility.isEligible(request.product, dataClass))
                }
                if let allowed = policy.zdrModels[request.product] { #expect(allowed.contains(request.model)) }
                if let upstream = request.upstream {
                    #expect(policy.provider(upstream.provider)?.zdrCoverage.contains(upstream.transferMode) == true)
                    #expect(decision.egress?.reason == .egressCovered)
                }
            case (.accepted, .standard?):
                #expect(decision.zdrSource == nil && decision.reason == .zdrNotRequested)
            case (.acceptedWithRetention, .standard?):
                #expect(policy.ineligibleHandling == .processWithRetention)
                #expect(request.flags.zdr != true)
            case (.rejected, nil):
                #expect(decision.reason.rawValue >= 100 && decision.reason.rawValue < 200)
            default:
                Issue.record("outcome and retention mode disagree: \(decision)")
            }
            if let upstream = request.upstream, decision.isAccepted {
                #expect(policy.provider(upstream.provider) != nil, "unknown providers are always refused")
            }
        }
        #expect(accepted > Self.caseCount / 20)
    }
}
