public import RetentionLedger
public import RetentionPolicy
public import RetentionVocabulary

// What the ledger records about a decision. The policy decides; these functions only translate
// the decision into ledger records, so the two cannot drift apart.

extension Decision {
    /// The ledger records for this decision about `request`, in the order they belong in the
    /// ledger: the policy decision always; the request-opened record only when the request was
    /// accepted (a rejected request opens nothing); an upstream-egress record when egress was
    /// checked and allowed.
    ///
    /// Every field is a number, an enum or an identifier the policy already validated; nothing
    /// from the request's content is involved.
    public func ledgerRecords(for request: PolicyRequest, requestID: RequestID) -> [LedgerRecord] {
        // A name the host never declared is the caller's string: the record says `undeclared`.
        let workspace = reason == .unknownWorkspace ? Identifier.undeclared : request.workspace
        let agent = reason == .unknownWorkspace ? nil : reason == .unknownAgent ? Identifier.undeclared : request.agent
        var records: [LedgerRecord] = [
            .policyDecision(PolicyDecisionRecord(
                requestID: requestID, workspace: workspace, agent: agent,
                outcome: outcome, reasonCode: reason.rawValue))
        ]
        if let retentionMode, isAccepted {
            records.append(.requestOpened(RequestOpenedRecord(
                requestID: requestID, workspace: request.workspace, product: request.product,
                model: request.model, retentionMode: retentionMode, dataClasses: request.dataClasses)))
        }
        if isAccepted, let egress, let record = egress.ledgerRecord(requestID: requestID) {
            records.append(record)
        }
        return records
    }
}

extension EgressDecision {
    /// The upstream-egress record for an allowed egress; `nil` when egress was refused (nothing
    /// left the process, so there is nothing to record beyond the policy decision).
    public func ledgerRecord(requestID: RequestID) -> LedgerRecord? {
        guard isAllowed else { return nil }
        return .upstreamEgress(UpstreamEgressRecord(
            requestID: requestID, provider: provider, mode: transferMode, coveredByZeroDataRetention: covered))
    }
}
