@testable import ContentJSON
import Testing

@Suite("ContentJSON: escape-free strings")
struct EscapeFreeStringTests {
    @Test("a string without escapes and the same text with escapes read back identically, by count, bytes and prefix")
    func sameAsDecoded() throws {
        // [plain, every letter as \u escape, one \n in the middle]
        let bytes = Array(#"["ab/cd é","\u0061\u0062\/\u0063\u0064 \u00e9","ab\ncd"]"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        let values = document.elements(of: document.root)
        #expect(values.map(\.isEscapeFree) == [true, false, false])
        #expect(try unescaped(values[0], in: span) == Array("ab/cd é".utf8))
        #expect(try unescaped(values[1], in: span) == Array("ab/cd é".utf8))
        #expect(try ContentJSON.unescapedByteCount(of: values[0], in: span) == 8)
        #expect(try ContentJSON.unescapedByteCount(of: values[1], in: span) == 8)
        // Too small an output: the same prefix and the same offset rule as the decoding path
        // (the offset after the first byte that did not fit).
        for value in values.prefix(2) {
            var output = [UInt8](repeating: 0, count: 3)
            var caught: ContentJSONError?
            do {
                var elements = output.mutableSpan
                var raw = elements.mutableBytes
                _ = try ContentJSON.unescape(value, in: span, into: &raw)
            } catch {
                caught = error
            }
            #expect(caught?.reason == .outputTooSmall)
            #expect(output == Array("ab/".utf8))
        }
        var small = [UInt8](repeating: 0, count: 3)
        var caught: ContentJSONError?
        do {
            var elements = small.mutableSpan
            var raw = elements.mutableBytes
            _ = try ContentJSON.unescape(values[0], in: span, into: &raw)
        } catch {
            caught = error
        }
        // `"` at 1, a b / at 2…4; the fourth byte `c` at 5 did not fit.
        #expect(caught == ContentJSONError(.outputTooSmall, at: 6))
    }

    @Test("a string's escape flag does not make it a container: count(of:) is 0 for every string")
    func countOfStrings() throws {
        let bytes = Array(#"{"a\n":"x\ty","b":"z"}"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        #expect(document.count(of: document.root) == 2)
        for member in document.members(of: document.root) {
            #expect(document.count(of: member.key) == 0)
            #expect(document.count(of: member.value) == 0)
        }
    }

    @Test("an escape-free value read with a span that has no quotes where it had them is valueOutsideSpan")
    func wrongSpan() throws {
        let bytes = Array(#""abcd""#.utf8)
        let document = try ContentJSON.parse(bytes.span.bytes)
        let other = Array("xabcdx".utf8)
        #expect(throws: ContentJSONError(.valueOutsideSpan, at: 0)) {
            try ContentJSON.unescapedByteCount(of: document.root, in: other.span.bytes)
        }
        let shorter = Array(#""ab"#.utf8)
        #expect(throws: ContentJSONError(.valueOutsideSpan, at: 0)) {
            try ContentJSON.unescapedByteCount(of: document.root, in: shorter.span.bytes)
        }
    }
}
