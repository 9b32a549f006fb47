public import RetentionVocabulary

/// A host's Zero Data Retention policy: which workspaces and agents have ZDR on, what is
/// eligible, which models and upstream providers ZDR covers, and what happens to ineligible
/// requests. A plain value: build it once, share it freely, and ask it pure questions with
/// ``decide(_:)`` and the egress checks (`egress(for:to:transferMode:)`).
///
/// Build one in a few lines; each step validates and a single `try` covers the chain:
///
/// ```swift
/// let policy = try RetentionPolicy()
///     .workspace("acme", zdr: true)
///     .agent("support-bot", in: "acme")
///     .workspace("beta", zdr: false)
///     .agent("beta-private", in: "beta", zdr: true)
///     .zdrModels(["tts-fast", "tts-max"], for: .textToSpeech)
///     .provider("realtime-llm", zdrCoverage: [.streaming])
///     .provider("third-party-llm", zdrCoverage: [])
/// ```
///
/// or load the same from JSON with ``init(json:)`` or ``init(contentsOfFile:)``.
public struct RetentionPolicy: Sendable, Hashable {
    /// What to do with a request that a ZDR level covers but that is not eligible (data class
    /// outside the matrix, or model outside the allowlist).
    public enum IneligibleHandling: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Refuse the request (the default): content that was promised ZDR is never retained.
        case reject = 1
        /// Process it with ordinary retention and record it as ineligible. A request that itself
        /// asked for ZDR is still refused: a per-request flag can only tighten.
        case processWithRetention = 2

        public var description: String {
            switch self {
            case .reject: "reject"
            case .processWithRetention: "processWithRetention"
            }
        }
    }

    /// A workspace (organization). With ``zdr`` on, every request in it is ZDR.
    public struct Workspace: Sendable, Hashable {
        /// The workspace's declared identifier.
        public let id: Identifier
        /// The workspace switch.
        public let zdr: Bool
        /// The workspace's agents (deployments), in declaration order.
        public internal(set) var agents: [Agent]
        var agentIndex: [Identifier: Int]

        init(id: Identifier, zdr: Bool) {
            self.id = id
            self.zdr = zdr
            self.agents = []
            self.agentIndex = [:]
        }

        /// The agent declared with `id`, if any.
        public func agent(_ id: Identifier) -> Agent? {
            agentIndex[id].map { agents[$0] }
        }
    }

    /// An agent or deployment inside a workspace.
    public struct Agent: Sendable, Hashable {
        /// The agent's declared identifier, unique within its workspace.
        public let id: Identifier
        /// `true` turns ZDR on for the agent, `false` asks for retention (refused in a ZDR
        /// workspace), `nil` inherits the workspace switch.
        public let zdr: Bool?
    }

    /// An upstream provider a request's content may be sent to.
    public struct Provider: Sendable, Hashable {
        /// The provider's declared identifier.
        public let id: Identifier
        /// The transfer modes for which the provider's own terms cover ZDR. Empty for a provider
        /// that does not offer ZDR (a third-party LLM, for instance).
        public let zdrCoverage: Set<TransferMode>
    }

    /// Declared workspaces, in declaration order.
    public private(set) var workspaces: [Workspace]
    /// Declared upstream providers, in declaration order.
    public private(set) var providers: [Provider]
    /// Which product × data class pairs are ZDR-eligible.
    public private(set) var eligibility: EligibilityMatrix
    /// Products whose ZDR is limited to named models. A product without an entry is covered for
    /// every model.
    public private(set) var zdrModels: [Product: Set<Identifier>]
    /// What happens to ineligible requests that a ZDR level covers.
    public private(set) var ineligibleHandling: IneligibleHandling

    var workspaceIndex: [Identifier: Int]
    var providerIndex: [Identifier: Int]

    /// An empty policy: no workspaces (so every request is rejected until one is declared), no
    /// providers, no model limits.
    ///
    /// - Parameters:
    ///   - eligibility: The ZDR eligibility matrix; ``standardEligibility`` by default.
    ///   - ineligible: What happens to ineligible requests under ZDR; ``IneligibleHandling/reject``
    ///     by default.
    public init(
        eligibility: EligibilityMatrix = RetentionPolicy.standardEligibility,
        ineligible: IneligibleHandling = .reject
    ) {
        self.workspaces = []
        self.providers = []
        self.eligibility = eligibility
        self.zdrModels = [:]
        self.ineligibleHandling = ineligible
        self.workspaceIndex = [:]
        self.providerIndex = [:]
    }

    /// The workspace declared with `id`, if any.
    public func workspace(_ id: Identifier) -> Workspace? {
        workspaceIndex[id].map { workspaces[$0] }
    }

    /// The provider declared with `id`, if any.
    public func provider(_ id: Identifier) -> Provider? {
        providerIndex[id].map { providers[$0] }
    }

    // MARK: Builder

    /// A copy with one more workspace.
    ///
    /// - Throws: `workspaces[i].id` ``PolicyConfigurationError/Kind/expected(_:)`` for a malformed
    ///   identifier, or ``PolicyConfigurationError/Kind/duplicateEntry`` when already declared.
    public func workspace(_ id: String, zdr: Bool) throws(PolicyConfigurationError) -> RetentionPolicy {
        let path = KeyPath.member(KeyPath.index("workspaces", workspaces.count), "id")
        let identifier = try KeyPath.identifier(id, at: path)
        guard workspaceIndex[identifier] == nil else {
            throw PolicyConfigurationError(path: path, kind: .duplicateEntry)
        }
        var copy = self
        copy.workspaceIndex[identifier] = copy.workspaces.count
        copy.workspaces.append(Workspace(id: identifier, zdr: zdr))
        return copy
    }

    /// A copy with one more agent in a workspace declared earlier.
    ///
    /// - Parameters:
    ///   - id: The agent's identifier, unique within the workspace.
    ///   - workspace: The identifier of a workspace declared earlier.
    ///   - zdr: `true` turns ZDR on for the agent; `false` asks for retention (requests are then
    ///     refused if the workspace has ZDR on); `nil`, the default, inherits the workspace.
    /// - Throws: ``PolicyConfigurationError/Kind/undeclaredWorkspace``, or an error at
    ///   `workspaces[i].agents[j].id` for a malformed or duplicate identifier.
    public func agent(
        _ id: String, in workspace: String, zdr: Bool? = nil
    ) throws(PolicyConfigurationError) -> RetentionPolicy {
        guard let workspaceID = Identifier(workspace), let workspaceOffset = workspaceIndex[workspaceID] else {
            throw PolicyConfigurationError(path: "workspaces", kind: .undeclaredWorkspace)
        }
        let owner = workspaces[workspaceOffset]
        let path = KeyPath.member(
            KeyPath.index(KeyPath.member(KeyPath.index("workspaces", workspaceOffset), "agents"), owner.agents.count),
            "id")
        let identifier = try KeyPath.identifier(id, at: path)
        guard owner.agentIndex[identifier] == nil else {
            throw PolicyConfigurationError(path: path, kind: .duplicateEntry)
        }
        var copy = self
        copy.workspaces[workspaceOffset].agentIndex[identifier] = owner.agents.count
        copy.workspaces[workspaceOffset].agents.append(Agent(id: identifier, zdr: zdr))
        return copy
    }

    /// A copy with one more upstream provider.
    ///
    /// - Parameters:
    ///   - id: The provider's identifier.
    ///   - zdrCoverage: The transfer modes for which the provider covers ZDR; empty when it
    ///     covers none. ZDR content is never routed to a mode outside this set.
    /// - Throws: an error at `providers[i].id` for a malformed or duplicate identifier.
    public func provider(
        _ id: String, zdrCoverage: Set<TransferMode>
    ) throws(PolicyConfigurationError) -> RetentionPolicy {
        let path = KeyPath.member(KeyPath.index("providers", providers.count), "id")
        let identifier = try KeyPath.identifier(id, at: path)
        guard providerIndex[identifier] == nil else {
            throw PolicyConfigurationError(path: path, kind: .duplicateEntry)
        }
        var copy = self
        copy.providerIndex[identifier] = copy.providers.count
        copy.providers.append(Provider(id: identifier, zdrCoverage: zdrCoverage))
        return copy
    }

    /// A copy in which ZDR for `product` covers only the named models.
    ///
    /// - Throws: an error at `zdrModels.<product>[i]` for a malformed or repeated identifier, or
    ///   ``PolicyConfigurationError/Kind/duplicateKey`` at `zdrModels.<product>` if the product
    ///   already has a list.
    public func zdrModels(
        _ models: [String], for product: Product
    ) throws(PolicyConfigurationError) -> RetentionPolicy {
        let listPath = KeyPath.member("zdrModels", product.policyName)
        guard zdrModels[product] == nil else {
            throw PolicyConfigurationError(path: listPath, kind: .duplicateKey)
        }
        var allowed: Set<Identifier> = []
        for (offset, model) in models.enumerated() {
            let path = KeyPath.index(listPath, offset)
            let identifier = try KeyPath.identifier(model, at: path)
            guard allowed.insert(identifier).inserted else {
                throw PolicyConfigurationError(path: path, kind: .duplicateEntry)
            }
        }
        var copy = self
        copy.zdrModels[product] = allowed
        return copy
    }

    /// A copy with a different eligibility matrix.
    public func eligibility(_ matrix: EligibilityMatrix) -> RetentionPolicy {
        var copy = self
        copy.eligibility = matrix
        return copy
    }

    /// A copy with different handling of ineligible requests under ZDR.
    public func ineligible(_ handling: IneligibleHandling) -> RetentionPolicy {
        var copy = self
        copy.ineligibleHandling = handling
        return copy
    }
}

/// Key-path spelling shared by the builder and the JSON loader, so both report the same path.
enum KeyPath {
    static func member(_ base: String, _ key: String) -> String {
        let shown = isPlainKey(key) ? key : "?"
        return base.isEmpty ? shown : base + "." + shown
    }

    static func index(_ base: String, _ offset: Int) -> String {
        base + "[\(offset)]"
    }

    static func identifier(_ text: String, at path: String) throws(PolicyConfigurationError) -> Identifier {
        guard let identifier = Identifier(text) else {
            throw PolicyConfigurationError(path: path, kind: .expected(.identifier))
        }
        guard !identifier.isReserved else { throw PolicyConfigurationError(path: path, kind: .reservedIdentifier) }
        return identifier
    }

    // A key is echoed only if it looks like a key: short ASCII letters, digits, `_` and `-`.
    // Anything else (long text, punctuation, non-ASCII) could be content, so it shows as `?`.
    private static func isPlainKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard (1...64).contains(utf8.count) else { return false }
        return utf8.allSatisfy { char in
            switch char {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }
}
