import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import Testing
import ZeroRetention
import ZeroRetentionHummingbird

@Suite("ZeroRetentionMiddleware: a body the route never read is zeroed when the route throws")
struct UnreadBodyTests {
    private static let canary = "CANARY-unread-body-4e1a7c-refused-before-reading"

    private func context() -> BasicRequestContext {
        BasicRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "unread-body-test")))
    }

    private func request(_ body: ByteBuffer) -> Request {
        Request(head: HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/speak"), body: RequestBody(buffer: body))
    }

    @Test("refused before reading: the body's bytes are zero in the storage NIO shares, and the refusal is answered")
    func refusedBodyIsZeroed() async throws {
        // `body` shares its storage with the request's body, as a part shares the socket's buffer.
        let body = ByteBuffer(string: Self.canary)
        let response = try await ZeroRetentionMiddleware<BasicRequestContext>().handle(request(body), context: context()) { _, _ in
            throw ZeroRetentionHTTPError(.forbidden, ZeroRetentionHTTPReason("unknownWorkspace"))
        }
        #expect(response.status == .forbidden)
        #expect(body.readableBytesView.allSatisfy { $0 == 0 })
    }

    @Test("a route that read the body and then threw is not read twice; one that answered keeps its body as it was")
    func readBodiesAreLeftToTheRoute() async throws {
        let read = ByteBuffer(string: Self.canary)
        let response = try await ZeroRetentionMiddleware<BasicRequestContext>().handle(request(read), context: context()) { request, _ in
            _ = try await request.body.collect(upTo: 1024)
            throw ZeroRetentionHTTPError(.contentTooLarge, .bodyTooLarge)
        }
        #expect(response.status == .contentTooLarge)
        #expect(read.readableBytesView.elementsEqual(Self.canary.utf8))

        let answered = ByteBuffer(string: Self.canary)
        let ok = try await ZeroRetentionMiddleware<BasicRequestContext>().handle(request(answered), context: context()) { _, _ in
            Response(status: .ok)
        }
        #expect(ok.status == .ok)
        #expect(answered.readableBytesView.elementsEqual(Self.canary.utf8))
    }
}
