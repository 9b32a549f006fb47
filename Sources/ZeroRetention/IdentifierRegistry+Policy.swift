public import RetentionLedger
public import RetentionPolicy
public import RetentionVocabulary

extension IdentifierRegistry {
    /// Every name `policy` declares: its workspaces, their agents, its providers and the models
    /// it covers for ZDR, plus `additionalModels` the host also serves outside ZDR. Derived, so a
    /// server declares each name once, in its policy.
    public init(declaredBy policy: RetentionPolicy, additionalModels: Set<Identifier> = []) {
        self.init(
            workspaces: Set(policy.workspaces.map(\.id)),
            agents: Set(policy.workspaces.flatMap { $0.agents.map(\.id) }),
            models: policy.zdrModels.values.reduce(into: additionalModels) { $0.formUnion($1) },
            providers: Set(policy.providers.map(\.id)))
    }
}
