public import RetentionVocabulary
// The identifiers a host declares up front. A record naming anything else is refused, so an
// "identifier" can never be a channel for content: the set of possible values is fixed before
// the first request arrives.

/// The workspaces, agents, models and providers a ledger accepts in records.
public struct IdentifierRegistry: Sendable, Hashable {
    /// Workspaces (tenants) that may appear in request-opened and policy records.
    public var workspaces: Set<Identifier>
    /// Agents that may appear in policy records.
    public var agents: Set<Identifier>
    /// Models that may appear in request-opened records.
    public var models: Set<Identifier>
    /// Upstream providers that may appear in egress records.
    public var providers: Set<Identifier>

    /// A registry; declare everything the host will ever name before opening the ledger.
    public init(
        workspaces: Set<Identifier> = [], agents: Set<Identifier> = [], models: Set<Identifier> = [],
        providers: Set<Identifier> = []
    ) {
        self.workspaces = workspaces
        self.agents = agents
        self.models = models
        self.providers = providers
    }

    /// Whether `identifier` is declared as a `kind`.
    public func contains(_ identifier: Identifier, as kind: IdentifierKind) -> Bool {
        switch kind {
        case .workspace: workspaces.contains(identifier)
        case .agent: agents.contains(identifier)
        case .model: models.contains(identifier)
        case .provider: providers.contains(identifier)
        }
    }

    /// Throws `undeclaredIdentifier` for the first identifier in `record` that is not declared,
    /// and `reservedRecordKind` for kinds only the ledger writes.
    public func validate(_ record: LedgerRecord) throws(LedgerError) {
        func require(_ identifier: Identifier, _ kind: IdentifierKind) throws(LedgerError) {
            guard contains(identifier, as: kind) else { throw .undeclaredIdentifier(kind) }
        }
        switch record.body {
        case .requestOpened(let r):
            try require(r.workspace, .workspace)
            try require(r.model, .model)
        case .upstreamEgress(let r):
            try require(r.provider, .provider)
        case .policyDecision(let r):
            // A refusal of an unknown name records `undeclared` in its place (never the name).
            if r.workspace != .undeclared { try require(r.workspace, .workspace) }
            if let agent = r.agent, agent != .undeclared { try require(agent, .agent) }
        case .usage, .discardReceipt, .serviceHealth, .witnessHealth:
            break
        case .keyRotation, .checkpoint, .softwareIdentity:
            throw .reservedRecordKind
        }
    }
}
