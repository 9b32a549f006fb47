import ContentJSON
import ContentVault
import RetentionVocabulary
import Testing

@Suite("RequestScope glue: JSON fields straight into slots")
struct RequestScopeTests {
    private static let body = Array(#"""
    {"model":"tts-1","input":"Say \"hi\"\n\u00e9\uD83D\uDE00 CANARY-7f3a","voice":"nova","empty":"","n":3}
    """#.utf8)
    private static let input: [UInt8] = Array("Say \"hi\"\né😀 CANARY-7f3a".utf8)

    @Test("inside withPlaintext: parse, match the model, unescape a field into another slot (no deadlock)")
    func nestedPattern() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(to: .textInput, copying: Self.body.span.bytes, final: true)
        let models = ["tts-1", "tts-1-hd"]
        let (model, sealed) = try scope.withPlaintext(of: .textInput, thrownErrors: .passThrough) { span in
            let document = try ContentJSON.parse(span)
            let root = document.root
            guard let model = document.member("model", of: root, in: span).flatMap({ ContentJSON.matchIndex($0, in: span, oneOf: models) }),
                  let input = document.member("input", of: root, in: span)
            else { throw ContentJSONError(.expectedKey, at: 0) }
            let sealed = try scope.appendJSONString(input, in: span, to: .promptMessages, final: true)
            return (model, sealed)
        }
        #expect(model == 0)
        #expect(sealed == Self.input.count)
        #expect(try scope.byteCount(of: .promptMessages) == Self.input.count)
        #expect(try scope.chunkCount(of: .promptMessages) == 1)
        let roundTrip = try scope.withPlaintext(of: .promptMessages) { span in
            span.withUnsafeBytes { Array($0) }
        }
        #expect(roundTrip == Self.input)
        // The slot is final: a later append is refused.
        #expect(throws: VaultError.slotFinished(slot: .promptMessages)) {
            try scope.append(to: .promptMessages, copying: Self.input.span.bytes)
        }
        _ = scope.discard(reason: .completed)
    }

    @Test("an empty string seals nothing, or one empty final chunk when final")
    func emptyString() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(to: .textInput, copying: Self.body.span.bytes)
        try scope.withPlaintext(of: .textInput, thrownErrors: .passThrough) { span in
            let document = try ContentJSON.parse(span)
            let foundEmpty = document.member("empty", of: document.root, in: span)
            let empty = try #require(foundEmpty)
            #expect(try scope.appendJSONString(empty, in: span, to: .completion) == 0)
            #expect(try scope.chunkCount(of: .completion) == 0)
            #expect(try scope.appendJSONString(empty, in: span, to: .completion, final: true) == 0)
            #expect(try scope.chunkCount(of: .completion) == 1)
            #expect(try scope.byteCount(of: .completion) == 0)
            // Not a string: the typed error, before anything is written.
            let foundNumber = document.member("n", of: document.root, in: span)
            let number = try #require(foundNumber)
            #expect(throws: ContentJSONError(.notAString, at: number.byteRange.lowerBound)) {
                try scope.appendJSONString(number, in: span, to: .systemPrompt)
            }
            #expect(try scope.chunkCount(of: .systemPrompt) == 0)
        }
        #expect(throws: VaultError.slotFinished(slot: .completion)) {
            try scope.append(to: .completion, copying: Self.input.span.bytes)
        }
        _ = scope.discard(reason: .completed)
    }

    @Test("appendJSONEscaped builds a response's string body in a slot; it parses back to the text")
    func escapedIntoSlot() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(to: .completion, copying: Self.input.span.bytes, final: true)
        let sealed = try scope.withPlaintext(of: .completion) { span in
            try scope.appendJSONEscaped(copying: span, to: .audioOutput, final: true)
        }
        #expect(sealed == Self.input.count + 3)  // \" twice and \n
        let expected = try escaped(Self.input)
        #expect(try scope.withPlaintext(of: .audioOutput) { span in span.withUnsafeBytes { Array($0) } } == expected)
        let quoted = [0x22] + expected + [0x22]
        let document = try ContentJSON.parse(quoted.span.bytes)
        #expect(try unescaped(document.root, in: quoted.span.bytes) == Self.input)
        // Invalid UTF-8 is refused, and nothing is sealed.
        #expect(throws: ContentJSONError(.invalidUTF8, at: 1)) {
            try scope.appendJSONEscaped(copying: ([0x61, 0xFF] as [UInt8]).span.bytes, to: .systemPrompt)
        }
        #expect(try scope.chunkCount(of: .systemPrompt) == 0)
        #expect(try scope.appendJSONEscaped(copying: [UInt8]().span.bytes, to: .systemPrompt) == 0)
        #expect(try scope.chunkCount(of: .systemPrompt) == 0)
        _ = scope.discard(reason: .completed)
    }

    @Test("a discarded scope refuses the glue with VaultError.discarded")
    func discardedScope() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let bytes = Array(#""abc""#.utf8)
        let document = try ContentJSON.parse(bytes.span.bytes)
        _ = scope.discard(reason: .completed)
        #expect(throws: VaultError.discarded) {
            try scope.appendJSONString(document.root, in: bytes.span.bytes, to: .textInput)
        }
    }
}
