public import RetentionLedger
public import RetentionPolicy
import Synchronization
public import ContentVault
public import RetentionVocabulary

/// A vault whose every request is decided by the retention policy and recorded in the ledger.
///
/// This is the front door a server uses: it asks the policy whether a request may open a scope,
/// records the decision (and, when accepted, the opening) in the ledger *before* any content is
/// read, refuses rejected requests with the policy's reason, checks upstream egress before any
/// byte leaves, records usage, and appends every discard receipt the vault produces.
///
/// ```swift
/// let audited = try AuditedVault(vault: vault, policy: policy, ledger: ledger)
/// let admitted = try audited.open(PolicyRequest(
///     workspace: workspace, agent: nil, flags: RequestFlags(enableLogging: false),
///     product: .textToSpeech, dataClasses: [.textInput, .audioOutput], model: model))
/// try admitted.scope.append(to: .textInput, copying: body)
/// …
/// try audited.recordUsage(of: admitted, [UsageCount(unit: .characters, count: 120)])
/// admitted.scope.discard(reason: .completed)   // the receipt goes to the ledger
/// ```
public final class AuditedVault: Sendable {
    /// The vault that holds the content.
    public let vault: Vault
    /// The policy that decides which requests may open a scope.
    public let policy: RetentionPolicy
    /// Where decisions, openings, egress, usage and receipts are recorded.
    public let ledger: Ledger
    private let receiptFailures = FailureCounter()

    /// Connects the three. Installs a receipt handler on `vault` that appends each
    /// `DiscardReceipt` to `ledger` (replacing any handler set before).
    public init(vault: Vault, policy: RetentionPolicy, ledger: Ledger) {
        self.vault = vault
        self.policy = policy
        self.ledger = ledger
        vault.setReceiptHandler { [ledger, receiptFailures] receipt in
            do {
                try ledger.append(.discardReceipt(receipt))
            } catch {
                // A receipt that cannot be recorded is counted and surfaced; the ledger also
                // refuses every later call after an I/O failure, so `flush()` reports it too.
                receiptFailures.count.add(1, ordering: .relaxed)
            }
        }
    }

    /// Discard receipts the ledger refused to record. Non-zero means the audit trail is
    /// incomplete: alert on it.
    public var unrecordedReceipts: Int { receiptFailures.count.load(ordering: .relaxed) }

    /// Decides `request`, records the decision, and opens a scope when the policy accepts it.
    ///
    /// The ledger records are appended before the scope exists, so a request that gets content
    /// into the vault always has its decision and opening in the ledger.
    ///
    /// - Throws: ``AuditedVaultError/rejected(reason:)`` when the policy refuses (the refusal is
    ///   recorded), ``AuditedVaultError/ledger(_:)`` when the ledger cannot record (no scope is
    ///   opened: fail closed), ``AuditedVaultError/vault(_:)`` when the vault cannot open one.
    public func open(_ request: PolicyRequest, timeToLive: Duration? = nil) throws(AuditedVaultError) -> AdmittedRequest {
        switch try admit(request, timeToLive: timeToLive) {
        case .admitted(let admitted): return admitted
        case .rejected(let reason, _): throw .rejected(reason: reason)
        }
    }

    /// ``open(_:timeToLive:)`` for a server that answers every request with its request id,
    /// refusals included: a rejection is a value carrying the id the ledger recorded it under.
    ///
    /// A workspace or agent the policy does not declare is refused (`unknownWorkspace`,
    /// `unknownAgent`) and recorded as `Identifier.undeclared`, never under
    /// the caller's name.
    ///
    /// - Throws: ``AuditedVaultError/ledger(_:)`` when the ledger cannot record (fail closed),
    ///   ``AuditedVaultError/vault(_:)`` when the vault cannot open a scope or make an id.
    public func admit(_ request: PolicyRequest, timeToLive: Duration? = nil) throws(AuditedVaultError) -> Admission {
        let id: RequestID
        do { id = try Vault.makeRequestID() } catch { throw .vault(error) }
        let decision = policy.decide(request)
        do {
            for record in decision.ledgerRecords(for: request, requestID: id) {
                try ledger.append(record)
            }
        } catch {
            throw .ledger(error)
        }
        guard decision.isAccepted else { return .rejected(reason: decision.reason, requestID: id) }
        do {
            let scope = try vault.openScope(requestID: id, timeToLive: timeToLive)
            return .admitted(AdmittedRequest(scope: scope, decision: decision, request: request))
        } catch {
            throw .vault(error)
        }
    }

    /// A fresh request id for a response that opened no scope and recorded nothing (a health
    /// check, a 404, a malformed header), so that every response can name one; no ledger record
    /// will carry it.
    public static func makeUnrecordedRequestID() throws(AuditedVaultError) -> RequestID {
        do { return try Vault.makeRequestID() } catch { throw .vault(error) }
    }

    /// Checks egress of `admitted`'s content to `provider` before any byte leaves, and records
    /// allowed egress in the ledger.
    ///
    /// - Throws: ``AuditedVaultError/egressRefused(reason:)`` when the provider is unknown or does
    ///   not cover this mode for ZDR content.
    public func authorizeEgress(
        of admitted: AdmittedRequest, to provider: Identifier, transferMode: TransferMode
    ) throws(AuditedVaultError) {
        let egress = policy.egress(for: admitted.decision, to: provider, transferMode: transferMode)
        guard let record = egress.ledgerRecord(requestID: admitted.scope.id) else {
            throw .egressRefused(reason: egress.reason)
        }
        do { try ledger.append(record) } catch { throw .ledger(error) }
    }

    /// Records usage totals (characters, tokens, audio milliseconds, bytes) for `admitted`.
    public func recordUsage(of admitted: AdmittedRequest, _ counts: [UsageCount]) throws(AuditedVaultError) {
        do {
            try ledger.append(.usage(UsageRecord(requestID: admitted.scope.id, counts: counts)))
        } catch {
            throw .ledger(error)
        }
    }
}

extension AuditedVault: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The vault's and the ledger's own short descriptions; never content, internals or addresses.
    public var description: String { "AuditedVault(\(vault), \(ledger), \(unrecordedReceipts) unrecorded receipts)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["vault": vault, "ledger": ledger, "unrecordedReceipts": unrecordedReceipts],
               displayStyle: .class)
    }
}

/// Shared between the vault's receipt handler and the ``AuditedVault`` that installed it.
private final class FailureCounter: Sendable {
    let count = Atomic<Int>(0)
}

/// A request the policy accepted, with its open scope.
public struct AdmittedRequest: Sendable {
    /// The scope holding the request's content. Discard it when the request ends.
    public let scope: RequestScope
    /// The policy's decision (retention mode, reason, where ZDR came from).
    public let decision: Decision
    /// The request as decided.
    public let request: PolicyRequest
}

/// What ``AuditedVault/admit(_:timeToLive:)`` decided.
public enum Admission: Sendable {
    /// The policy accepted the request; its scope is open.
    case admitted(AdmittedRequest)
    /// The policy refused it, for `reason`; the refusal is in the ledger under `requestID`.
    case rejected(reason: PolicyReason, requestID: RequestID)

    /// The id the decision is recorded under.
    public var requestID: RequestID {
        switch self {
        case .admitted(let admitted): admitted.scope.id
        case .rejected(_, let requestID): requestID
        }
    }
}

/// Why ``AuditedVault`` refused. Content-free: reasons, ledger and vault errors only.
public enum AuditedVaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The policy rejected the request; the rejection is in the ledger.
    case rejected(reason: PolicyReason)
    /// The policy refused egress to that provider or mode.
    case egressRefused(reason: PolicyReason)
    /// The ledger could not record; nothing was opened or sent.
    case ledger(LedgerError)
    /// The vault could not open a scope.
    case vault(VaultError)

    public var description: String {
        switch self {
        case .rejected(let reason): "request rejected by the retention policy: \(reason)"
        case .egressRefused(let reason): "egress refused by the retention policy: \(reason)"
        case .ledger(let error): "ledger: \(error)"
        case .vault(let error): "vault: \(error)"
        }
    }
}
