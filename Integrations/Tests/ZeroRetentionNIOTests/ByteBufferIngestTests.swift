import ContentVault
import NIOCore
import RetentionVocabulary
import Testing
import ZeroRetentionNIO

private func makeVault() throws -> Vault {
    try Vault(configuration: .init(backend: .locked, byteBudget: 4 << 20, reaperInterval: nil, hardensProcess: false))
}

private func pattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
}

@Suite("Ingesting a ByteBuffer: sealed, and zeroed in NIO's own storage")
struct ByteBufferIngestTests {
    @Test("every copy of the buffer reads zeros afterwards (no copy-on-write), and the scope holds the bytes")
    func zeroesSharedStorage() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let content = pattern(3000)
        var buffer = WipingAllocator.byteBufferAllocator.buffer(capacity: content.count)
        buffer.writeBytes(content)
        let shared = buffer  // shares the storage, as NIO's own views of a read do
        try scope.append(to: .audioInput, ingesting: &buffer, final: true)
        #expect(buffer.readableBytes == 0)
        #expect(shared.readableBytesView.allSatisfy { $0 == 0 })
        let held = try scope.withUnsafePlaintext(of: .audioInput) { Array($0) }
        #expect(held == content)
        _ = scope.discard(reason: .completed)
    }

    @Test("a slice is zeroed in the buffer it was cut from, and only its own bytes")
    func zeroesASliceInPlace() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        var whole = ByteBufferAllocator().buffer(capacity: 300)
        whole.writeBytes(pattern(300))
        var part = try #require(whole.getSlice(at: 100, length: 100))
        try scope.append(to: .textInput, ingesting: &part)
        let after = Array(whole.readableBytesView)
        #expect(after[100..<200].allSatisfy { $0 == 0 })
        #expect(Array(after[0..<100]) == Array(pattern(300)[0..<100]))
        #expect(Array(after[200..<300]) == Array(pattern(300)[200..<300]))
        _ = scope.discard(reason: .completed)
    }

    @Test("a refused append (scope already discarded) still zeroes the bytes and keeps the reader index")
    func failureStillZeroes() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        _ = scope.discard(reason: .completed)
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        buffer.writeBytes(pattern(64))
        let shared = buffer
        #expect(throws: VaultError.self) { try scope.append(to: .textInput, ingesting: &buffer) }
        #expect(buffer.readableBytes == 64)
        #expect(shared.readableBytesView.allSatisfy { $0 == 0 })
    }
}
