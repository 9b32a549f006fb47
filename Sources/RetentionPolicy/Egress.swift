public import RetentionVocabulary

/// Whether content may leave for an upstream provider, and what the ledger records about it
/// (provider, transfer mode, retention mode, covered).
public struct EgressDecision: Sendable, Hashable, CustomStringConvertible {
    /// The provider asked about.
    public let provider: Identifier
    /// How the content would move.
    public let transferMode: TransferMode
    /// The retention mode of the content, or `nil` when asked for a rejected request.
    public let retentionMode: RetentionMode?
    /// Whether the provider's terms cover ZDR for ``transferMode``; `false` for an unknown
    /// provider.
    public let covered: Bool
    /// Whether any byte may be sent.
    public let isAllowed: Bool
    /// Why; ``PolicyReason/egressCovered`` or ``PolicyReason/egressStandardRetention`` when
    /// allowed.
    public let reason: PolicyReason

    /// `realtime-llm streaming: allowed (egressCovered, 300), covered`.
    public var description: String {
        "\(provider) \(transferMode.policyName): \(isAllowed ? "allowed" : "refused") "
            + "(\(reason), \(reason.rawValue)), \(covered ? "covered" : "not covered")"
    }
}

extension RetentionPolicy {
    /// Whether content kept under `mode` may be sent to `provider` over `transferMode`. Call it
    /// before any byte leaves.
    ///
    /// An undeclared provider is refused in every mode. ZDR content goes only to a provider that
    /// covers ZDR for the transfer mode; content under ordinary retention may go to any declared
    /// provider.
    public func egress(
        for mode: RetentionMode, to provider: Identifier, transferMode: TransferMode
    ) -> EgressDecision {
        guard let declared = self.provider(provider) else {
            return EgressDecision(
                provider: provider, transferMode: transferMode, retentionMode: mode, covered: false,
                isAllowed: false, reason: .unknownProvider)
        }
        let covered = declared.zdrCoverage.contains(transferMode)
        let (allowed, reason): (Bool, PolicyReason) =
            switch mode {
            case .zeroDataRetention: covered ? (true, .egressCovered) : (false, .providerNotCovered)
            case .standard: (true, .egressStandardRetention)
            }
        return EgressDecision(
            provider: provider, transferMode: transferMode, retentionMode: mode, covered: covered,
            isAllowed: allowed, reason: reason)
    }

    /// Whether content of a decided request may be sent to `provider` over `transferMode`, for a
    /// request that talks to more than the upstream ``decide(_:)`` checked. A rejected decision
    /// refuses every egress.
    public func egress(
        for decision: Decision, to provider: Identifier, transferMode: TransferMode
    ) -> EgressDecision {
        guard let mode = decision.retentionMode else {
            return EgressDecision(
                provider: provider, transferMode: transferMode, retentionMode: nil,
                covered: self.provider(provider)?.zdrCoverage.contains(transferMode) ?? false,
                isAllowed: false, reason: .requestRejected)
        }
        return egress(for: mode, to: provider, transferMode: transferMode)
    }
}
