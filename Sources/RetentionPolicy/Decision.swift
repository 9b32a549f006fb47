public import RetentionVocabulary

/// The per-request switches a caller sent.
public struct RequestFlags: Sendable, Hashable, CustomStringConvertible {
    /// `true` asks for ZDR for this request only (ElevenLabs' `enable_logging=false`); `false`
    /// explicitly asks for retention (`enable_logging=true`), which a ZDR workspace or agent
    /// refuses; `nil` means the caller said nothing.
    public var zdr: Bool?

    /// Flags with the ZDR switch set, or unspecified.
    public init(zdr: Bool? = nil) {
        self.zdr = zdr
    }

    /// Maps an `enable_logging`-style flag: logging off means ZDR on.
    public init(enableLogging: Bool?) {
        self.zdr = enableLogging.map { !$0 }
    }

    /// The caller sent no switch.
    public static let none = RequestFlags()

    public var description: String {
        switch zdr {
        case nil: "zdr: unspecified"
        case true?: "zdr: on"
        case false?: "zdr: off"
        }
    }
}

/// Where a request's content would be sent upstream, and how.
public struct Upstream: Sendable, Hashable, CustomStringConvertible {
    /// The provider's declared identifier.
    public var provider: Identifier
    /// Whether the content goes as one request or as a stream.
    public var transferMode: TransferMode

    /// An upstream route.
    public init(provider: Identifier, transferMode: TransferMode) {
        self.provider = provider
        self.transferMode = transferMode
    }

    public var description: String { "\(provider) (\(transferMode.policyName))" }
}

/// Everything the policy looks at to decide about one request: identifiers and enums only.
public struct PolicyRequest: Sendable, Hashable {
    /// The workspace the request belongs to.
    public var workspace: Identifier
    /// The agent or deployment serving the request, if any.
    public var agent: Identifier?
    /// The caller's per-request switches.
    public var flags: RequestFlags
    /// What the request is for.
    public var product: Product
    /// Every kind of content the request carries or produces.
    public var dataClasses: Set<DataClass>
    /// The model that serves the request.
    public var model: Identifier
    /// The upstream provider the content goes to, or `nil` when the host serves it itself.
    public var upstream: Upstream?

    /// A request description; only `workspace`, `product`, `dataClasses` and `model` are required.
    public init(
        workspace: Identifier,
        agent: Identifier? = nil,
        flags: RequestFlags = .none,
        product: Product,
        dataClasses: Set<DataClass>,
        model: Identifier,
        upstream: Upstream? = nil
    ) {
        self.workspace = workspace
        self.agent = agent
        self.flags = flags
        self.product = product
        self.dataClasses = dataClasses
        self.model = model
        self.upstream = upstream
    }
}

/// The policy's answer for one request: what happens, why, and what the ledger records.
public struct Decision: Sendable, Hashable, CustomStringConvertible {
    /// Accepted, rejected, or accepted with retention.
    public let outcome: PolicyOutcome
    /// Why; the ledger stores `reason.rawValue`.
    public let reason: PolicyReason
    /// How the request's content is kept, or `nil` when the request is rejected and no content
    /// may be read at all.
    public let retentionMode: RetentionMode?
    /// The level that turned ZDR on, also when the request was then rejected or retained, so the
    /// ledger shows that ZDR was asked for. `nil` when no level asked for it or the decision
    /// stopped before the levels were known (unknown workspace or agent).
    public let zdrSource: ZDRSource?
    /// The request's data classes that are not ZDR-eligible for its product; empty unless the
    /// reason is about eligibility.
    public let ineligibleClasses: Set<DataClass>
    /// The upstream check made for ``PolicyRequest/upstream``, if there was one.
    public let egress: EgressDecision?

    /// Whether the request may open a scope.
    public var isAccepted: Bool { outcome != .rejected }

    /// The metadata the request leaves behind: the same list in every mode and outcome.
    public var retainedMetadata: [RetainedField] { RetainedField.metadataList }

    init(
        outcome: PolicyOutcome,
        reason: PolicyReason,
        retentionMode: RetentionMode?,
        zdrSource: ZDRSource?,
        ineligibleClasses: Set<DataClass> = [],
        egress: EgressDecision? = nil
    ) {
        self.outcome = outcome
        self.reason = reason
        self.retentionMode = retentionMode
        self.zdrSource = zdrSource
        self.ineligibleClasses = ineligibleClasses
        self.egress = egress
    }

    static func rejected(
        _ reason: PolicyReason, zdrSource: ZDRSource?, ineligibleClasses: Set<DataClass> = [],
        egress: EgressDecision? = nil
    ) -> Decision {
        Decision(
            outcome: .rejected, reason: reason, retentionMode: nil, zdrSource: zdrSource,
            ineligibleClasses: ineligibleClasses, egress: egress)
    }

    /// `accepted (zdrByWorkspace, 1), mode zeroDataRetention`: names and numbers only.
    public var description: String {
        var text = "\(outcome) (\(reason), \(reason.rawValue))"
        if let retentionMode { text += ", mode \(retentionMode.policyName)" }
        if let zdrSource { text += ", zdr from \(zdrSource)" }
        if !ineligibleClasses.isEmpty {
            let names = ineligibleClasses.sorted { $0.rawValue < $1.rawValue }.map(\.policyName)
            text += ", ineligible \(names.joined(separator: ", "))"
        }
        if let egress { text += ", egress \(egress)" }
        return text
    }
}

extension RetentionPolicy {
    /// Decides whether a request may open a scope and under which retention mode. Pure: the same
    /// policy and request always give the same decision.
    ///
    /// The rules, in order:
    /// 1. The workspace, and the agent if named, must be declared.
    /// 2. Switches only tighten: an agent with ZDR off in a ZDR workspace, or a request asking for
    ///    retention under a ZDR workspace or agent, is rejected.
    /// 3. The request must name at least one data class.
    /// 4. If any level turns ZDR on, every data class must be eligible for the product and the
    ///    model must be on the product's allowlist, if it has one. Otherwise the request is
    ///    rejected, or — if ``ineligibleHandling`` is ``IneligibleHandling/processWithRetention``
    ///    and the request did not itself ask for ZDR — accepted with retention.
    /// 5. With an upstream, the egress check (`egress(for:to:transferMode:)`) must allow it,
    ///    before any byte leaves.
    ///
    /// ```swift
    /// let decision = policy.decide(PolicyRequest(
    ///     workspace: acme, flags: RequestFlags(enableLogging: false),
    ///     product: .textToSpeech, dataClasses: [.textInput, .audioOutput], model: ttsFast))
    /// guard decision.isAccepted else { return refuse(decision.reason) }
    /// ```
    public func decide(_ request: PolicyRequest) -> Decision {
        guard let workspace = workspace(request.workspace) else {
            return .rejected(.unknownWorkspace, zdrSource: nil)
        }
        var agent: Agent?
        if let agentID = request.agent {
            guard let declared = workspace.agent(agentID) else {
                return .rejected(.unknownAgent, zdrSource: nil)
            }
            agent = declared
        }

        let source: ZDRSource? =
            if workspace.zdr { .workspace }
            else if agent?.zdr == true { .agent }
            else if request.flags.zdr == true { .request }
            else { nil }

        // Conflicts come first: an attempt to loosen ZDR is the fact the ledger must show.
        if workspace.zdr, agent?.zdr == false {
            return .rejected(.agentLoosensWorkspace, zdrSource: source)
        }
        if request.flags.zdr == false {
            if workspace.zdr { return .rejected(.requestLoosensWorkspace, zdrSource: source) }
            if agent?.zdr == true { return .rejected(.requestLoosensAgent, zdrSource: source) }
        }
        guard !request.dataClasses.isEmpty else {
            return .rejected(.noDataClasses, zdrSource: source)
        }

        guard let source else {
            return finish(request, mode: .standard, outcome: .accepted, reason: .zdrNotRequested, source: nil)
        }

        // A caller that asked for ZDR itself is never given retention instead.
        let mayRetain = ineligibleHandling == .processWithRetention && request.flags.zdr != true
        let ineligible = request.dataClasses.filter { !eligibility.isEligible(request.product, $0) }
        if !ineligible.isEmpty {
            guard mayRetain else {
                return .rejected(.dataClassIneligible, zdrSource: source, ineligibleClasses: ineligible)
            }
            return finish(
                request, mode: .standard, outcome: .acceptedWithRetention,
                reason: .dataClassIneligibleRetained, source: source, ineligible: ineligible)
        }
        if let allowed = zdrModels[request.product], !allowed.contains(request.model) {
            guard mayRetain else { return .rejected(.modelNotCovered, zdrSource: source) }
            return finish(
                request, mode: .standard, outcome: .acceptedWithRetention,
                reason: .modelNotCoveredRetained, source: source)
        }

        let reason: PolicyReason =
            switch source {
            case .workspace: .zdrByWorkspace
            case .agent: .zdrByAgent
            case .request: .zdrByRequest
            }
        return finish(request, mode: .zeroDataRetention, outcome: .accepted, reason: reason, source: source)
    }

    /// The positional form of ``decide(_:)``.
    public func decide(
        workspace: Identifier, agent: Identifier? = nil, flags: RequestFlags = .none,
        product: Product, dataClasses: Set<DataClass>, model: Identifier, upstream: Upstream? = nil
    ) -> Decision {
        decide(PolicyRequest(
            workspace: workspace, agent: agent, flags: flags, product: product,
            dataClasses: dataClasses, model: model, upstream: upstream))
    }

    // The last step of an accepting path: the upstream, if any, must take content in this mode.
    private func finish(
        _ request: PolicyRequest, mode: RetentionMode, outcome: PolicyOutcome, reason: PolicyReason,
        source: ZDRSource?, ineligible: Set<DataClass> = []
    ) -> Decision {
        var egressDecision: EgressDecision?
        if let upstream = request.upstream {
            let checked = egress(for: mode, to: upstream.provider, transferMode: upstream.transferMode)
            guard checked.isAllowed else {
                return .rejected(checked.reason, zdrSource: source, ineligibleClasses: ineligible, egress: checked)
            }
            egressDecision = checked
        }
        return Decision(
            outcome: outcome, reason: reason, retentionMode: mode, zdrSource: source,
            ineligibleClasses: ineligible, egress: egressDecision)
    }
}
