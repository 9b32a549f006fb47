import Foundation
import Hummingbird
import LoopbackTestSupport
import RetentionLedger
import Testing
import ZeroRetention
import ZeroRetentionHummingbird

/// An audited vault over a fresh ledger in a temporary folder, with one ZDR workspace (`acme`)
/// and one TTS model (`tts-1`); the registry is derived from the policy.
private struct Fixture: Sendable {
    let audited: AuditedVault
    let ledgerPath: String

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admission-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let policy = try RetentionPolicy()
            .workspace("acme", zdr: true)
            .zdrModels(["tts-1"], for: .textToSpeech)
        ledgerPath = directory + "/ledger.zdr"
        let ledger = try Ledger(
            path: ledgerPath, registry: IdentifierRegistry(declaredBy: policy), signer: try SigningKey.generate(),
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil))
        audited = AuditedVault(
            vault: try Vault(configuration: .init(backend: .locked, byteBudget: 16 << 20, reaperInterval: nil)),
            policy: policy, ledger: ledger)
    }

    /// A router with the middleware and one TTS-like route: the body sealed as text input,
    /// echoed back as "audio" through a sealed response body.
    func router(limit: Int = 1024) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ZeroRetentionMiddleware())
        router.post("/speak") { [audited] request, _ in
            let admitted = try audited.admit(
                request, product: .textToSpeech, dataClasses: [.textInput, .audioOutput], model: Identifier("tts-1")!)
            return try await admitted.respond { scope in
                try await scope.ingest(request.body, into: .textInput, limit: limit)
                try scope.withPlaintext(of: .textInput) { text in try scope.append(to: .audioOutput, copying: text, final: true) }
                return Response(status: .ok, body: .sealedContent(of: .audioOutput, in: scope))
            }
        }
        router.post("/fails") { [audited] request, _ in
            let admitted = try audited.admit(
                request, product: .textToSpeech, dataClasses: [.textInput], model: Identifier("tts-1")!)
            return try await admitted.respond { _ in throw EngineError(quoted: "CANARY-engine-error-91e2") }
        }
        router.get("/health") { _, _ in "ok" }
        return router
    }

    func decisions() throws -> [PolicyDecisionRecord] {
        try audited.ledger.flush()
        return try LedgerVerifier.entries(path: ledgerPath).compactMap {
            if case .policyDecision(let decision) = $0.record.body { decision } else { nil }
        }
    }
}

/// The scopes discarded for `reason`, once the server is done with them: a body's discard runs
/// after its last byte is written, which may be after the client has read it.
private func discarded(_ reason: DiscardReason, in vault: Vault) async -> Int {
    for _ in 0..<200 where vault.statistics.openScopes > 0 { try? await Task.sleep(for: .milliseconds(10)) }
    return vault.statistics.discardedByReason[reason] ?? 0
}

/// The response's `X-ZDR-Request-ID`, parsed.
private func requestID(_ response: RawResponse) -> ZeroRetention.RequestID? {
    response.headers["x-zdr-request-id"].flatMap { ZeroRetention.RequestID($0) }
}

/// An engine error that quotes its input, as real ones do.
private struct EngineError: Error, CustomStringConvertible {
    let quoted: String
    var description: String { "engine failed on \(quoted)" }
}

@Suite("Hummingbird: admission from headers, errors as reason codes, every response named")
struct AdmissionTests {
    @Test("an admitted request answers 200 with its content, its request id and no-store; the scope is discarded completed")
    func admitted() async throws {
        let fixture = try Fixture()
        let response = try await withServer(fixture.router()) { port in
            try exchange(httpRequest("POST", "/speak", headers: ["X-Workspace-ID": "acme"], body: Array("hello".utf8)), port: port)
        }
        #expect(response.status == 200)
        #expect(response.bodyText == "hello")
        #expect(response.headers["cache-control"] == "no-store")
        let id = try #require(requestID(response))
        #expect(try fixture.decisions().map(\.requestID) == [id])
        #expect(await discarded(.completed, in: fixture.audited.vault) == 1)
    }

    @Test("an undeclared, well-formed workspace is a 403 unknownWorkspace whose request id is the ledger's rejection")
    func undeclaredWorkspace() async throws {
        let fixture = try Fixture()
        let response = try await withServer(fixture.router()) { port in
            try exchange(httpRequest("POST", "/speak", headers: ["X-Workspace-ID": "stranger"], body: Array("hi".utf8)), port: port)
        }
        #expect(response.status == 403)
        #expect(response.bodyText == #"{"error":{"status":403,"reason":"unknownWorkspace"}}"#)
        let id = try #require(requestID(response))
        let decision = try #require(try fixture.decisions().first)
        #expect(decision.requestID == id)
        #expect(decision.workspace == .undeclared)
        #expect(decision.outcome == .rejected)
        #expect(fixture.audited.vault.statistics.openedScopes == 0)
    }

    @Test("a missing workspace, a malformed one and a bad logging switch are 400s with their reason, recording nothing")
    func malformedHeaders() async throws {
        let fixture = try Fixture()
        let responses = try await withServer(fixture.router()) { port in
            [
                try exchange(httpRequest("POST", "/speak", body: Array("hi".utf8)), port: port),
                try exchange(httpRequest("POST", "/speak", headers: ["X-Workspace-ID": "Not An Identifier"], body: []), port: port),
                try exchange(httpRequest("POST", "/speak?enable_logging=maybe", headers: ["X-Workspace-ID": "acme"], body: []), port: port),
            ]
        }
        #expect(responses.map(\.status) == [400, 400, 400])
        #expect(responses.map(\.bodyText) == [
            #"{"error":{"status":400,"reason":"missingWorkspace"}}"#,
            #"{"error":{"status":400,"reason":"malformedIdentifier"}}"#,
            #"{"error":{"status":400,"reason":"malformedLoggingSwitch"}}"#,
        ])
        #expect(responses.allSatisfy { requestID($0) != nil })
        #expect(try fixture.decisions().isEmpty)
    }

    @Test("a body over the route's limit is a 413 bodyTooLarge and its scope is discarded as failed")
    func bodyTooLarge() async throws {
        let fixture = try Fixture()
        let response = try await withServer(fixture.router(limit: 16)) { port in
            try exchange(httpRequest("POST", "/speak", headers: ["X-Workspace-ID": "acme"], body: Array(repeating: 0x41, count: 64)), port: port)
        }
        #expect(response.status == 413)
        #expect(response.bodyText == #"{"error":{"status":413,"reason":"bodyTooLarge"}}"#)
        #expect(requestID(response) == (try fixture.decisions().first?.requestID))
        #expect(await discarded(.failed, in: fixture.audited.vault) == 1)
    }

    @Test("an engine error that quotes content is a 500 `internal`: its text reaches neither the client nor the body")
    func engineErrorIsRedacted() async throws {
        let fixture = try Fixture()
        let response = try await withServer(fixture.router()) { port in
            try exchange(httpRequest("POST", "/fails", headers: ["X-Workspace-ID": "acme"], body: []), port: port)
        }
        #expect(response.status == 500)
        #expect(response.bodyText == #"{"error":{"status":500,"reason":"internal"}}"#)
        #expect(!response.headers.values.contains { $0.contains("CANARY") })
        #expect(await discarded(.failed, in: fixture.audited.vault) == 1)
    }

    @Test("a route that opens no scope, and a 404, still carry a request id and no-store")
    func unscopedResponses() async throws {
        let fixture = try Fixture()
        let (health, missing) = try await withServer(fixture.router()) { port in
            (try exchange(httpRequest("GET", "/health"), port: port), try exchange(httpRequest("GET", "/nowhere"), port: port))
        }
        #expect(health.status == 200)
        #expect(missing.status == 404)
        #expect(missing.bodyText == #"{"error":{"status":404,"reason":"notFound"}}"#)
        for response in [health, missing] {
            #expect(requestID(response) != nil)
            #expect(response.headers["cache-control"] == "no-store")
        }
    }
}
