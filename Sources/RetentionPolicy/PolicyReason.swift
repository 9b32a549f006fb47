// The numbers the ledger stores for a policy decision. Raw values are part of the ledger format:
// add cases, never renumber or reuse a retired number.

/// Why the policy decided what it did. One stable number space shared by request decisions and
/// egress checks, so a ledger record names its reason with a single `UInt16`.
///
/// Ranges: 1–99 accepted, 100–199 refused, 200–299 accepted with retention, 300–399 egress
/// allowed.
public enum PolicyReason: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// ZDR applies because the workspace turned it on.
    case zdrByWorkspace = 1
    /// ZDR applies because the agent (deployment) turned it on.
    case zdrByAgent = 2
    /// ZDR applies because the request asked for it (e.g. `enable_logging=false`).
    case zdrByRequest = 3
    /// No level asked for ZDR; the provider's ordinary retention applies.
    case zdrNotRequested = 4

    /// The workspace is not declared in the policy.
    case unknownWorkspace = 100
    /// The agent is not declared in the request's workspace.
    case unknownAgent = 101
    /// The request named no data class, so eligibility cannot be decided.
    case noDataClasses = 102
    /// The agent turns ZDR off in a workspace that has it on.
    case agentLoosensWorkspace = 103
    /// The request asks for retention in a workspace that has ZDR on.
    case requestLoosensWorkspace = 104
    /// The request asks for retention for an agent that has ZDR on.
    case requestLoosensAgent = 105
    /// At least one of the request's data classes is not ZDR-eligible for its product.
    case dataClassIneligible = 106
    /// ZDR for this product is limited to named models and the request's model is not one.
    case modelNotCovered = 107
    /// The upstream provider is not declared in the policy.
    case unknownProvider = 108
    /// The upstream provider does not cover ZDR for this transfer mode.
    case providerNotCovered = 109
    /// Egress was asked for a request the policy had already rejected.
    case requestRejected = 110

    /// Ineligible data class, processed with retention because the host configured that.
    case dataClassIneligibleRetained = 200
    /// Model outside the ZDR allowlist, processed with retention because the host configured that.
    case modelNotCoveredRetained = 201

    /// Egress allowed: ZDR content to a provider that covers ZDR for the transfer mode.
    case egressCovered = 300
    /// Egress allowed: content under ordinary retention to a declared provider.
    case egressStandardRetention = 301

    public var description: String {
        switch self {
        case .zdrByWorkspace: "zdrByWorkspace"
        case .zdrByAgent: "zdrByAgent"
        case .zdrByRequest: "zdrByRequest"
        case .zdrNotRequested: "zdrNotRequested"
        case .unknownWorkspace: "unknownWorkspace"
        case .unknownAgent: "unknownAgent"
        case .noDataClasses: "noDataClasses"
        case .agentLoosensWorkspace: "agentLoosensWorkspace"
        case .requestLoosensWorkspace: "requestLoosensWorkspace"
        case .requestLoosensAgent: "requestLoosensAgent"
        case .dataClassIneligible: "dataClassIneligible"
        case .modelNotCovered: "modelNotCovered"
        case .unknownProvider: "unknownProvider"
        case .providerNotCovered: "providerNotCovered"
        case .requestRejected: "requestRejected"
        case .dataClassIneligibleRetained: "dataClassIneligibleRetained"
        case .modelNotCoveredRetained: "modelNotCoveredRetained"
        case .egressCovered: "egressCovered"
        case .egressStandardRetention: "egressStandardRetention"
        }
    }
}

/// Which level turned ZDR on for a request. When several did, the highest level is named:
/// workspace, then agent, then request.
public enum ZDRSource: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The workspace (organization) switch.
    case workspace = 1
    /// The agent (deployment) switch.
    case agent = 2
    /// The per-request flag.
    case request = 3

    public var description: String {
        switch self {
        case .workspace: "workspace"
        case .agent: "agent"
        case .request: "request"
        }
    }
}

/// One item of the metadata a request leaves behind. The list is the same whatever the
/// retention mode or outcome: ZDR changes what happens to content, never what metadata is kept.
public enum RetainedField: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The vault-generated `RequestID`.
    case requestID = 1
    /// Usage totals (characters, seconds of audio, tokens): counts, never content.
    case usageTotals = 2
    /// The workspace identifier.
    case workspace = 3
    /// Service health (status codes, error categories).
    case serviceHealth = 4
    /// Request duration.
    case duration = 5
    /// The model identifier.
    case modelID = 6
    /// Start and end timestamps.
    case timestamps = 7

    /// Every retained field, in raw-value order. Nothing outside this list is retained.
    public static let metadataList: [RetainedField] = RetainedField.allCases

    public var description: String {
        switch self {
        case .requestID: "requestID"
        case .usageTotals: "usageTotals"
        case .workspace: "workspace"
        case .serviceHealth: "serviceHealth"
        case .duration: "duration"
        case .modelID: "modelID"
        case .timestamps: "timestamps"
        }
    }
}
