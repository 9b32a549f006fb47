// The identifiers a host declares up front. A record naming anything else is refused, so an
// "identifier" can never be a channel for content: the set of possible values is fixed before
// the first request arrives.

/// The workspaces, agents, models and providers a ledger accepts in records.
public struct IdentifierRegistry: Sendable, Hashable {
    public var workspaces: Set<Identifier>
    public var agents: Set<Identifier>
    public var models: Set<Identifier>
    public var providers: Set<Identifier>

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
            try require(r.workspace, .workspace)
            if let agent = r.agent { try require(agent, .agent) }
        case .usage, .discardReceipt, .serviceHealth:
            break
        case .keyRotation, .checkpoint:
            throw .reservedRecordKind
        }
    }
}
