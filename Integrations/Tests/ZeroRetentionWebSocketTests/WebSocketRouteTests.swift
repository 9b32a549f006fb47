#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import LoopbackTestSupport
import RetentionLedger
import NIOCore
import Testing
import ZeroRetention
import ZeroRetentionHummingbird
import ZeroRetentionNIO
import ZeroRetentionWebSocket

/// An audited vault with one ZDR workspace (`acme`) and one STT model, over a fresh ledger.
private func makeAudited() throws -> (audited: AuditedVault, ledgerPath: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let policy = try RetentionPolicy().workspace("acme", zdr: true).zdrModels(["stt-1"], for: .speechToText)
    let ledger = try Ledger(
        path: directory + "/ledger.zdr", registry: IdentifierRegistry(declaredBy: policy), signer: try SigningKey.generate(),
        configuration: LedgerConfiguration(flushIntervalNanoseconds: nil))
    let audited = AuditedVault(
        vault: try Vault(configuration: .init(backend: .locked, byteBudget: 16 << 20, reaperInterval: nil)),
        policy: policy, ledger: ledger)
    return (audited, directory + "/ledger.zdr")
}

/// A WebSocket route that seals each binary frame and answers with its bytes as a text frame.
private func echoServer(_ audited: AuditedVault) -> (Router<BasicRequestContext>, Router<ZeroRetentionWebSocketContext>) {
    let router = Router()
    router.add(middleware: ZeroRetentionMiddleware())
    let webSocketRouter = Router(context: ZeroRetentionWebSocketContext.self)
    webSocketRouter.add(middleware: ZeroRetentionMiddleware())
    webSocketRouter.zeroRetentionWebSocket("/ws") { request, _ in
        try audited.admit(request, product: .speechToText, dataClasses: [.audioInput, .transcriptOutput], model: Identifier("stt-1")!)
    } onUpgrade: { inbound, outbound, admitted in
        var index = 0
        for try await var frame in inbound where frame.opcode == .binary {
            try admitted.scope.append(to: .audioInput, ingesting: &frame.data)
            let echo = try admitted.scope.withChunk(of: .audioInput, at: index) { WipingAllocator.buffer(copying: $0) }
            index += 1
            if let echo { try await outbound.writeText(wiping: echo) }
        }
    }
    return (router, webSocketRouter)
}

/// Runs the two routers on a free loopback port; `client` runs on a thread of its own.
private func withWebSocketServer<Answer: Sendable>(
    _ routers: (Router<BasicRequestContext>, Router<ZeroRetentionWebSocketContext>),
    _ client: @escaping @Sendable (Int) throws -> Answer
) async throws -> Answer {
    try await withServer(routers.0, server: .zeroRetentionHTTP1WebSocketUpgrade(webSocketRouter: routers.1), client)
}

/// What the client saw: the upgrade response's status line and headers, and the text frames.
private struct Conversation: Sendable {
    var status = 0
    var headers: [String: String] = [:]
    var body = ""
    var texts: [String] = []
    var closeCode = 0
    var closeReason = ""
}

/// A minimal WebSocket client over a plain socket: upgrade with `workspace`, send each payload
/// as one masked binary frame and read the text frame it brings back, then close.
private func converse(port: Int, workspace: String, payloads: [[UInt8]]) throws -> Conversation {
    let socket = try connectLoopback(port: port)
    defer { close(socket) }
    func sendAll(_ bytes: [UInt8]) throws { try LoopbackTestSupport.sendAll(bytes, on: socket) }
    var pending: [UInt8] = []
    func receive(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while pending.count < count {
            let got = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { throw CocoaError(.fileReadUnknown) }
            pending += chunk[..<got]
        }
        defer { pending.removeFirst(count) }
        return Array(pending[..<count])
    }
    try sendAll(Array(("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Workspace-ID: \(workspace)\r\n\r\n").utf8))
    var head: [UInt8] = []
    while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) { head += try receive(1) }
    var conversation = Conversation()
    let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
    conversation.status = Int(lines[0].split(separator: " ")[1]) ?? 0
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        conversation.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    guard conversation.status == 101 else {
        let length = Int(conversation.headers["content-length"] ?? "0") ?? 0
        conversation.body = String(decoding: try receive(length), as: UTF8.self)
        return conversation
    }
    let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
    for payload in payloads {
        precondition(payload.count < 126)
        try sendAll([0x82, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        let frameHead = try receive(2)
        try #require(frameHead[0] == 0x81)
        conversation.texts.append(String(decoding: try receive(Int(frameHead[1] & 0x7F)), as: UTF8.self))
    }
    if !payloads.isEmpty { try sendAll([0x88, 0x82] + mask + [0x03 ^ mask[0], 0xE8 ^ mask[1]]) }   // close, 1000
    // The server's close frame ends the conversation: its code, and its reason (a declared code).
    let closeHead = try receive(2)
    try #require(closeHead[0] == 0x88)
    let close = try receive(Int(closeHead[1] & 0x7F))
    conversation.closeCode = close.count >= 2 ? Int(close[0]) << 8 | Int(close[1]) : 0
    conversation.closeReason = String(decoding: close.dropFirst(2), as: UTF8.self)
    return conversation
}

/// Waits for the server to finish with its scopes (the discard runs after the client's close).
private func settled(_ vault: Vault) async -> VaultStatistics {
    for _ in 0..<200 where vault.statistics.openScopes > 0 || vault.statistics.openedScopes > vault.statistics.discardedScopes {
        try? await Task.sleep(for: .milliseconds(10))
    }
    return vault.statistics
}

@Suite("WebSocket: upgrades admitted first, frames sealed, the scope discarded with the connection")
struct WebSocketRouteTests {
    @Test("an admitted upgrade names its request; each binary frame comes back as text; close discards the scope completed")
    func admittedConversation() async throws {
        let (audited, _) = try makeAudited()
        let conversation = try await withWebSocketServer(echoServer(audited)) { port in
            try converse(port: port, workspace: "acme", payloads: [Array("first frame".utf8), Array("second".utf8)])
        }
        #expect(conversation.status == 101)
        let id = try #require(conversation.headers["x-zdr-request-id"].flatMap { ZeroRetention.RequestID($0) })
        #expect(conversation.texts == ["first frame", "second"])
        #expect(conversation.closeCode == 1000)
        let statistics = await settled(audited.vault)
        #expect(statistics.discardedByReason[.completed] == 1)
        try audited.ledger.flush()
        #expect(throws: Never.self) { _ = try audited.ledger.receiptBundle(forRequest: id) }
    }

    @Test("an undeclared workspace's upgrade is closed at once with 1008 unknownWorkspace, recorded under the id it names, with no scope")
    func refusedUpgrade() async throws {
        let (audited, ledgerPath) = try makeAudited()
        let conversation = try await withWebSocketServer(echoServer(audited)) { port in
            try converse(port: port, workspace: "stranger", payloads: [])
        }
        #expect(conversation.status == 101)
        #expect(conversation.texts.isEmpty)
        #expect(conversation.closeCode == 1008)
        #expect(conversation.closeReason == "unknownWorkspace")
        let id = try #require(conversation.headers["x-zdr-request-id"].flatMap { ZeroRetention.RequestID($0) })
        try audited.ledger.flush()
        let decisions = try LedgerVerifier.entries(path: ledgerPath).compactMap { entry -> PolicyDecisionRecord? in
            if case .policyDecision(let decision) = entry.record.body { decision } else { nil }
        }
        #expect(decisions.map(\.requestID) == [id])
        #expect(decisions.first?.workspace == .undeclared)
        #expect(audited.vault.statistics.openedScopes == 0)
    }
}
