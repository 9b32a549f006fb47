public import Hummingbird
import NIOCore
import ZeroRetention

/// The outermost middleware of a zero-retention router: every response names a request
/// (`X-ZDR-Request-ID`; a fresh id where no scope was opened, such as `/health` or a 404) and
/// is marked `Cache-Control: no-store`, and every error becomes a ``ZeroRetentionHTTPError``:
/// a reason code, never the error's text (which may quote content) and never logged.
///
/// ```swift
/// let router = Router()
/// router.add(middleware: ZeroRetentionMiddleware())
/// ```
public struct ZeroRetentionMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The header names responses use.
    public let names: ZeroRetentionHTTPNames

    /// A middleware answering with `names`.
    public init(names: ZeroRetentionHTTPNames = .standard) {
        self.names = names
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            var mapped = ZeroRetentionHTTPError(mapping: error)
            if mapped.status == .notFound, error is HTTPError { mapped.reason = .notFound }
            response = try mapped.response(from: request, context: context)
        }
        if response.headers[names.requestIDHeader] == nil, let id = try? AuditedVault.makeUnrecordedRequestID() {
            response.headers[names.requestIDHeader] = id.description
        }
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
