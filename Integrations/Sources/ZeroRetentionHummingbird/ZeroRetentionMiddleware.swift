public import Hummingbird
import NIOCore
import Synchronization
import ZeroRetention
import ZeroRetentionNIO

/// The outermost middleware of a zero-retention router: every response names a request
/// (`X-ZDR-Request-ID`; a fresh id where no scope was opened, such as `/health` or a 404) and
/// is marked `Cache-Control: no-store`, and every error becomes a ``ZeroRetentionHTTPError``:
/// a reason code, never the error's text (which may quote content) and never logged.
///
/// When a route throws before reading the request's body (a refusal at admission, a malformed
/// header, an unknown model), the body bytes already received are zeroed where NIO holds them,
/// up to ``unreadBodyZeroingLimit`` bytes, before the error is answered: a refused request
/// leaves nothing in a live buffer of its connection either.
///
/// ```swift
/// let router = Router()
/// router.add(middleware: ZeroRetentionMiddleware())
/// ```
public struct ZeroRetentionMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The header names responses use.
    public let names: ZeroRetentionHTTPNames
    /// Most bytes of an unread body zeroed after an error; the rest is left to NIO, whose
    /// buffers the wiping allocator zeroes when they are freed.
    public let unreadBodyZeroingLimit: Int

    /// A middleware answering with `names`.
    public init(names: ZeroRetentionHTTPNames = .standard, unreadBodyZeroingLimit: Int = 1 << 20) {
        self.names = names
        self.unreadBodyZeroingLimit = unreadBodyZeroingLimit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        let original = request.body
        let reading = ReadStarted()
        var tracked = request
        tracked.body = RequestBody(asyncSequence: TrackedBody(base: original, started: reading))
        do {
            response = try await next(tracked, context)
        } catch {
            if !reading.happened { await Self.zeroUnread(original, limit: unreadBodyZeroingLimit) }
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

    /// Reads `body` to its end or to `limit` bytes, zeroing each part in NIO's storage.
    private static func zeroUnread(_ body: RequestBody, limit: Int) async {
        var seen = 0
        do {
            for try await part in body {
                part.zeroReadableBytes()
                seen += part.readableBytes
                if seen >= limit { return }
            }
        } catch {
            // The client went away: what arrived was zeroed, the rest never came.
        }
    }
}

/// Whether a route started reading the body it was given.
private final class ReadStarted: Sendable {
    private let flag = Atomic<Bool>(false)
    var happened: Bool { flag.load(ordering: .acquiring) }
    func mark() { flag.store(true, ordering: .releasing) }
}

/// The request body as the route sees it: the same parts, and a note that reading began.
private struct TrackedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let started: ReadStarted

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }

    func makeAsyncIterator() -> AsyncIterator {
        started.mark()
        return AsyncIterator(base: base.makeAsyncIterator())
    }
}
