import Logging
import Testing
import ZeroRetentionLogging

/// The schema every test logs against.
let testSchema = try! LogSchema(
    events: ["request.opened", "request.completed"],
    metadata: [
        "request_id": .identifier,
        "output_tokens": .integer,
        "elapsed": .duration,
        "streamed": .boolean,
        "finished_at": .timestamp,
        "outcome": .enumeration(["ok", "failed", "cancelled"]),
    ])

/// A handler wrapping a fresh capturing upstream, and a `Logger` over it (no global bootstrap).
struct Harness {
    let capture = Capture()
    let drops = LogDropCounters()
    var logger: Logger

    init(upstream: ((Capture) -> CapturingLogHandler)? = nil, configure: (inout DeclaredLogHandler) -> Void = { _ in }) {
        let capture = self.capture
        var handler = DeclaredLogHandler(
            wrapping: upstream?(capture) ?? CapturingLogHandler(capture), schema: testSchema, drops: drops)
        configure(&handler)
        let configured = handler
        logger = Logger(label: "test") { _ in configured }
    }
}

@Suite("Declared log handler: only declared events and metadata reach the upstream")
struct DeclaredLogHandlerTests {
    static let wellFormed: [(key: String, value: Logger.Metadata.Value)] = [
        ("request_id", "r-42.A_b"),
        ("request_id", .string(String(repeating: "x", count: 64))),
        ("output_tokens", "118"),
        ("output_tokens", "-9223372036854775808"),
        ("elapsed", "12ms"),
        ("elapsed", "1.5 seconds"),
        ("elapsed", "1e-05 seconds"),
        ("elapsed", "250us"),
        ("streamed", "false"),
        ("finished_at", "2026-12-01T11:49:22Z"),
        ("finished_at", "2026-12-01T11:49:22.123456789Z"),
        ("outcome", "cancelled"),
    ]

    @Test("A declared event with well-formed metadata reaches the upstream unchanged", arguments: wellFormed)
    func declaredPasses(key: String, value: Logger.Metadata.Value) {
        let harness = Harness()
        // Two entries, so that a filter that forwarded only the first would fail.
        var metadata: Logger.Metadata = key == "request_id" ? ["outcome": "ok"] : ["request_id": "r-1"]
        metadata[key] = value
        harness.logger.warning("request.completed", metadata: metadata)

        let received = harness.capture.received
        #expect(received.count == 1)
        #expect(received.first?.message == "request.completed")
        #expect(received.first?.level == .warning)
        #expect(render(received.first?.metadata) == render(metadata))
        #expect(harness.drops.total == 0)
        #expect(harness.drops.forwardedEvents == 1)
    }

    /// Messages that are not exactly a declared name: each carries the canary.
    static let undeclaredMessages: [@Sendable (String) -> Logger.Message] = [
        { "user said: \($0)" },
        { "request.completed \($0)" },
        { "request.completed: \($0)" },
        { "\($0)" },
        { "Request.Completed\($0)" },
    ]

    @Test("An undeclared message is dropped whole and counted, even with declared metadata",
          arguments: undeclaredMessages.indices)
    func undeclaredMessageDropped(index: Int) {
        let canary = makeCanary()
        let harness = Harness()
        harness.logger.info(Self.undeclaredMessages[index](canary), metadata: ["request_id": "r-1"])

        #expect(harness.capture.received.isEmpty)
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .undeclaredEvent) == 1)
        #expect(harness.drops.forwardedEvents == 0)
    }

    /// A value of the wrong shape for its key, given the canary.
    static let malformed: [(key: String, value: @Sendable (String) -> Logger.Metadata.Value)] = [
        ("request_id", { .string("the prompt was \($0)") }),
        ("request_id", { .string(String(repeating: "a", count: 40) + $0) }),  // over 64 bytes
        ("request_id", { .stringConvertible("\($0)\n") }),
        ("output_tokens", { .string($0) }),
        ("output_tokens", { .string("12 " + $0) }),
        ("elapsed", { .string("1.5 " + $0) }),
        ("streamed", { .string($0) }),
        ("finished_at", { .string("2026-12-01T11:49:22Z" + $0) }),
        ("outcome", { .string($0) }),
    ]

    @Test("A declared key with a malformed value is removed; the event and its good metadata still pass",
          arguments: malformed.indices)
    func malformedValueRemoved(index: Int) {
        let canary = makeCanary()
        let (key, makeValue) = Self.malformed[index]
        let harness = Harness()
        let good: Logger.Metadata.Value = key == "request_id" ? "ok" : "r-7"
        let goodKey = key == "request_id" ? "outcome" : "request_id"
        harness.logger.info("request.completed", metadata: [key: makeValue(canary), goodKey: good])

        let received = harness.capture.received
        #expect(received.count == 1)
        #expect(received.first?.metadata?[key] == nil)
        #expect(render(received.first?.metadata) == render([goodKey: good]))
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .malformedValue) == 1)
        #expect(harness.drops.total == 1)
    }

    @Test("An undeclared key is removed whatever its value, and a canary used as the key does not pass")
    func undeclaredKeyRemoved() {
        let canary = makeCanary()
        let harness = Harness()
        harness.logger.info("request.opened", metadata: [
            "prompt": .string(canary),  // identifier-shaped: refused for its key alone
            canary: "r-1",
            "request_id": "r-1",
        ])

        let received = harness.capture.received
        #expect(received.count == 1)
        #expect(render(received.first?.metadata) == render(["request_id": "r-1"]))
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .undeclaredKey) == 2)
        #expect(harness.drops.total == 2)
    }

    @Test("Nested metadata is removed, even under a declared key")
    func nestedRemoved() {
        let canary = makeCanary()
        let harness = Harness()
        harness.logger.info("request.completed", metadata: [
            "request_id": .dictionary(["text": .string(canary)]),
            "outcome": .array([.string(canary)]),
            "elapsed": "3ms",
        ])

        #expect(render(harness.capture.received.first?.metadata) == render(["elapsed": "3ms"]))
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .nestedValue) == 2)
    }

    @Test("Handler metadata is filtered when it is set, through the subscript or the whole dictionary")
    func handlerMetadataFiltered() {
        let canary = makeCanary()
        var harness = Harness()
        harness.logger[metadataKey: "request_id"] = "r-9"
        harness.logger[metadataKey: "transcript"] = .string(canary)
        harness.logger[metadataKey: "outcome"] = .string(canary)
        #expect(harness.logger[metadataKey: "transcript"] == nil)
        #expect(harness.logger[metadataKey: "outcome"] == nil)
        #expect(harness.logger[metadataKey: "request_id"] == "r-9")

        harness.logger.info("request.opened")
        #expect(render(harness.capture.received.last?.metadata) == render(["request_id": "r-9"]))

        harness.logger.handler.metadata = ["streamed": "true", "audio": .string(canary)]
        #expect(render(harness.logger.handler.metadata) == render(["streamed": "true"]))
        harness.logger.info("request.completed")
        #expect(render(harness.capture.received.last?.metadata) == render(["streamed": "true"]))

        // Setting a rejected value over an accepted one removes it; nil removes without a drop.
        harness.logger[metadataKey: "streamed"] = .string(canary)
        #expect(harness.logger[metadataKey: "streamed"] == nil)
        harness.logger[metadataKey: "request_id"] = "r-10"
        harness.logger[metadataKey: "request_id"] = nil
        #expect(harness.logger.handler.metadata.isEmpty)

        #expect(!harness.capture.renderedText().contains(canary))
        #expect(!render(harness.logger.handler.metadata).contains(canary))
        #expect(harness.drops.count(of: .undeclaredKey) == 2)
        #expect(harness.drops.count(of: .malformedValue) == 2)
    }

    @Test("metadataProvider output is filtered at every record", arguments: [1, 3])
    func providerFiltered(records: Int) {
        let canary = makeCanary()
        let harness = Harness(configure: { handler in
            handler.metadataProvider = Logger.MetadataProvider {
                ["request_id": "r-5", "system_prompt": .string(canary), "output_tokens": .string(canary)]
            }
        })
        for _ in 0..<records { harness.logger.info("request.completed") }

        #expect(harness.capture.received.count == records)
        for received in harness.capture.received {
            #expect(render(received.metadata) == render(["request_id": "r-5"]))
        }
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .undeclaredKey) == UInt64(records))
        #expect(harness.drops.count(of: .malformedValue) == UInt64(records))
    }

    @Test("The upstream's own metadata and provider are taken over and filtered, not left to bypass the filter")
    func upstreamStateTakenOver() {
        let canary = makeCanary()
        let harness = Harness(upstream: { capture in
            CapturingLogHandler(
                capture, metadata: ["request_id": "r-3", "request_text": .string(canary)],
                metadataProvider: Logger.MetadataProvider { ["outcome": "ok", "audio": .string(canary)] })
        })
        harness.logger.info("request.opened")

        #expect(render(harness.capture.received.first?.metadata) == render(["request_id": "r-3", "outcome": "ok"]))
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.logger[metadataKey: "request_id"] == "r-3")
        #expect(harness.drops.count(of: .undeclaredKey) == 2)
    }

    @Test("An error attached to a record is removed and counted; the record passes")
    func attachedErrorRemoved() {
        let canary = makeCanary()
        let harness = Harness()
        harness.logger.handler.log(event: LogEvent(
            level: .error, message: "request.completed", error: ContentCarryingError(text: canary),
            metadata: ["outcome": "failed"], source: "inference", file: #fileID, function: #function, line: #line))

        let received = harness.capture.received
        #expect(received.count == 1)
        #expect(received.first?.errorDescription == nil)
        #expect(render(received.first?.metadata) == render(["outcome": "failed"]))
        #expect(!harness.capture.renderedText().contains(canary))
        #expect(harness.drops.count(of: .attachedError) == 1)
    }

    @Test("Each drop kind is counted under its own reason, and forwarded records separately")
    func everyReasonCounted() {
        let canary = makeCanary()
        let harness = Harness()
        harness.logger.info("\(canary)")
        harness.logger.info("\(canary)")
        harness.logger.info("request.completed", metadata: [
            "voice_sample": .string(canary), "elapsed": .string(canary), "outcome": .array([]),
        ])
        harness.logger.handler.log(event: LogEvent(
            level: .info, message: "request.opened", error: ContentCarryingError(text: canary),
            metadata: nil, source: nil, file: #fileID, function: #function, line: #line))

        #expect(harness.drops.snapshot == [
            .undeclaredEvent: 2, .undeclaredKey: 1, .malformedValue: 1, .nestedValue: 1, .attachedError: 1,
        ])
        #expect(harness.drops.total == 6)
        #expect(harness.drops.forwardedEvents == 2)
        #expect(!harness.capture.renderedText().contains(canary))
    }

    @Test("Copies of a handler share its counters, and concurrent logging counts every record")
    func concurrentCounting() async {
        let harness = Harness()
        let logger = harness.logger
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var copy = logger
                    copy[metadataKey: "request_id"] = .string("task-\(task)")
                    for _ in 0..<50 {
                        copy.info("request.completed")
                        copy.info("free text")
                    }
                }
            }
        }
        #expect(harness.drops.forwardedEvents == 400)
        #expect(harness.drops.count(of: .undeclaredEvent) == 400)
        #expect(harness.capture.received.count == 400)
    }

    @Test("The log level is the upstream's, set through the wrapper; records below it are not counted as drops")
    func logLevelDelegates() {
        var harness = Harness()
        harness.logger.logLevel = .notice
        #expect(harness.logger.logLevel == .notice)
        harness.logger.info("request.completed")
        harness.logger.notice("request.completed")

        #expect(harness.capture.received.count == 1)
        #expect(harness.drops.total == 0)
    }
}

@Suite("Log schema and metadata shapes")
struct LogSchemaTests {
    static let invalidSchemas: [(events: Set<String>, metadata: [String: MetadataShape], error: LogSchemaError)] = [
        (["request completed"], [:], .invalidEventName),
        ([""], [:], .invalidEventName),
        (["request.completed"], ["user text": .identifier], .invalidMetadataKey),
        (["request.completed"], ["outcome": .enumeration([])], .emptyEnumeration),
        (["request.completed"], ["outcome": .enumeration(["ok", "not ok"])], .invalidEnumerationCase),
    ]

    @Test("A schema refuses names, keys and enumeration cases that are not identifiers", arguments: invalidSchemas.indices)
    func invalidSchemaRefused(index: Int) {
        let (events, metadata, error) = Self.invalidSchemas[index]
        #expect(throws: error) { try LogSchema(events: events, metadata: metadata) }
    }

    static let shapeCases: [(shape: MetadataShape, text: String, accepted: Bool)] = [
        (.identifier, "abc-DEF_0.9", true),
        (.identifier, String(repeating: "a", count: 64), true),
        (.identifier, String(repeating: "a", count: 65), false),
        (.identifier, "", false),
        (.identifier, "a b", false),
        (.identifier, "a/b", false),
        (.identifier, "é", false),
        (.integer, "0", true),
        (.integer, "-12", true),
        (.integer, "9223372036854775808", false),
        (.integer, "+1", false),
        (.integer, "1.0", false),
        (.integer, "-", false),
        (.duration, "5s", true),
        (.duration, "0.25ms", true),
        (.duration, "100ns", true),
        (.duration, "2 seconds", true),
        (.duration, "1.5e+03 seconds", true),
        (.duration, "s", false),
        (.duration, "5", false),
        (.duration, "5 s", false),
        (.duration, "-5s", false),
        (.duration, "1.s", false),
        (.duration, "5 minutes", false),
        (.boolean, "true", true),
        (.boolean, "TRUE", false),
        (.boolean, "yes", false),
        (.timestamp, "2026-12-01T11:49:22Z", true),
        (.timestamp, "2026-12-01T11:49:22.5Z", true),
        (.timestamp, "2026-12-01T11:49:22.1234567890Z", false),
        (.timestamp, "2026-12-01T11:49:22+01:00", false),
        (.timestamp, "2026-12-01 11:49:22Z", false),
        (.timestamp, "2026-12-01T11:49:22.Z", false),
        (.enumeration(["ok", "failed"]), "ok", true),
        (.enumeration(["ok", "failed"]), "OK", false),
    ]

    @Test("Each shape accepts what it documents and nothing more", arguments: shapeCases.indices)
    func shapeAcceptance(index: Int) {
        let (shape, text, accepted) = Self.shapeCases[index]
        #expect(shape.accepts(text) == accepted)
    }
}
