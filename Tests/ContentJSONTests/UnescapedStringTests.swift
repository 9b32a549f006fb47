import ContentJSON
import ContentVault
import RetentionVocabulary
import Testing

@Suite("RequestScope.withUnescapedString: a field as plain UTF-8 in locked scratch")
struct UnescapedStringTests {
    private static let body = Array(#"{"text":"Say \"hi\"\n\u00e9 CANARY-2b9d","empty":"","n":3}"#.utf8)

    @Test("the engine reads the unescaped field; the scratch is zero afterwards; nothing is sealed")
    func unescapesIntoScratch() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(to: .textInput, copying: Self.body.span.bytes, final: true)
        var address: UInt = 0
        let read = try scope.withPlaintext(of: .textInput, thrownErrors: .passThrough) { span in
            let document = try ContentJSON.parse(span)
            let textFound = document.member("text", of: document.root, in: span)
        let text = try #require(textFound)
            return try scope.withUnescapedString(text, in: span) { plain in
                address = plain.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
                return (0..<plain.byteCount).map { plain.unsafeLoad(fromByteOffset: $0, as: UInt8.self) }
            }
        }
        #expect(read == Array("Say \"hi\"\né CANARY-2b9d".utf8))
        // The scratch slot stays mapped in the pool, so its bytes can be read back.
        let after = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: read.count)
        #expect(after.allSatisfy { $0 == 0 })
        #expect(try scope.occupiedSlots() == [.textInput])
        scope.discard(reason: .completed)
    }

    @Test("an empty string gives an empty span; a number is notAString; the body's error is redacted")
    func edges() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let span = Self.body.span.bytes
        let document = try ContentJSON.parse(span)
        let emptyFound = document.member("empty", of: document.root, in: span)
        let empty = try #require(emptyFound)
        #expect(try scope.withUnescapedString(empty, in: span) { $0.byteCount } == 0)
        let numberFound = document.member("n", of: document.root, in: span)
        let number = try #require(numberFound)
        #expect(throws: ContentJSONError.self) { try scope.withUnescapedString(number, in: span) { _ in } }
        struct EngineFailure: Error {}
        let textFound = document.member("text", of: document.root, in: span)
        let text = try #require(textFound)
        #expect(throws: AccessClosureError(errorType: String(reflecting: EngineFailure.self))) {
            try scope.withUnescapedString(text, in: span) { _ in throw EngineFailure() }
        }
        scope.discard(reason: .completed)
    }
}
