import RetentionVocabulary
import RetentionPolicy
import Testing

/// Docs/examples/policy.json, found from this file so the test runs from any directory.
let examplePolicyPath: String = {
    var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)  // ConfigurationTests.swift, RetentionPolicyTests, Tests
    return (components + ["Docs", "examples", "policy.json"]).joined(separator: "/")
}()

/// A bad document, where its first problem is, and what kind it is. Values the loader must not
/// echo contain `LEAK`.
struct ConfigErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let json: String
    let path: String
    let kind: PolicyConfigurationError.Kind

    var testDescription: String { name }

    static let all: [ConfigErrorCase] = [
        ConfigErrorCase(
            name: "wrong type names the field",
            json: #"{"version":1,"workspaces":[{"id":"a","zdr":true},{"id":"b","zdr":false},{"id":"c","zdr":"LEAK"}]}"#,
            path: "workspaces[2].zdr", kind: .expected(.boolean)),
        ConfigErrorCase(
            name: "misspelt key is unknown",
            json: #"{"version":1,"workspaces":[{"id":"a","zdrr":true}]}"#,
            path: "workspaces[0].zdrr", kind: .unknownKey),
        ConfigErrorCase(
            name: "unknown top-level key",
            json: #"{"version":1,"workspaces":[],"retention":"LEAK"}"#,
            path: "retention", kind: .unknownKey),
        ConfigErrorCase(
            name: "non-word key is not echoed",
            json: #"{"version":1,"workspaces":[],"LEAK LEAK":1}"#,
            path: "?", kind: .unknownKey),
        ConfigErrorCase(
            name: "missing version", json: #"{"workspaces":[]}"#, path: "version", kind: .missingKey),
        ConfigErrorCase(
            name: "future version", json: #"{"version":2,"workspaces":[]}"#,
            path: "version", kind: .expected(.supportedVersion)),
        ConfigErrorCase(
            name: "version as text", json: #"{"version":"1","workspaces":[]}"#,
            path: "version", kind: .expected(.supportedVersion)),
        ConfigErrorCase(
            name: "fractional version", json: #"{"version":1.0,"workspaces":[]}"#,
            path: "version", kind: .expected(.supportedVersion)),
        ConfigErrorCase(
            name: "missing workspaces", json: #"{"version":1}"#, path: "workspaces", kind: .missingKey),
        ConfigErrorCase(
            name: "document is not an object", json: #"["LEAK"]"#, path: "", kind: .expected(.object)),
        ConfigErrorCase(
            name: "workspaces is not an array", json: #"{"version":1,"workspaces":{"a":true}}"#,
            path: "workspaces", kind: .expected(.array)),
        ConfigErrorCase(
            name: "workspace is not an object", json: #"{"version":1,"workspaces":["LEAK"]}"#,
            path: "workspaces[0]", kind: .expected(.object)),
        ConfigErrorCase(
            name: "workspace without zdr", json: #"{"version":1,"workspaces":[{"id":"a"}]}"#,
            path: "workspaces[0].zdr", kind: .missingKey),
        ConfigErrorCase(
            name: "malformed identifier", json: #"{"version":1,"workspaces":[{"id":"LEAK Corp","zdr":true}]}"#,
            path: "workspaces[0].id", kind: .expected(.identifier)),
        ConfigErrorCase(
            name: "identifier of the wrong type", json: #"{"version":1,"workspaces":[{"id":7,"zdr":true}]}"#,
            path: "workspaces[0].id", kind: .expected(.identifier)),
        ConfigErrorCase(
            name: "duplicate workspace",
            json: #"{"version":1,"workspaces":[{"id":"a","zdr":true},{"id":"a","zdr":false}]}"#,
            path: "workspaces[1].id", kind: .duplicateEntry),
        ConfigErrorCase(
            name: "duplicate key", json: #"{"version":1,"workspaces":[{"id":"a","zdr":true,"zdr":false}]}"#,
            path: "workspaces[0].zdr", kind: .duplicateKey),
        ConfigErrorCase(
            name: "null agent switch",
            json: #"{"version":1,"workspaces":[{"id":"a","zdr":true,"agents":[{"id":"x"},{"id":"y","zdr":null}]}]}"#,
            path: "workspaces[0].agents[1].zdr", kind: .expected(.boolean)),
        ConfigErrorCase(
            name: "duplicate agent",
            json: #"{"version":1,"workspaces":[{"id":"a","zdr":true,"agents":[{"id":"x"},{"id":"x"}]}]}"#,
            path: "workspaces[0].agents[1].id", kind: .duplicateEntry),
        ConfigErrorCase(
            name: "unknown agent key",
            json: #"{"version":1,"workspaces":[{"id":"a","zdr":true,"agents":[{"id":"x","workspace":"LEAK"}]}]}"#,
            path: "workspaces[0].agents[0].workspace", kind: .unknownKey),
        ConfigErrorCase(
            name: "unknown transfer mode",
            json: #"{"version":1,"workspaces":[],"providers":[{"id":"p","zdrCoverage":["sync","LEAK"]}]}"#,
            path: "providers[0].zdrCoverage[1]", kind: .expected(.transferModeName)),
        ConfigErrorCase(
            name: "repeated transfer mode",
            json: #"{"version":1,"workspaces":[],"providers":[{"id":"p","zdrCoverage":["sync","sync"]}]}"#,
            path: "providers[0].zdrCoverage[1]", kind: .duplicateEntry),
        ConfigErrorCase(
            name: "provider without coverage",
            json: #"{"version":1,"workspaces":[],"providers":[{"id":"p","zdrCoverage":[]},{"id":"q"}]}"#,
            path: "providers[1].zdrCoverage", kind: .missingKey),
        ConfigErrorCase(
            name: "duplicate provider",
            json: #"{"version":1,"workspaces":[],"providers":[{"id":"p","zdrCoverage":[]},{"id":"p","zdrCoverage":[]}]}"#,
            path: "providers[1].id", kind: .duplicateEntry),
        ConfigErrorCase(
            name: "unknown product in the allowlist",
            json: #"{"version":1,"workspaces":[],"zdrModels":{"textToSpeach":["m"]}}"#,
            path: "zdrModels.textToSpeach", kind: .unknownKey),
        ConfigErrorCase(
            name: "allowlist entry of the wrong type",
            json: #"{"version":1,"workspaces":[],"zdrModels":{"textToSpeech":["m",1]}}"#,
            path: "zdrModels.textToSpeech[1]", kind: .expected(.identifier)),
        ConfigErrorCase(
            name: "first problem in document order",
            json: #"{"version":1,"workspaces":[],"zdrModels":{"video":[1],"music":[2]}}"#,
            path: "zdrModels.video[0]", kind: .expected(.identifier)),
        ConfigErrorCase(
            name: "repeated allowlist model",
            json: #"{"version":1,"workspaces":[],"zdrModels":{"textToSpeech":["m","m"]}}"#,
            path: "zdrModels.textToSpeech[1]", kind: .duplicateEntry),
        ConfigErrorCase(
            name: "unknown eligibility base",
            json: #"{"version":1,"workspaces":[],"eligibility":{"base":"LEAK"}}"#,
            path: "eligibility.base", kind: .expected(.eligibilityBaseName)),
        ConfigErrorCase(
            name: "eligibility without base",
            json: #"{"version":1,"workspaces":[],"eligibility":{"allow":{}}}"#,
            path: "eligibility.base", kind: .missingKey),
        ConfigErrorCase(
            name: "unknown data class",
            json: #"{"version":1,"workspaces":[],"eligibility":{"base":"none","allow":{"music":["LEAK"]}}}"#,
            path: "eligibility.allow.music[0]", kind: .expected(.dataClassName)),
        ConfigErrorCase(
            name: "unknown ineligible handling",
            json: #"{"version":1,"workspaces":[],"ineligible":"LEAK"}"#,
            path: "ineligible", kind: .expected(.ineligibleHandlingName)),
    ]
}

@Suite("JSON configuration")
struct ConfigurationTests {
    @Test("The documented example loads and equals the same policy written in Swift")
    func exampleFileLoads() throws {
        let loaded = try RetentionPolicy(contentsOfFile: examplePolicyPath)
        let written = try RetentionPolicy(
            eligibility: RetentionPolicy.standardEligibility
                .allowing([.hostDefined], for: .languageModel)
                .forbidding([.audioInput, .audioOutput], for: .voiceChanger))
            .zdrModels(["tts-fast", "tts-max"], for: .textToSpeech)
            .provider("realtime-llm", zdrCoverage: [.streaming])
            .provider("hosted-stt", zdrCoverage: [.sync, .streaming])
            .provider("third-party-llm", zdrCoverage: [])
            .workspace("acme", zdr: true)
            .agent("support-bot", in: "acme")
            .agent("sales-bot", in: "acme", zdr: true)
            .workspace("beta", zdr: false)
            .agent("private-bot", in: "beta", zdr: true)
            .agent("public-bot", in: "beta", zdr: false)
        #expect(loaded == written)
        #expect(loaded.ineligibleHandling == .reject)

        let tts = loaded.decide(
            workspace: id("acme"), agent: id("support-bot"), product: .textToSpeech,
            dataClasses: [.textInput, .audioOutput], model: id("tts-max"))
        #expect(tts.outcome == .accepted && tts.retentionMode == .zeroDataRetention)
        let voiceChanger = loaded.decide(
            workspace: id("acme"), product: .voiceChanger, dataClasses: [.audioInput], model: id("vc-1"))
        #expect(voiceChanger.reason == .dataClassIneligible)
    }

    @Test("Bad documents fail with the key path and never the value", arguments: ConfigErrorCase.all)
    func badDocument(_ testCase: ConfigErrorCase) {
        #expect {
            try RetentionPolicy(json: testCase.json.utf8)
        } throws: { error in
            guard let error = error as? PolicyConfigurationError else { return false }
            return error.path == testCase.path && error.kind == testCase.kind
                && !error.description.contains("LEAK")
        }
    }

    @Test("Error text is the key path and the expectation")
    func errorText() {
        let error = PolicyConfigurationError(path: "workspaces[2].zdr", kind: .expected(.boolean))
        #expect(error.description == "workspaces[2].zdr: expected boolean")
        #expect(PolicyConfigurationError(path: "workspaces[0].zdrr", kind: .unknownKey).description == "workspaces[0].zdrr: unknown key")
        #expect(PolicyConfigurationError(path: "", kind: .expected(.object)).description == "(document): expected object")
    }

    @Test(
        "Anything but strict JSON is malformed",
        arguments: [
            "", " ", #"{"version":1,"workspaces":[],}"#, #"{"version":1,"workspaces":[1,]}"#,
            #"{'version':1}"#, #"{"version":01,"workspaces":[]}"#, #"{"version":1,"workspaces":[]} x"#,
            #"{"version":1 /* c */,"workspaces":[]}"#, #"{"version":NaN}"#, #"{"version":-,"workspaces":[]}"#,
            #"{"version":1.,"workspaces":[]}"#, #"{"version":1e,"workspaces":[]}"#, #"{"a":"unterminated}"#,
            "{\"a\":\"tab\there\"}", #"{"a":"\uD800"}"#, #"{"a":"\uDC00\uD800"}"#, #"{"a":"\x"}"#,
            #"{"a":"\u12G4"}"#, "{\"version\":1,\"workspaces\":[]}{}", #"{"a":tru}"#, #"{"a"1}"#,
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        ])
    func malformed(_ json: String) {
        #expect {
            try RetentionPolicy(json: json.utf8)
        } throws: { error in
            guard case .malformedJSON? = (error as? PolicyConfigurationError)?.kind else { return false }
            return true
        }
    }

    @Test("Malformed JSON reports where parsing stopped")
    func malformedOffset() {
        #expect(throws: PolicyConfigurationError(path: "", kind: .malformedJSON(byteOffset: 29))) {
            try RetentionPolicy(json: #"{"version":1,"workspaces":[1,]}"#.utf8)
        }
    }

    @Test("Invalid UTF-8 inside a string is malformed")
    func invalidUTF8() {
        let bytes: [UInt8] = Array(#"{"version":1,"workspaces":[],""#.utf8) + [0xC3, 0x28] + Array(#"":1}"#.utf8)
        #expect {
            try RetentionPolicy(json: bytes)
        } throws: { error in
            guard case .malformedJSON? = (error as? PolicyConfigurationError)?.kind else { return false }
            return true
        }
    }

    @Test("Escapes decode, so an escaped key or identifier is the same as a plain one")
    func escapesDecode() throws {
        let policy = try RetentionPolicy(
            json: #"{"version":1,"workspaces":[{"\u0069d":"a\u0063me","zdr":true}],"providers":[]}"#.utf8)
        #expect(policy.workspace(id("acme"))?.zdr == true)
        // A surrogate pair decodes to one scalar; as an unknown key it is shown as `?`.
        #expect(throws: PolicyConfigurationError(path: "?", kind: .unknownKey)) {
            try RetentionPolicy(json: #"{"version":1,"workspaces":[],"\uD83D\uDE00":1}"#.utf8)
        }
    }

    @Test("Numbers and whitespace in valid JSON are accepted where allowed")
    func validJSONVariants() throws {
        let policy = try RetentionPolicy(
            json: " \r\n\t{ \"version\" : 1 , \"ineligible\" : \"processWithRetention\" , \"workspaces\" : [ ] } \n".utf8)
        #expect(policy.ineligibleHandling == .processWithRetention)
        #expect(policy.workspaces.isEmpty)
        let none = try RetentionPolicy(json: #"{"version":1,"workspaces":[],"eligibility":{"base":"none"}}"#.utf8)
        #expect(none.eligibility == EligibilityMatrix())
        // Forbid wins over allow for the same pair: fail closed.
        let both = try RetentionPolicy(
            json: #"{"version":1,"workspaces":[],"eligibility":{"base":"none","allow":{"music":["media"]},"forbid":{"music":["media"]}}}"#.utf8)
        #expect(!both.eligibility.isEligible(.music, .media))
    }

    @Test("Oversized documents are refused before parsing")
    func oversized() {
        let bytes = [UInt8](repeating: 0x20, count: RetentionPolicy.maximumConfigurationSize + 1)
        #expect(throws: PolicyConfigurationError(path: "", kind: .tooLarge)) {
            try RetentionPolicy(json: bytes)
        }
    }

    @Test("An unreadable file is a typed error")
    func unreadableFile() {
        #expect(throws: PolicyConfigurationError(path: "", kind: .unreadableFile)) {
            try RetentionPolicy(contentsOfFile: examplePolicyPath + ".missing")
        }
        #expect(throws: PolicyConfigurationError(path: "", kind: .unreadableFile)) {
            // A directory opens but cannot be read.
            try RetentionPolicy(contentsOfFile: "/")
        }
        #expect(throws: PolicyConfigurationError(path: "", kind: .unreadableFile)) {
            // Only regular files are read: a device is refused, not read as an empty document.
            try RetentionPolicy(contentsOfFile: "/dev/null")
        }
    }
}

@Suite("Builder")
struct BuilderTests {
    @Test("The builder reports the same key paths as the file format")
    func builderErrors() throws {
        #expect(throws: PolicyConfigurationError(path: "workspaces[1].id", kind: .expected(.identifier))) {
            try RetentionPolicy().workspace("a", zdr: true).workspace("Not An Id", zdr: false)
        }
        #expect(throws: PolicyConfigurationError(path: "workspaces[1].id", kind: .duplicateEntry)) {
            try RetentionPolicy().workspace("a", zdr: true).workspace("a", zdr: false)
        }
        #expect(throws: PolicyConfigurationError(path: "workspaces", kind: .undeclaredWorkspace)) {
            try RetentionPolicy().workspace("a", zdr: true).agent("x", in: "b")
        }
        #expect(throws: PolicyConfigurationError(path: "workspaces[1].agents[1].id", kind: .duplicateEntry)) {
            try RetentionPolicy().workspace("a", zdr: true).workspace("b", zdr: true)
                .agent("x", in: "b").agent("x", in: "b")
        }
        #expect(throws: PolicyConfigurationError(path: "zdrModels.music", kind: .duplicateKey)) {
            try RetentionPolicy().zdrModels(["m"], for: .music).zdrModels(["n"], for: .music)
        }
        #expect(throws: PolicyConfigurationError(path: "providers[0].id", kind: .expected(.identifier))) {
            try RetentionPolicy().provider("", zdrCoverage: [])
        }
    }

    @Test("A policy is built in a few lines and read back")
    func builderReadsBack() throws {
        let policy = try RetentionPolicy(ineligible: .processWithRetention)
            .workspace("acme", zdr: true)
            .agent("bot", in: "acme")
            .provider("realtime-llm", zdrCoverage: [.streaming])
            .zdrModels(["tts-fast"], for: .textToSpeech)
        #expect(policy.workspaces.map(\.id) == [id("acme")])
        #expect(policy.workspace(id("acme"))?.agent(id("bot"))?.zdr == nil)
        #expect(policy.provider(id("realtime-llm"))?.zdrCoverage == [.streaming])
        #expect(policy.zdrModels == [.textToSpeech: [id("tts-fast")]])
        #expect(policy.ineligibleHandling == .processWithRetention)
        #expect(policy.eligibility == RetentionPolicy.standardEligibility)
    }
}

@Suite("JSON representation")
struct JSONRepresentationTests {
    @Test("A small policy is written in the documented format")
    func golden() throws {
        let policy = try RetentionPolicy(
            eligibility: EligibilityMatrix().allowing([.textInput, .audioOutput], for: .textToSpeech),
            ineligible: .processWithRetention)
            .zdrModels(["tts-max", "tts-fast"], for: .textToSpeech)
            .provider("realtime-llm", zdrCoverage: [.streaming, .sync])
            .workspace("acme", zdr: true)
            .agent("bot", in: "acme")
            .agent("private-bot", in: "acme", zdr: true)
        #expect(policy.jsonRepresentation == """
            {
              "version": 1,
              "ineligible": "processWithRetention",
              "eligibility": {
                "base": "none",
                "allow": {
                  "textToSpeech": ["textInput", "audioOutput"]
                }
              },
              "zdrModels": {
                "textToSpeech": ["tts-fast", "tts-max"]
              },
              "providers": [
                { "id": "realtime-llm", "zdrCoverage": ["sync", "streaming"] }
              ],
              "workspaces": [
                { "id": "acme", "zdr": true, "agents": [{ "id": "bot" }, { "id": "private-bot", "zdr": true }] }
              ]
            }

            """)
    }

    @Test("The example file and an empty policy survive a round trip")
    func roundTripFixed() throws {
        let example = try RetentionPolicy(contentsOfFile: examplePolicyPath)
        #expect(try RetentionPolicy(json: example.jsonRepresentation.utf8) == example)
        #expect(try RetentionPolicy(json: RetentionPolicy().jsonRepresentation.utf8) == RetentionPolicy())
        #expect(RetentionPolicy().jsonRepresentation.contains(#""base": "standard""#))
    }

    @Test("Random policies survive a round trip")
    func roundTripRandom() throws {
        var generator = PolicyCaseGenerator(random: SplitMix64(seed: 0x5EED_0004))
        for _ in 0..<1_000 {
            let policy = try generator.policy().build()
            #expect(try RetentionPolicy(json: policy.jsonRepresentation.utf8) == policy)
        }
    }
}
