import ContentVault
import Foundation
import Hummingbird
import LoopbackTestSupport
import HummingbirdCore
import RetentionVocabulary
import Testing
import ZeroRetentionHummingbird

/// Receipts the body's discard hands over, from the server's task to the test's.
final class ReceiptBox: @unchecked Sendable {
    private let lock = NSLock()
    private var receipts: [DiscardReceipt] = []
    func add(_ receipt: DiscardReceipt) { lock.lock(); receipts.append(receipt); lock.unlock() }
    var all: [DiscardReceipt] { lock.lock(); defer { lock.unlock() }; return receipts }

    /// Waits (up to a generous bound, not a timing assertion) for the first receipt.
    func first() async throws -> DiscardReceipt? {
        for _ in 0..<1000 where all.isEmpty { try await Task.sleep(nanoseconds: 10_000_000) }
        return all.first
    }
}

private func chunk(_ index: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ index) }
}

@Suite("Hummingbird: a sealed response body is written chunk by chunk and discards its scope")
struct SealedResponseBodyTests {
    @Test("the client gets every chunk in order, and the scope is discarded as completed after the last byte")
    func writesAndDiscards() async throws {
        let vault = try Vault(configuration: .init(backend: .locked, byteBudget: 8 << 20, reaperInterval: nil, hardensProcess: false))
        let receipts = ReceiptBox()
        let sizes = [1000, 70_000, 5]
        let router = Router()
        router.get("/audio") { _, _ in
            let scope = try vault.openScope()
            for (index, size) in sizes.enumerated() {
                try chunk(index, count: size).withUnsafeBytes { try scope.append(to: .audioOutput, copying: $0, final: index == sizes.count - 1) }
            }
            let body = ResponseBody.sealedContent(of: .audioOutput, in: scope, onDiscard: receipts.add)
            // Over 64 KiB: not opened whole when the body is made, but chunk by chunk as it is
            // written, so the scope is still open here.
            guard !scope.isDiscarded, receipts.all.isEmpty else { throw HTTPError(.internalServerError) }
            return Response(status: .ok, body: body)
        }
        let body = try await withServer(router) { port in try get("/audio", port: port) }
        let expected = sizes.enumerated().flatMap { chunk($0.offset, count: $0.element) }
        // The helper decodes the body as UTF-8; compare the same decoding of what was sealed.
        #expect(body == String(decoding: expected, as: UTF8.self))
        let receipt = try #require(try await receipts.first())
        #expect(receipt.reason == .completed)
        #expect(receipt.keyDestroyed)
        #expect(vault.statistics.openScopes == 0)
    }

    @Test("content up to 64 KiB goes out in the response's one write: the scope is discarded (completed) when the body is made")
    func smallContentIsOneWrite() async throws {
        let vault = try Vault(configuration: .init(backend: .locked, byteBudget: 8 << 20, reaperInterval: nil, hardensProcess: false))
        let receipts = ReceiptBox()
        let sizes = [40_000, 25_536]   // 64 KiB exactly, in two chunks
        let router = Router()
        router.get("/audio") { _, _ in
            let scope = try vault.openScope()
            for (index, size) in sizes.enumerated() {
                try chunk(index, count: size).withUnsafeBytes { try scope.append(to: .audioOutput, copying: $0, final: index == sizes.count - 1) }
            }
            let body = ResponseBody.sealedContent(of: .audioOutput, in: scope, onDiscard: receipts.add)
            // Already discarded: the plaintext is only in the body's wiping buffer now.
            guard scope.isDiscarded, receipts.all.count == 1 else { throw HTTPError(.internalServerError) }
            return Response(status: .ok, body: body)
        }
        let body = try await withServer(router) { port in try get("/audio", port: port) }
        let expected = sizes.enumerated().flatMap { chunk($0.offset, count: $0.element) }
        #expect(body == String(decoding: expected, as: UTF8.self))
        #expect(receipts.all.map(\.reason) == [.completed])
        #expect(vault.statistics.openScopes == 0)
    }

    @Test("a client that resets the connection mid-body gets the scope discarded as failed, not left open")
    func clientGoneDiscards() async throws {
        let vault = try Vault(configuration: .init(backend: .locked, byteBudget: 64 << 20, reaperInterval: nil, hardensProcess: false))
        let receipts = ReceiptBox()
        let router = Router()
        router.get("/long") { _, _ in
            let scope = try vault.openScope()
            // 16 MiB: more than loopback's socket buffers, so the server is still writing when the reset arrives.
            for index in 0..<256 {
                try chunk(index, count: 64 << 10).withUnsafeBytes { try scope.append(to: .audioOutput, copying: $0, final: index == 255) }
            }
            return Response(status: .ok, body: .sealedContent(of: .audioOutput, in: scope, onDiscard: receipts.add))
        }
        _ = try await withServer(router) { port in try get("/long", port: port, readingAtMost: 100_000) }
        let receipt = try #require(try await receipts.first())
        #expect(receipt.reason == .failed || receipt.reason == .cancelled)
        #expect(vault.statistics.openScopes == 0)
    }
}
