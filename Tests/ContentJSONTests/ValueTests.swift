import ContentJSON
import Testing

@Suite("Values: members, elements, strings, numbers, declared names")
struct ValueTests {
    @Test("member(_:of:in:) compares keys unescaped; missing keys and non-objects give nil")
    func memberLookup() throws {
        let bytes = Array(#"{"model":"tts-1","mod\u0065l2":2,"":3,"voice":{"id":"alloy"}}"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        let root = document.root
        let found = document.member("model", of: root, in: span)
        let model = try #require(found)
        let matches = ContentJSON.string(model, in: span, equals: "tts-1")
        #expect(matches)
        #expect(document.member("model2", of: root, in: span).map { ContentJSON.integer($0, in: span) } == 2)
        #expect(document.member("", of: root, in: span).map { ContentJSON.integer($0, in: span) } == 3)
        let declared: String = "voice"
        let foundVoice = document.member(declared, of: root, in: span)
        let voice = try #require(foundVoice)
        #expect(voice.kind == .object)
        #expect(document.member("id", of: voice, in: span).map { ContentJSON.string($0, in: span, equals: "alloy") } == true)
        #expect(document.member("mode", of: root, in: span) == nil)
        #expect(document.member("models", of: root, in: span) == nil)
        #expect(document.member("id", of: root, in: span) == nil)
        #expect(document.member("model", of: model, in: span) == nil)
    }

    @Test("a value of another document is no member, element or container of this one")
    func foreignValues() throws {
        let a = Array(#"{"x":[1,2]}"#.utf8)
        let b = Array(#"[[1,2],3]"#.utf8)
        let first = try ContentJSON.parse(a.span.bytes)
        let second = try ContentJSON.parse(b.span.bytes)
        #expect(first.elements(of: second.root).isEmpty)
        #expect(second.members(of: first.root).isEmpty)
        #expect(second.member("x", of: first.root, in: a.span.bytes) == nil)
        // A string read with a span too short for it is an error, not a trap.
        let string = try #require(first.members(of: first.root).first?.key)
        #expect(throws: ContentJSONError(.valueOutsideSpan, at: 1)) {
            try ContentJSON.unescapedByteCount(of: string, in: a.span.bytes.extracting(0..<2))
        }
        #expect(throws: ContentJSONError(.notAString, at: 0)) { try ContentJSON.unescapedByteCount(of: first.root, in: a.span.bytes) }
    }

    @Test("unescape: every escape, surrogate pairs into 4-byte UTF-8, raw UTF-8 as it is")
    func unescapeStrings() throws {
        let cases: [(String, [UInt8])] = [
            (#""""#, []),
            (#""abc""#, Array("abc".utf8)),
            (#""\"\\\/\b\f\n\r\t""#, [0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09]),
            (#""\u0000\u001f\u007F""#, [0x00, 0x1F, 0x7F]),
            (#""\u00e9\u00E9é""#, [0xC3, 0xA9, 0xC3, 0xA9, 0xC3, 0xA9]),
            (#""\u20AC""#, [0xE2, 0x82, 0xAC]),
            (#""\uD834\uDD1E𝄞""#, [0xF0, 0x9D, 0x84, 0x9E, 0xF0, 0x9D, 0x84, 0x9E]),
            (#""\uDBFF\uDFFF""#, [0xF4, 0x8F, 0xBF, 0xBF]),
            (#""\ud83d\ude39x""#, [0xF0, 0x9F, 0x98, 0xB9, 0x78]),
        ]
        for (text, expected) in cases {
            let bytes = Array(text.utf8)
            let span = bytes.span.bytes
            let document = try ContentJSON.parse(span)
            #expect(try unescaped(document.root, in: span) == expected, "\(text)")
            #expect(try ContentJSON.unescapedByteCount(of: document.root, in: span) == expected.count)
        }
    }

    @Test("unescape into too small an output throws outputTooSmall after writing a prefix")
    func unescapeOutputTooSmall() throws {
        let bytes = Array(#""ab\ncd""#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        var output = [UInt8](repeating: 0, count: 3)
        var caught: ContentJSONError?
        do {
            var elements = output.mutableSpan
            var raw = elements.mutableBytes
            _ = try ContentJSON.unescape(document.root, in: span, into: &raw)
        } catch {
            caught = error
        }
        #expect(caught == ContentJSONError(.outputTooSmall, at: 6))
        #expect(output == [0x61, 0x62, 0x0A])
    }

    @Test("integer: integers that fit Int64, nil for fractions, exponents, overflow and non-numbers")
    func integers() throws {
        let bytes = Array(#"[0,-0,42,-7,9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,1.0,1e2,"1",true,null]"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        let values = document.elements(of: document.root).map { ContentJSON.integer($0, in: span) }
        #expect(values == [0, 0, 42, -7, .max, .min, nil, nil, nil, nil, nil, nil, nil])
    }

    @Test("bool: the literals only")
    func bools() throws {
        let bytes = Array(#"[true,false,null,0,"true"]"#.utf8)
        let document = try ContentJSON.parse(bytes.span.bytes)
        #expect(document.elements(of: document.root).map { ContentJSON.bool($0) } == [true, false, nil, nil, nil])
    }

    @Test("model_id, role and voice_id map to a declared name, escaped or not, without a String of the input")
    func declaredNames() throws {
        let models = ["tts-1", "tts-1-hd", "whisper-1"]
        let bytes = Array(#"{"model":"tts-1-hd","role":"assist\u0061nt","voice":"nova","m2":"tts-1-h","m3":"tts-1-hdx","n":5}"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        let root = document.root
        func field(_ key: StaticString) throws -> ContentJSONValue {
            let found = document.member(key, of: root, in: span)
            return try #require(found)
        }
        #expect(ContentJSON.matchIndex(try field("model"), in: span, oneOf: models) == 1)
        #expect(ContentJSON.matchIndex(try field("role"), in: span, oneOf: ["system", "user", "assistant"]) == 2)
        #expect(ContentJSON.matchIndex(try field("voice"), in: span, oneOf: ["alloy", "echo"]) == nil)
        #expect(ContentJSON.matchIndex(try field("m2"), in: span, oneOf: models) == nil)
        #expect(ContentJSON.matchIndex(try field("m3"), in: span, oneOf: models) == nil)
        #expect(ContentJSON.matchIndex(try field("n"), in: span, oneOf: ["5"]) == nil)
        let role = try field("role")
        let number = try field("n")
        let results = [
            ContentJSON.string(role, in: span, equals: "assistant"), ContentJSON.string(role, in: span, equals: "assistan"),
            ContentJSON.string(number, in: span, equals: "5"),
        ]
        #expect(results == [true, false, false])
    }

    @Test("writeEscaped: quotes, backslashes and control characters escaped, the rest as it is")
    func writer() throws {
        #expect(try escaped([]) == [])
        #expect(try escaped(Array("plain é 𝄞 /".utf8)) == Array("plain é 𝄞 /".utf8))
        #expect(try escaped([0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09, 0x00, 0x1F, 0x7F])
            == Array(#"\"\\\b\f\n\r\t\u0000\u001f"#.utf8) + [0x7F])
        #expect(throws: ContentJSONError(.invalidUTF8, at: 2)) { try escaped([0x61, 0x62, 0xC0, 0xAF]) }
        #expect(throws: ContentJSONError(.invalidUTF8, at: 1)) { try escaped([0x61, 0xED, 0xA0, 0x80]) }
        #expect(throws: ContentJSONError(.invalidUTF8, at: 0)) { try escaped([0xE2, 0x82]) }
        let input: [UInt8] = [0x61, 0x0A]
        var output = [UInt8](repeating: 0, count: 2)
        var caught: ContentJSONError?
        do {
            var elements = output.mutableSpan
            var raw = elements.mutableBytes
            _ = try ContentJSON.writeEscaped(input.span.bytes, into: &raw)
        } catch {
            caught = error
        }
        #expect(caught == ContentJSONError(.outputTooSmall, at: 1))
    }

    @Test("round trip: random UTF-8, escaped, quoted, parsed and unescaped, is the original")
    func escapeRoundTrip() throws {
        var random = SplitMix64(state: 0x7F3A_2026)
        let interesting: [UInt32] = [0x00, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, 0x20, 0x22, 0x2F, 0x5C, 0x7F, 0x80,
                                     0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x1D11E, 0x10FFFF]
        for round in 0..<500 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...40, using: &random) {
                let scalar: UInt32
                switch Int.random(in: 0..<4, using: &random) {
                case 0: scalar = interesting.randomElement(using: &random)!
                case 1: scalar = UInt32.random(in: 0..<0x80, using: &random)
                case 2: scalar = UInt32.random(in: 0x80..<0xD800, using: &random)
                default: scalar = UInt32.random(in: 0xE000...0x10FFFF, using: &random)
                }
                text.append(Unicode.Scalar(scalar)!)
            }
            let original = Array(String(text).utf8)
            let body = try escaped(original)
            let quoted = [0x22] + body + [0x22]
            let span = quoted.span.bytes
            let document = try ContentJSON.parse(span)
            #expect(document.root.kind == .string)
            #expect(try unescaped(document.root, in: span) == original, "round \(round)")
            #expect(try ContentJSON.unescapedByteCount(of: document.root, in: span) == original.count)
            let equal = ContentJSON.string(document.root, in: span, equals: String(text))
            #expect(equal, "round \(round)")
        }
    }
}
