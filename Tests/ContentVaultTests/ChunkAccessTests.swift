import Testing
@testable import ContentVault
import RetentionVocabulary

private struct ClosureFailure: Error {}

@Suite("Reading a slot one chunk at a time: withChunk(of:at:)")
struct ChunkAccessTests {
    @Test("each chunk reads back in order, then nil; the scratch each one used is zero afterwards")
    func chunksInOrder() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let chunks = [content(100, seed: 1), content(5000, seed: 2), content(1, seed: 3)]
        for (index, chunk) in chunks.enumerated() { try scope.append(chunk, to: .audioOutput, final: index == chunks.count - 1) }
        #expect(try scope.chunkCount(of: .audioOutput) == 3)
        for (index, expected) in chunks.enumerated() {
            var address: UInt = 0
            let read = try scope.withChunk(of: .audioOutput, at: index) { span in
                span.withUnsafeBytes { bytes in
                    address = UInt(bitPattern: bytes.baseAddress)
                    return Array(bytes)
                }
            }
            #expect(read == expected)
            // The scratch slot stays mapped (warm), so its bytes can be read back directly.
            let pointer = try #require(UnsafeRawPointer(bitPattern: address))
            #expect(UnsafeRawBufferPointer(start: pointer, count: expected.count).allSatisfy { $0 == 0 })
        }
        #expect(try scope.withChunk(of: .audioOutput, at: 3) { _ in 1 } == nil)
        #expect(try scope.withChunk(of: .textInput, at: 0) { _ in 1 } == nil)
        _ = scope.discard(reason: .completed)
    }

    @Test("a negative index, a discarded scope and a throwing closure are typed, content-free errors")
    func errors() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(content(64), to: .textInput, final: true)
        #expect(throws: VaultError.chunkIndexOutOfRange(-1)) { try scope.withChunk(of: .textInput, at: -1) { _ in 0 } }
        #expect(throws: AccessClosureError.self) { try scope.withChunk(of: .textInput, at: 0) { _ in throw ClosureFailure() } }
        #expect(throws: ClosureFailure.self) {
            try scope.withChunk(of: .textInput, at: 0, thrownErrors: .passThrough) { _ in throw ClosureFailure() }
        }
        _ = scope.discard(reason: .completed)
        #expect(throws: VaultError.discarded) { try scope.withChunk(of: .textInput, at: 0) { _ in 0 } }
    }
}
