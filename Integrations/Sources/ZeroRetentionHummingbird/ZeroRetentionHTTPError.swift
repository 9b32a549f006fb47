public import HTTPTypes
public import Hummingbird
import NIOCore
public import ZeroRetention

/// A reason code a zero-retention HTTP response gives: declared in source, never built from a
/// request, so an error body can carry nothing a client sent.
public struct ZeroRetentionHTTPReason: Sendable, Hashable, CustomStringConvertible {
    /// The code, e.g. `unknownWorkspace`.
    public let code: String

    /// A code written in the server's source (a literal: request bytes cannot reach it).
    public init(_ code: StaticString) {
        self.code = code.description
    }

    /// The policy's reason, under its own name (`dataClassIneligible`, `unknownWorkspace`…).
    public init(_ policyReason: PolicyReason) {
        self.code = policyReason.description
    }

    public var description: String { code }

    /// The request has no workspace header.
    public static let missingWorkspace = Self("missingWorkspace")
    /// The workspace or agent header is not an identifier (1–64 of `a-z 0-9 . _ -`).
    public static let malformedIdentifier = Self("malformedIdentifier")
    /// The logging switch is neither `true` nor `false`.
    public static let malformedLoggingSwitch = Self("malformedLoggingSwitch")
    /// The body is larger than the route accepts.
    public static let bodyTooLarge = Self("bodyTooLarge")
    /// The body is not what the route reads (malformed JSON, a missing or mistyped field).
    public static let malformedBody = Self("malformedBody")
    /// The route does not serve that model.
    public static let unknownModel = Self("unknownModel")
    /// Locked memory is exhausted for now: retry later (backpressure).
    public static let capacityExhausted = Self("capacityExhausted")
    /// The ledger cannot record, so nothing is served (fail closed).
    public static let ledgerUnavailable = Self("ledgerUnavailable")
    /// No receipt (yet) for that request.
    public static let receiptNotFound = Self("receiptNotFound")
    /// The route does not exist.
    public static let notFound = Self("notFound")
    /// Anything else; the error's type and text are not given out.
    public static let internalError = Self("internal")
}

/// An HTTP error whose body is a reason code and the request id, never content, and never an
/// underlying error's text (an engine's error may quote its input).
///
/// The body is `{"error":{"status":403,"reason":"unknownWorkspace"}}`; the request id, when the
/// request had one, goes in `X-ZDR-Request-ID`.
public struct ZeroRetentionHTTPError: HTTPResponseError, Hashable, CustomStringConvertible {
    /// The response status.
    public var status: HTTPResponse.Status
    /// Why, as a declared code.
    public var reason: ZeroRetentionHTTPReason
    /// The request the error belongs to, if it got one.
    public var requestID: ZeroRetention.RequestID?

    /// An error with `status` and `reason`.
    public init(_ status: HTTPResponse.Status, _ reason: ZeroRetentionHTTPReason, requestID: ZeroRetention.RequestID? = nil) {
        self.status = status
        self.reason = reason
        self.requestID = requestID
    }

    /// The status and reason for any error a zero-retention handler can meet: a vault error,
    /// Hummingbird's `HTTPError` (its message is dropped), or anything else (500, unnamed).
    public init(mapping error: any Error, requestID: ZeroRetention.RequestID? = nil) {
        switch error {
        case var mapped as ZeroRetentionHTTPError:
            if mapped.requestID == nil { mapped.requestID = requestID }
            self = mapped
        case let vault as VaultError:
            self = Self(vault, requestID: requestID)
        case let audited as AuditedVaultError:
            self = Self(audited, requestID: requestID)
        case let http as HTTPError:
            self.init(http.status, http.status == .contentTooLarge ? .bodyTooLarge : .malformedBody, requestID: requestID)
        default:
            self.init(.internalServerError, .internalError, requestID: requestID)
        }
    }

    /// The status for a vault error: exhausted locked memory is backpressure (503), a chunk or
    /// input over a limit is the client's (413), the rest is the server's (500).
    public init(_ error: VaultError, requestID: ZeroRetention.RequestID? = nil) {
        switch error {
        case .memory(.budgetExhausted), .transferBudgetExhausted:
            self.init(.serviceUnavailable, .capacityExhausted, requestID: requestID)
        case .memory(.inputTooLarge), .chunkTooLarge:
            self.init(.contentTooLarge, .bodyTooLarge, requestID: requestID)
        default:
            self.init(.internalServerError, .internalError, requestID: requestID)
        }
    }

    /// The status for an ``ZeroRetention/AuditedVaultError``: a refusal by the policy is 403
    /// with the policy's reason, a ledger that cannot record is 503 (nothing was served).
    public init(_ error: AuditedVaultError, requestID: ZeroRetention.RequestID? = nil) {
        switch error {
        case .rejected(let reason), .egressRefused(let reason):
            self.init(.forbidden, ZeroRetentionHTTPReason(reason), requestID: requestID)
        case .ledger:
            self.init(.serviceUnavailable, .ledgerUnavailable, requestID: requestID)
        case .vault(let vault):
            self.init(vault, requestID: requestID)
        }
    }

    public var description: String { "ZeroRetentionHTTPError(\(status.code), \(reason))" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        if let requestID { headers[ZeroRetentionHTTPNames.standard.requestIDHeader] = requestID.description }
        let body = #"{"error":{"status":\#(status.code),"reason":"\#(reason.code)"}}"#
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
