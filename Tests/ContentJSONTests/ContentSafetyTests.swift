import ContentJSON
import Testing

@Suite("Content safety: nothing the input says reaches a description, a mirror or an error")
struct ContentSafetyTests {
    static let canary = "CANARY-7f3a"

    /// Malformed inputs with the canary in keys and strings, each refused somewhere else.
    static let malformed: [String] = [
        #"{"CANARY-7f3a":"CANARY-7f3a","CANARY-7f3a":1}"#,
        #"{"CANARY-7f3a" "CANARY-7f3a"}"#,
        #"["CANARY-7f3a",]"#,
        #"["CANARY-7f3a\x"]"#,
        #"["CANARY-7f3a\uD800"]"#,
        "[\"CANARY-7f3a\u{1}\"]",
        #"["CANARY-7f3a"#,
        #"{"CANARY-7f3a":CANARY-7f3a}"#,
        #"["CANARY-7f3a"] CANARY-7f3a"#,
        #"{"a":{"CANARY-7f3a":1,"CANARY-\u0037f3a":2}}"#,
        "[\"CANARY-7f3a\u{FEFF}\", 01]",
    ]

    @Test("errors: description, debugDescription, reflection and dump name a reason and an offset only",
          arguments: malformed)
    func errorsCarryNoContent(_ text: String) throws {
        let error = try #require(parseError(text))
        var dumped = ""
        dump(error, to: &dumped)
        let mirrored = Mirror(reflecting: error).children.map { "\($0.label ?? ""): \($0.value)" }.joined()
        for rendered in [error.description, String(reflecting: error), String(describing: error), dumped, mirrored,
                         "\(error.reason)", "\(Mirror(reflecting: error.reason).children.map(\.value))"] {
            #expect(!rendered.contains("CANARY"), "\(rendered)")
            #expect(!rendered.contains("7f3a"), "\(rendered)")
        }
    }

    @Test("documents, values and members describe kinds and offsets only")
    func documentsCarryNoContent() throws {
        let bytes = Array(#"{"CANARY-7f3a":["CANARY-7f3a",{"k":"CANARY-7f3a"}],"n":7}"#.utf8)
        let span = bytes.span.bytes
        let document = try ContentJSON.parse(span)
        var renderings: [String] = []
        func render(_ value: Any) {
            var dumped = ""
            dump(value, to: &dumped)
            renderings += [String(describing: value), String(reflecting: value), dumped]
            renderings += Mirror(reflecting: value).children.map { "\($0.label ?? ""): \($0.value)" }
        }
        render(document)
        render(document.root)
        for member in document.members(of: document.root) { render(member); render(member.key); render(member.value) }
        for element in document.elements(of: document.members(of: document.root)[0].value) { render(element) }
        #expect(renderings.count > 20)
        for rendered in renderings {
            #expect(!rendered.contains("CANARY"), "\(rendered)")
            #expect(!rendered.contains("7f3a"), "\(rendered)")
        }
        #expect(String(describing: document) == "ContentJSONDocument(9 tokens)")
        #expect(String(describing: document.root) == "object 0..<\(bytes.count)")
    }
}
