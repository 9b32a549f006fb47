public import Hummingbird
public import HummingbirdCore
public import HummingbirdWebSocket
public import NIOCore
public import NIOWebSocket
import Synchronization
public import ZeroRetention
public import ZeroRetentionHummingbird
import ZeroRetentionNIO

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1.1 server with WebSocket upgrades, with ``ZeroRetentionNIO/WipingAllocator``
    /// on every connection (before and after the upgrade: frames are decoded into, and written
    /// from, its buffers): the zero-retention replacement for `.http1WebSocketUpgrade(webSocketRouter:)`.
    ///
    /// ```swift
    /// let app = Application(router: router, server: .zeroRetentionHTTP1WebSocketUpgrade(webSocketRouter: webSocketRouter))
    /// ```
    public static func zeroRetentionHTTP1WebSocketUpgrade<WSResponderBuilder: HTTPResponderBuilder & _HB_SendableMetatype>(
        webSocketRouter: WSResponderBuilder, configuration: HTTP1WebSocketUpgradeChannel.Configuration = .init()
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            WipingChildChannel(base: HTTP1WebSocketUpgradeChannel(
                responder: responder, webSocketResponder: webSocketResponder, configuration: configuration))
        }
    }
}

/// The request context of a zero-retention WebSocket router: it carries the request admitted
/// at the upgrade to the connection's handler.
public struct ZeroRetentionWebSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    // Shared by the context's copies: the upgrade route puts the admission, the handler takes it.
    let admission = AdmissionHandOff()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
    }
}

/// What the upgrade decided, handed from the upgrade route to the connection's handler.
enum Admission: Sendable {
    case admitted(AdmittedRequest)
    case refused(ZeroRetentionHTTPError)
}

final class AdmissionHandOff: Sendable {
    private let value = Mutex<Admission?>(nil)
    func put(_ admission: Admission) { value.withLock { $0 = admission } }
    func take() -> Admission? { value.withLock { $0.take() } }
}

extension Router where Context == ZeroRetentionWebSocketContext {
    /// A WebSocket route whose upgrade request is admitted first: `admit` decides it from its
    /// headers (``ZeroRetention/AuditedVault/admit(_:product:dataClasses:model:upstream:names:timeToLive:)``),
    /// and the upgrade response names the request (`X-ZDR-Request-ID`, `Cache-Control: no-store`).
    /// `onUpgrade` then serves the connection with the admitted request's scope, which is
    /// discarded when it returns (`completed`), throws or the connection breaks (`failed`), or
    /// the task is cancelled (`cancelled`).
    ///
    /// A refusal still upgrades, then closes at once with the error's reason as the close reason
    /// (1008 policy violation for a 400 or 403, 1009 for a 413, 1011 otherwise): a WebSocket
    /// client, a browser's included, sees close codes, not the status of a refused upgrade (and
    /// Hummingbird answers a refused upgrade with a redirect). The refusal is recorded like any
    /// other, under the id the upgrade response names.
    ///
    /// Read frames (`WebSocketDataFrame`: their data is a wiping `ByteBuffer`) and seal each with
    /// `scope.append(to:ingesting: &frame.data)`; answer with ``HummingbirdWebSocket/WebSocketOutboundWriter/writeText(wiping:)``.
    /// Do not use `inbound.messages(…)`: a text message becomes a `String`.
    @discardableResult
    public func zeroRetentionWebSocket(
        _ path: RouterPath, names: ZeroRetentionHTTPNames = .standard,
        admit: @escaping @Sendable (Request, Context) async throws -> AdmittedRequest,
        onUpgrade: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, AdmittedRequest) async throws -> Void
    ) -> Self {
        ws(path) { request, context in
            var headers = HTTPFields()
            headers[.cacheControl] = "no-store"
            let requestID: ZeroRetention.RequestID?
            do {
                let admitted = try await admit(request, context)
                context.admission.put(.admitted(admitted))
                requestID = admitted.scope.id
            } catch {
                let refusal = ZeroRetentionHTTPError(mapping: error)
                context.admission.put(.refused(refusal))
                requestID = refusal.requestID ?? (try? AuditedVault.makeUnrecordedRequestID())
            }
            if let requestID { headers[names.requestIDHeader] = requestID.description }
            return .upgrade(headers)
        } onUpgrade: { inbound, outbound, context in
            switch context.requestContext.admission.take() {
            case nil:
                return
            case .refused(let refusal)?:
                try await outbound.close(Self.closeCode(for: refusal), reason: refusal.reason.code)
            case .admitted(let admitted)?:
                do {
                    try await onUpgrade(inbound, outbound, admitted)
                } catch {
                    admitted.scope.discard(reason: Task.isCancelled ? .cancelled : .failed)
                    throw error
                }
                admitted.scope.discard(reason: .completed)
            }
        }
    }

    private static func closeCode(for refusal: ZeroRetentionHTTPError) -> WebSocketErrorCode {
        switch refusal.status {
        case .badRequest, .forbidden: .policyViolation
        case .contentTooLarge: .messageTooLarge
        default: .unexpectedServerError
        }
    }
}

extension WebSocketOutboundWriter {
    /// Writes `buffer` (UTF-8, from ``ZeroRetentionNIO/WipingAllocator``) as one text frame,
    /// without making a `String` of it (`.text(String)` would put the content on the heap).
    public func writeText(wiping buffer: ByteBuffer) async throws {
        try await write(.custom(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
    }
}
