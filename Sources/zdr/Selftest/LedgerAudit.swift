import ZeroRetention
import RetentionLedger

/// What an auditor would check after a run: the whole ledger verifies under the pinned key, and
/// every request has a discard receipt whose bundle verifies offline and whose wipe was verified.
struct LedgerAudit: Sendable {
    /// Why a receipt did not pass.
    enum ReceiptProblem: Sendable, Equatable {
        case missing
        case invalid(String)
        case otherRequest
        /// The receipt says fewer bytes were read back as zero than were held.
        case wipeNotVerified(held: UInt64, verifiedZero: UInt64)

        var description: String {
            switch self {
            case .missing: "no receipt covered by a signed checkpoint"
            case .invalid(let reason): "bundle invalid: \(reason)"
            case .otherRequest: "bundle is for another request"
            case .wipeNotVerified(let held, let verified): "\(verified) of \(held) bytes verified zero"
            }
        }
    }

    var ledgerValid = false
    var ledgerError: String?
    var records: UInt64 = 0
    var checkpoints = 0
    var receiptsChecked = 0
    var receiptsVerified = 0
    var bytesHeld: UInt64 = 0
    var bytesVerifiedZero: UInt64 = 0
    /// The first few problems (request id text, problem).
    var problems: [(String, ReceiptProblem)] = []

    var passed: Bool { ledgerValid && receiptsVerified == receiptsChecked && problems.isEmpty }

    /// Verifies the ledger at `path`, then builds and checks the receipt bundle of each of
    /// `requests` from the file alone (what an auditor holding only the file would do).
    static func run(path: String, verifierKey: String, requests: [RequestID]) -> LedgerAudit {
        run(path: path, verifierKey: verifierKey, bundles: requests.map { request in
            (request, Result { () throws(LedgerError) in
                try LedgerVerifier.receiptBundle(path: path, request: request, verifierKey: verifierKey).json
            })
        })
    }

    /// Verifies the ledger at `path`, then each request's receipt bundle (JSON, as a customer
    /// would receive it) offline against `verifierKey`.
    static func run(path: String, verifierKey: String, bundles: [(RequestID, Result<String, LedgerError>)]) -> LedgerAudit {
        var audit = LedgerAudit()
        do {
            let report = try LedgerVerifier.verify(path: path, verifierKey: verifierKey)
            audit.ledgerValid = true
            audit.records = report.recordCount
            audit.checkpoints = report.checkpointCount
        } catch {
            audit.ledgerError = error.description
            return audit
        }
        for (request, bundle) in bundles {
            audit.receiptsChecked += 1
            let problem: ReceiptProblem?
            do {
                let verified = try ReceiptBundle.verify(json: try bundle.get(), verifierKey: verifierKey)
                let receipt = verified.receipt
                audit.bytesHeld += receipt.totalBytesHeld
                audit.bytesVerifiedZero += receipt.bytesVerifiedZero
                if receipt.requestID != request {
                    problem = .otherRequest
                } else if receipt.bytesVerifiedZero < receipt.totalBytesHeld {
                    problem = .wipeNotVerified(held: receipt.totalBytesHeld, verifiedZero: receipt.bytesVerifiedZero)
                } else {
                    problem = nil
                }
            } catch {
                if case .requestNotFound = error { problem = .missing } else { problem = .invalid(error.description) }
            }
            if let problem {
                if audit.problems.count < 10 { audit.problems.append((request.description, problem)) }
            } else {
                audit.receiptsVerified += 1
            }
        }
        return audit
    }

    var json: JSON {
        .object([
            ("valid", .bool(ledgerValid)),
            ("error", .optional(ledgerError)),
            ("records", .uint(records)),
            ("checkpoints", .int(checkpoints)),
            ("receiptsChecked", .int(receiptsChecked)),
            ("receiptsVerified", .int(receiptsVerified)),
            ("bytesHeld", .uint(bytesHeld)),
            ("bytesVerifiedZero", .uint(bytesVerifiedZero)),
            ("problems", .array(problems.map { .object([("request", .string($0.0)), ("problem", .string($0.1.description))]) })),
        ])
    }
}
