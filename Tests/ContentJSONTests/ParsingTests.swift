import ContentJSON
import Testing

/// JSONTestSuite's `y_` cases (github.com/nst/JSONTestSuite, test_parsing/), written inline.
private let accepted: [String] = [
    "[[]   ]", "[\"\"]", "[]", "[\"a\"]", "[false]", "[null, 1, \"1\", {}]", "[null]", "[1\n]", " [1]",
    "[1,null,null,null,2]", "[2] ", "[123e65]", "[0e+1]", "[0e1]", "[ 4]",
    "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]\n",
    "[20e1]", "[-0]", "[-123]", "[-1]", "[1E22]", "[1E-2]", "[1E+2]", "[123e45]", "[123.456e78]",
    "[1e-2]", "[1e+2]", "[123]", "[123.456789]", "[0]", "[-0.0]",
    "{\"asd\":\"sdf\", \"dfg\":\"fgh\"}", "{\"asd\":\"sdf\"}", "{}", "{\"\":0}", "{\"foo\\u0000bar\": 42}",
    "{ \"min\": -1.0e+28, \"max\": 1.0e+28 }", "{\"x\":[{\"id\": \"xxx\"}], \"id\": \"xxx\"}",
    "{\"a\":[]}", "{\"title\":\"\\u041f\\u043e\\u043b\\u0442\\u043e\\u0440\\u0430 \\u0417\\u0435\\u043c\\u043b\\u0435\\u043a\\u043e\\u043f\\u0430\" }",
    "{\n\"a\": \"b\"\n}", "{\"a\":{\"a\":1},\"b\":{\"a\":1}}",
    "[\"\\u0060\\u012a\\u12AB\"]", "[\"\\uD801\\udc37\"]", "[\"\\ud83d\\ude39\\ud83d\\udc8d\"]",
    "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", "[\"\\\\u0000\"]", "[\"\\\"\"]", "[\"a/*b*/c/*d//e\"]", "[\"\\\\a\"]",
    "[\"\\\\n\"]", "[\"\\u0012\"]", "[\"\\uFFFF\"]", "[\"asd\"]", "[ \"asd\"]", "[\"\\uDBFF\\uDFFF\"]",
    "[\"new\\u00A0line\"]", "[\"\u{10FFFF}\"]", "[\"\u{FFFF}\"]", "[\"\\u0000\"]", "[\"\\u002c\"]", "[\"π\"]",
    "[\"\u{1BFFF}\"]", "[\"asd \"]", "\" \"", "[\"\\uD834\\uDd1e\"]", "[\"\\u0821\"]", "[\"\\u0123\"]",
    "[\"\\u2028\"]", "[\"\\u2029\"]", "[\"\\u0061\\u30af\\u30EA\\u30b9\"]", "[\"new\\u000Aline\"]",
    "[\"\u{7F}\"]", "[\"\\uA66D\"]", "[\"\\u005C\"]", "[\"⍂㈴⍂\"]", "[\"\\uDBFF\\uDFFE\"]", "[\"\\uD83F\\uDFFE\"]",
    "[\"\\u200B\"]", "[\"\\u2064\"]", "[\"\\uFDD0\"]", "[\"\\uFFFE\"]", "[\"\\u0022\"]", "[\"€𝄞\"]", "[\"aa\"]",
    "false", "42", "-0.1", "null", "\"asd\"", "true", "\"\"", "[\"a\"]\n", "[true]", " [] ", "[\r\n]",
    "[1e1]", "[1E1]", "[1.5e-10]", "[-1e+9999]", "[123456789012345678901234567890]",
]

/// JSONTestSuite's `n_` cases, and the `i_` cases this reader refuses (lone surrogates, invalid
/// UTF-8, a byte order mark), as bytes.
private let refused: [[UInt8]] = [
    "[1 true]", "[\"\": 1]", "[\"\"],", "[,1]", "[1,,2]", "[\"x\",,]", "[\"x\"]]", "[\"\",]", "[\"x\"", "[x",
    "[3[4]]", "[1:2]", "[,]", "[-]", "[   , \"\"]", "[\"a\",\n4\n,1,", "[1,]", "[1,,]", "[*]", "", "[1,\n1\n,1",
    "[{}", "[\"a\"", "[tru]", "[fals]", "[nul]", "[True]", "[++1234]", "[+1]", "[+Inf]", "[-01]", "[-1.0.]",
    "[-2.]", "[-NaN]", "[.-1]", "[.2e-3]", "[0.1.2]", "[0.3e+]", "[0.3e]", "[0.e1]", "[0e+]", "[0e]", "[0E+]",
    "[0E]", "[1.0e+]", "[1.0e-]", "[1.0e]", "[1 000.0]", "[1eE2]", "[2.e+3]", "[2.e-3]", "[2.e3]", "[9.e+]",
    "[Inf]", "[NaN]", "[１]", "[1+2]", "[0x1]", "[0x42]", "[Infinity]", "[0e+-1]", "[-123.123foo]",
    "[-Infinity]", "[-foo]", "[- 1]", "[-012]", "[-.123]", "[-1x]", "[1ea]", "[1.]", "[.123]", "[1.2a-3]",
    "[1.8011670033376514H-308]", "[012]", "{\"x\", null}", "{\"x\"::\"b\"}", "{🇨🇭}", "{\"a\":\"a\" 123}",
    "{key: 'value'}", "{\"a\" b}", "{:\"b\"}", "{\"a\" \"b\"}", "{\"a\":}", "{\"a\"}", "{1:1}", "{9999E9999:1}",
    "{null:null,null:null}", "{\"id\":0,,,,,}", "{'a':0}", "{\"id\":0,}", "{\"a\":\"b\"}/**/",
    "{\"a\":\"b\"}/**//", "{\"a\":\"b\"}//", "{\"a\":\"b\"}/", "{\"a\":\"b\",,\"c\":\"d\"}", "{a: \"b\"}",
    "{\"a\":\"a", "{\"a\":\"b\"}#", "{\"a\":\"b\",}", "{\"a\":\"b\"}}", "[\"\\uD800\\\"]", "[\"\\uD800\\u\"]",
    "[\"\\uD800\\u1\"]", "[\"\\uD800\\u1x\"]", "[é]", "[\"\\x00\"]", "[\"\\\\\\\"]", "[\"\\\t\"]", "[\"\\🌀\"]",
    "[\"\\\"]", "[\"\\u00A\"]", "[\"\\uD834\\uDd\"]", "[\"\\uD800\\uD800\\x\"]", "[\"\\a\"]", "[\"\\uqqqq\"]",
    "[\\u0020\"asd\"]", "[\\n]", "\"\\UA66D\"", "\"", "[\"new\nline\"]", "[\"\t\"]", "\"\\x\"", "['single quote']",
    "abc", "<.>", "[<null>]", "[1]x", "[1]]", "[\"asd]", "aå", "1]", "{\"x\": true,", "[][]", "]", "\u{FEFF}{}",
    "\u{FEFF}", "[\u{2060}]", "[\u{0C}]", "[\u{A0}]", "   ", "{\"a\":1}x", "1 2", "{}}", "[\"a\u{0}a\"]",
    "[\u{0}]", "\u{0}", "[\"\\uDADA\"]", "[\"\\uDFAA\"]", "[\"\\uDd1ea\"]", "[\"\\ud800\"]",
    "[\"\\uDd1e\\uD834\"]", "[\"\\ud800abc\"]", "{\"a\":1,\"a\":2}", "{\"a\":\"b\",\"a\":\"b\"}", "[\"\\u",
    "[\"\\uD800\\", "[1e", "[-", "{\"a\"", "{\"a\":", "{", "[", "tr", "nul", "[nulll]", "[truefalse]",
].map { Array($0.utf8) } + [
    // Not UTF-8 (in strings and out).
    [0x5B, 0x61, 0xE5, 0x5D], [0x5B, 0xFF, 0x5D], [0x5B, 0x22, 0xFF, 0x22, 0x5D],
    [0x5B, 0x31, 0x32, 0x33, 0xE5, 0x5D], [0x5B, 0x22, 0xE6, 0x97, 0xA5, 0xD1, 0x88, 0xFA, 0x22, 0x5D],
    [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], [0x5B, 0x22, 0x81, 0x22, 0x5D], [0x5B, 0x22, 0xF4, 0xBF, 0xBF, 0xBF, 0x22, 0x5D],
    [0x5B, 0x22, 0xE0, 0xFF, 0x22, 0x5D], [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D],
    [0x5B, 0x22, 0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF, 0x22, 0x5D], [0x5B, 0x22, 0xE9, 0x22, 0x5D],
    [0x5B, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x5D], [0x5B, 0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22, 0x5D],
    [0x5B, 0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22, 0x5D], [0x5B, 0x22, 0xC2, 0x22, 0x5D], [0x22, 0xE2, 0x82],
    [0xFF, 0xFE, 0x5B, 0x00, 0x5D, 0x00], [0x7B, 0x22, 0xB9, 0x22, 0x3A, 0x22, 0x30, 0x22, 0x2C, 0x7D],
    // Control characters unescaped.
    [0x5B, 0x22, 0x61, 0x01, 0x22, 0x5D], [0x5B, 0x22, 0x1F, 0x22, 0x5D], [0x5B, 0x22, 0x0B, 0x61, 0x22, 0x5D],
]

@Suite("Parsing: RFC 8259, strictly")
struct ParsingTests {
    @Test("JSONTestSuite y_ cases parse", arguments: accepted)
    func acceptsValid(_ text: String) {
        #expect(parseError(text) == nil)
    }

    @Test("JSONTestSuite n_ cases (and the refused i_ ones) are refused", arguments: refused)
    func refusesInvalid(_ bytes: [UInt8]) {
        #expect(parseError(bytes) != nil)
    }

    @Test("each refusal names its reason and the byte offset where it was found")
    func exactReasonsAndOffsets() {
        let cases: [(input: [UInt8], reason: ContentJSONError.Reason, offset: Int)] = [
            (Array("[1,]".utf8), .trailingComma, 2),
            (Array("{\"a\":1,}".utf8), .trailingComma, 6),
            (Array("[01]".utf8), .leadingZero, 1),
            (Array("[-01]".utf8), .leadingZero, 1),
            ([0x5B, 0x22, 0x61, 0x01, 0x22, 0x5D], .controlCharacterInString, 3),
            (Array("[\"\\x\"]".utf8), .invalidEscape, 2),
            (Array("[\"\\u12G4\"]".utf8), .invalidUnicodeEscape, 2),
            (Array("[\"\\uD800\"]".utf8), .unpairedSurrogate, 2),
            (Array("[\"\\uDC00\"]".utf8), .unpairedSurrogate, 2),
            (Array("[\"\\uD800\\u0041\"]".utf8), .unpairedSurrogate, 2),
            (Array("[\"\\uDd1e\\uD834\"]".utf8), .unpairedSurrogate, 2),
            ([0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], .invalidUTF8, 2),
            ([0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], .invalidUTF8, 2),
            ([0x5B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x5D], .invalidUTF8, 2),
            ([0x5B, 0x22, 0x61, 0xE0, 0xFF, 0x22, 0x5D], .invalidUTF8, 3),
            (Array("[1 2]".utf8), .expectedCommaOrEnd, 3),
            (Array("{\"a\" 1}".utf8), .expectedColon, 5),
            (Array("{1:1}".utf8), .expectedKey, 1),
            (Array("{\"a\":1,2}".utf8), .expectedKey, 7),
            (Array("[1]x".utf8), .trailingContent, 3),
            (Array("{\"a\":1}}".utf8), .trailingContent, 7),
            ([], .unexpectedEndOfInput, 0),
            (Array("  ".utf8), .unexpectedEndOfInput, 2),
            (Array("[".utf8), .unexpectedEndOfInput, 1),
            (Array("[\"abc".utf8), .unexpectedEndOfInput, 5),
            (Array("[tru]".utf8), .invalidLiteral, 1),
            (Array("[True]".utf8), .unexpectedByte, 1),
            ([0xEF, 0xBB, 0xBF, 0x7B, 0x7D], .unexpectedByte, 0),
            (Array("[1.]".utf8), .invalidNumber, 3),
            (Array("[-]".utf8), .invalidNumber, 2),
            (Array("[.5]".utf8), .unexpectedByte, 1),
            (Array("[1e]".utf8), .invalidNumber, 3),
            (Array("[+1]".utf8), .unexpectedByte, 1),
            ([0x5B, 0x0C, 0x5D], .unexpectedByte, 1),
            (Array("{\"a\":1,\"a\":2}".utf8), .duplicateKey, 7),
            (Array("{\"a\":1,\"\\u0061\":2}".utf8), .duplicateKey, 7),
            (Array("{\"b\":1,\"a\":2,\"c\":3,\"a\":4}".utf8), .duplicateKey, 19),
            (Array("{\"a\":{\"b\":1,\"b\":2}}".utf8), .duplicateKey, 12),
            (Array("{\"\\/\":1,\"/\":2}".utf8), .duplicateKey, 8),
        ]
        for (input, reason, offset) in cases {
            let error = parseError(input)
            #expect(error == ContentJSONError(reason, at: offset), "\(input)")
        }
    }

    @Test("keys that differ only unescaped, and equal keys in different objects, are not duplicates")
    func notDuplicates() {
        #expect(parseError("{\"a\":1,\"\\u0062\":2,\"ab\":3,\"\":4}") == nil)
        #expect(parseError("[{\"a\":1},{\"a\":1}]") == nil)
        #expect(parseError("{\"a\":{\"a\":{\"a\":1}}}") == nil)
    }

    @Test("a duplicate among many members is found (the sorted check), at the later key")
    func duplicateAmongMany() {
        var members = (0..<300).map { "\"k\($0)\":\($0)" }
        #expect(parseError("{" + members.joined(separator: ",") + "}") == nil)
        members.append("\"k\\u0031\\u00357\":0")  // k157, escaped
        let text = "{" + members.joined(separator: ",") + "}"
        let offset = Array(text.utf8).count - "\"k\\u0031\\u00357\":0}".utf8.count
        #expect(parseError(text) == ContentJSONError(.duplicateKey, at: offset))
    }

    @Test("depth: 32 nested containers parse, 33 are refused at the 33rd bracket")
    func depthLimit() {
        let deep = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(parseError(deep) == nil)
        let deeper = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(parseError(deeper) == ContentJSONError(.depthLimitExceeded, at: 32))
        let objects = String(repeating: "{\"a\":", count: 33) + "1" + String(repeating: "}", count: 33)
        #expect(parseError(objects) == ContentJSONError(.depthLimitExceeded, at: 32 * 5))
        // Hostile nesting costs no stack: the parser does not recurse.
        let hostile = String(repeating: "[", count: 200_000)
        #expect(parseError(hostile, limits: .init(maximumDepth: 1_000_000, maximumTokens: 1_000_000)) == ContentJSONError(.unexpectedEndOfInput, at: 200_000))
        #expect(parseError("[[1]]", limits: .init(maximumDepth: 1)) == ContentJSONError(.depthLimitExceeded, at: 1))
    }

    @Test("token and member limits")
    func tokenAndMemberLimits() {
        #expect(parseError("[1,2,3]", limits: .init(maximumTokens: 4)) == nil)
        #expect(parseError("[1,2,3]", limits: .init(maximumTokens: 3)) == ContentJSONError(.tokenLimitExceeded, at: 5))
        // Keys count as tokens.
        #expect(parseError("{\"a\":1}", limits: .init(maximumTokens: 2)) == ContentJSONError(.tokenLimitExceeded, at: 5))
        #expect(parseError("[1,2,3]", limits: .init(maximumMembers: 3)) == nil)
        #expect(parseError("[1,2,3]", limits: .init(maximumMembers: 2)) == ContentJSONError(.memberLimitExceeded, at: 5))
        #expect(parseError("{\"a\":1,\"b\":2}", limits: .init(maximumMembers: 1)) == ContentJSONError(.memberLimitExceeded, at: 11))
        let many = "[" + Array(repeating: "0", count: 65_536).joined(separator: ",") + "]"
        #expect(parseError(many) == ContentJSONError(.tokenLimitExceeded, at: 2 * 65_535 + 1))
    }

    @Test("the tape: tokens for values and keys, ranges covering quotes and brackets")
    func tape() throws {
        let bytes = Array(" {\"a\": [1, \"x\", true], \"b\": null} ".utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        #expect(document.tokenCount == 8)
        let root = document.root
        #expect(root.kind == .object)
        #expect(root.byteRange == 1..<33)
        #expect(document.count(of: root) == 2)
        let members = document.members(of: root)
        #expect(members.map(\.key.byteRange) == [2..<5, 23..<26])
        #expect(members.map(\.value.kind) == [.array, .null])
        let elements = document.elements(of: members[0].value)
        #expect(elements.map(\.kind) == [.number, .string, .true])
        #expect(elements.map(\.byteRange) == [8..<9, 11..<14, 16..<20])
        #expect(document.elements(of: root).isEmpty)
        #expect(document.members(of: members[0].value).isEmpty)
        #expect(document.count(of: elements[0]) == 0)
    }
}
