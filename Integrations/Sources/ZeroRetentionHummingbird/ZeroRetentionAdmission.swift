public import HTTPTypes
public import Hummingbird
import NIOCore
public import ZeroRetention
import ZeroRetentionNIO

/// Where a request names its workspace, agent and logging switch, and where every response
/// names its request.
public struct ZeroRetentionHTTPNames: Sendable, Hashable {
    /// The workspace (tenant) header; required.
    public var workspaceHeader: HTTPField.Name
    /// The agent header; optional.
    public var agentHeader: HTTPField.Name
    /// The response header carrying the request id, refusals included.
    public var requestIDHeader: HTTPField.Name
    /// The query parameter whose `false` asks for zero retention for this request.
    public var loggingQueryParameter: String

    /// Names of your own.
    public init(workspaceHeader: HTTPField.Name, agentHeader: HTTPField.Name, requestIDHeader: HTTPField.Name, loggingQueryParameter: String) {
        self.workspaceHeader = workspaceHeader
        self.agentHeader = agentHeader
        self.requestIDHeader = requestIDHeader
        self.loggingQueryParameter = loggingQueryParameter
    }

    /// `X-Workspace-ID`, `X-Agent-ID`, `X-ZDR-Request-ID` and `enable_logging` (ElevenLabs' names).
    public static let standard = ZeroRetentionHTTPNames(
        workspaceHeader: HTTPField.Name("X-Workspace-ID")!, agentHeader: HTTPField.Name("X-Agent-ID")!,
        requestIDHeader: HTTPField.Name("X-ZDR-Request-ID")!, loggingQueryParameter: "enable_logging")
}

extension PolicyRequest {
    /// The policy's view of an HTTP request: workspace and agent from the headers, the ZDR
    /// switch from the logging parameter (`enable_logging=false` asks for ZDR), and what the
    /// route serves.
    ///
    /// - Throws: ``ZeroRetentionHTTPError`` 400 for a missing workspace (`missingWorkspace`), a
    ///   header that is not an identifier (`malformedIdentifier`), or a logging switch other than
    ///   `true`/`false` (`malformedLoggingSwitch`). Nothing is recorded for these: the request
    ///   names no workspace to record it under.
    public init(
        _ request: Request, product: Product, dataClasses: Set<DataClass>, model: Identifier,
        upstream: Upstream? = nil, names: ZeroRetentionHTTPNames = .standard
    ) throws(ZeroRetentionHTTPError) {
        guard let workspaceText = request.headers[names.workspaceHeader] else {
            throw ZeroRetentionHTTPError(.badRequest, .missingWorkspace)
        }
        guard let workspace = Identifier(workspaceText) else { throw ZeroRetentionHTTPError(.badRequest, .malformedIdentifier) }
        var agent: Identifier?
        if let agentText = request.headers[names.agentHeader] {
            guard let parsed = Identifier(agentText) else { throw ZeroRetentionHTTPError(.badRequest, .malformedIdentifier) }
            agent = parsed
        }
        let enableLogging: Bool?
        switch request.uri.queryParameters[Substring(names.loggingQueryParameter)] {
        case nil: enableLogging = nil
        case "false"?: enableLogging = false
        case "true"?: enableLogging = true
        default: throw ZeroRetentionHTTPError(.badRequest, .malformedLoggingSwitch)
        }
        self.init(
            workspace: workspace, agent: agent, flags: RequestFlags(enableLogging: enableLogging),
            product: product, dataClasses: dataClasses, model: model, upstream: upstream)
    }
}

extension AuditedVault {
    /// Decides an HTTP request and opens its scope: ``ZeroRetention/PolicyRequest/init(_:product:dataClasses:model:upstream:names:)``,
    /// then ``ZeroRetention/AuditedVault/admit(_:timeToLive:)``.
    ///
    /// ```swift
    /// router.post("/v1/text-to-speech") { request, context in
    ///     let admitted = try audited.admit(request, product: .textToSpeech,
    ///                                      dataClasses: [.textInput, .audioOutput], model: model)
    ///     return try await admitted.respond { scope in
    ///         try await scope.ingest(request.body, into: .textInput, limit: 64 << 10)
    ///         // … synthesize into .audioOutput …
    ///         return Response(status: .ok, body: .sealedContent(of: .audioOutput, in: scope))
    ///     }
    /// }
    /// ```
    ///
    /// - Throws: ``ZeroRetentionHTTPError``: 400 for malformed headers, 403 with the policy's
    ///   reason for a refusal (recorded, with its request id: an undeclared workspace included),
    ///   503 when the ledger cannot record or locked memory is exhausted.
    public func admit(
        _ request: Request, product: Product, dataClasses: Set<DataClass>, model: Identifier,
        upstream: Upstream? = nil, names: ZeroRetentionHTTPNames = .standard, timeToLive: Duration? = nil
    ) throws(ZeroRetentionHTTPError) -> AdmittedRequest {
        let policyRequest = try PolicyRequest(
            request, product: product, dataClasses: dataClasses, model: model, upstream: upstream, names: names)
        let admission: Admission
        do { admission = try admit(policyRequest, timeToLive: timeToLive) } catch { throw ZeroRetentionHTTPError(error) }
        switch admission {
        case .admitted(let admitted):
            return admitted
        case .rejected(let reason, let requestID):
            throw ZeroRetentionHTTPError(.forbidden, ZeroRetentionHTTPReason(reason), requestID: requestID)
        }
    }
}

extension AdmittedRequest {
    /// Builds the response with `body`, and names the request in it (`X-ZDR-Request-ID`,
    /// `Cache-Control: no-store`). When `body` throws, the scope is discarded (`failed`) and
    /// the error becomes a ``ZeroRetentionHTTPError`` with this request's id.
    ///
    /// The scope stays open when `body` returns unless its response body discarded it: a
    /// ``HummingbirdCore/ResponseBody/sealedContent(of:in:onDiscard:)`` body discards it when
    /// made (up to 64 KiB) or once written. A response that does not carry the scope's content
    /// should discard it before returning.
    public func respond(
        names: ZeroRetentionHTTPNames = .standard, _ body: (RequestScope) async throws -> Response
    ) async throws(ZeroRetentionHTTPError) -> Response {
        do {
            var response = try await body(scope)
            response.headers[names.requestIDHeader] = scope.id.description
            response.headers[.cacheControl] = "no-store"
            return response
        } catch {
            scope.discard(reason: Task.isCancelled ? .cancelled : .failed)
            throw ZeroRetentionHTTPError(mapping: error, requestID: scope.id)
        }
    }
}

extension RequestScope {
    /// Seals the request body into `dataClass` part by part as it arrives, zeroing each part
    /// where NIO keeps it (``ZeroRetentionNIO``'s `append(to:ingesting:final:)`), and marks the
    /// last part final. Returns the bytes sealed (0 for an empty body, which seals nothing).
    ///
    /// - Throws: ``ZeroRetentionHTTPError`` 413 (`bodyTooLarge`) once more than `limit` bytes
    ///   arrive (that part is zeroed too), a ``ContentVault/VaultError``, or the body stream's error.
    @discardableResult
    public func ingest(_ body: RequestBody, into dataClass: DataClass, limit: Int) async throws -> Int {
        var total = 0
        // One part is held back, so the last one can be sealed as final.
        var pending: ByteBuffer?
        do {
            for try await part in body {
                guard part.readableBytes > 0 else { continue }
                total += part.readableBytes
                guard total <= limit else {
                    part.zeroReadableBytes()
                    throw ZeroRetentionHTTPError(.contentTooLarge, .bodyTooLarge)
                }
                if var previous = pending.take() { try append(to: dataClass, ingesting: &previous) }
                pending = part
            }
        } catch {
            pending?.zeroReadableBytes()
            throw error
        }
        if var last = pending.take() { try append(to: dataClass, ingesting: &last, final: true) }
        return total
    }
}
