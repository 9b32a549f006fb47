import ContentJSON
import Hummingbird
import NIOCore
import ZeroRetention
import ZeroRetentionHummingbird
import ZeroRetentionNIO
import ZeroRetentionWebSocket
import HummingbirdWebSocket

/// The zero-retention routes. Each one admits the request from its headers before reading a
/// byte of the body, seals the body into the request's scope as it arrives (NIO's buffers
/// zeroed in place), runs a fake engine on plaintext in locked scratch only, and writes the
/// response from sealed chunks through wiping buffers; the scope is discarded when the last
/// byte is written, the client goes away, or anything throws, and the receipt goes to the ledger.
struct InferenceRoutes: Sendable {
    let audited: AuditedVault

    /// The models each route serves; the first is the default when the request names none.
    static let ttsModels = ["tts-fast"]
    static let sttModels = ["stt-fast"]
    static let chatModels = ["llm-small"]
    /// The voices the fake TTS engine knows.
    static let voices = ["rachel", "adam"]

    /// Most bytes a body may have: JSON requests, whole audio, and a streamed audio body.
    static let jsonBodyLimit = 256 << 10
    static let audioBodyLimit = 4 << 20
    static let streamBodyLimit = 16 << 20

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/text-to-speech") { request, _ in try await textToSpeech(request) }
        router.post("/v1/speech-to-text") { request, _ in try await speechToText(request) }
        router.post("/v1/speech-to-text/stream") { request, _ in try await speechToTextStream(request) }
        router.post("/v1/chat/completions") { request, _ in try await chatCompletions(request) }
        router.post("/v1/voices/clone") { request, _ in try voiceClone(request) }
        router.get("/v1/zdr/receipts/:id") { _, context in try receipt(context.parameters.get("id")) }
        router.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
    }

    // MARK: - Text to speech

    /// `POST /v1/text-to-speech?model_id=…` `{"text": "…", "model_id": "…", "voice_id": "…"}` →
    /// audio bytes (FakeEngines.synthesize).
    func textToSpeech(_ request: Request) async throws -> Response {
        let model = try Self.model(of: request, parameter: "model_id", among: Self.ttsModels)
        let admitted = try audited.admit(request, product: .textToSpeech, dataClasses: [.textInput, .audioOutput], model: model)
        return try await admitted.respond { scope in
            try await scope.ingest(request.body, into: .textInput, limit: Self.jsonBodyLimit)
            let characters = try scope.withPlaintext(of: .textInput, thrownErrors: .passThrough) { body in
                let document = try Self.parse(body)
                let root = document.root
                try Self.requireField("model_id", of: root, in: document, body, toName: model)
                if let voice = document.member("voice_id", of: root, in: body) {
                    guard ContentJSON.matchIndex(voice, in: body, oneOf: Self.voices) != nil else { throw Self.badRequest }
                }
                guard let text = document.member("text", of: root, in: body), text.kind == .string else { throw Self.badRequest }
                let count = try ContentJSON.unescapedByteCount(of: text, in: body)
                guard count > 0 else { throw Self.badRequest }
                // Unescaped straight into the output's locked scratch, then synthesized in place.
                try scope.write(to: .audioOutput, byteCount: count, final: true, thrownErrors: .passThrough) { audio in
                    let written = try ContentJSON.unescape(text, in: body, into: &audio)
                    FakeEngines.synthesize(&audio)
                    return written
                }
                return count
            }
            try audited.recordUsage(of: admitted, [UsageCount(unit: .characters, count: UInt64(characters))])
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: .sealedContent(of: .audioOutput, in: scope))
        }
    }

    // MARK: - Speech to text

    private static let transcriptPrefix = Array(#"{"text":""#.utf8)
    private static let transcriptSuffix = Array(#""}"#.utf8)

    /// `POST /v1/speech-to-text?model_id=…`, raw audio body → `{"text": "…"}` (FakeEngines.transcribe).
    func speechToText(_ request: Request) async throws -> Response {
        let model = try Self.model(of: request, parameter: "model_id", among: Self.sttModels)
        let admitted = try audited.admit(request, product: .speechToText, dataClasses: [.audioInput, .transcriptOutput], model: model)
        return try await admitted.respond { scope in
            let audioBytes = try await scope.ingest(request.body, into: .audioInput, limit: Self.audioBodyLimit)
            guard audioBytes > 0 else { throw Self.badRequest }
            try scope.append(to: .transcriptOutput, copying: Self.transcriptPrefix.span.bytes)
            var index = 0
            while try scope.withChunk(of: .audioInput, at: index, thrownErrors: .passThrough, { audio in
                try scope.write(to: .transcriptOutput, byteCount: audio.byteCount, thrownErrors: .passThrough) { transcript in
                    FakeEngines.transcribe(audio, into: &transcript)
                }
            }) != nil {
                index += 1
            }
            try scope.append(to: .transcriptOutput, copying: Self.transcriptSuffix.span.bytes, final: true)
            try audited.recordUsage(of: admitted, [UsageCount(unit: .bytes, count: UInt64(audioBytes))])
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .sealedContent(of: .transcriptOutput, in: scope))
        }
    }

    static let partialPrefix = Array(#"{"partial":""#.utf8)
    static let partialSuffix = Array("\"}\n".utf8)

    /// `POST /v1/speech-to-text/stream?model_id=…`, chunked audio in, one NDJSON line per body
    /// part out while the body still arrives (`{"partial":"…"}`), then `{"final":true,"parts":N}`.
    func speechToTextStream(_ request: Request) async throws -> Response {
        let model = try Self.model(of: request, parameter: "model_id", among: Self.sttModels)
        let admitted = try audited.admit(request, product: .speechToText, dataClasses: [.audioInput, .transcriptOutput], model: model)
        let audited = self.audited
        return try await admitted.respond { scope in
            Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .streaming(in: scope) { writer in
                var parts = 0
                var total = 0
                for try await var part in request.body {
                    guard part.readableBytes > 0 else { continue }
                    total += part.readableBytes
                    guard total <= Self.streamBodyLimit else {
                        part.zeroReadableBytes()
                        throw ZeroRetentionHTTPError(.contentTooLarge, .bodyTooLarge)
                    }
                    try scope.append(to: .audioInput, ingesting: &part)
                    // The part's transcript goes out at once, from locked scratch into a wiping buffer.
                    let line = try scope.withChunk(of: .audioInput, at: parts, thrownErrors: .passThrough) { audio in
                        WipingAllocator.buffer(capacity: Self.partialPrefix.count + audio.byteCount + Self.partialSuffix.count) { out in
                            let offset = FakeEngines.transcribe(audio, into: &out, at: out.write(Self.partialPrefix, at: 0))
                            return out.write(Self.partialSuffix, at: offset)
                        }
                    }
                    parts += 1
                    if let line { try await writer.write(line) }
                }
                try scope.append(to: .audioInput, copying: [UInt8]().span.bytes, final: true)
                try audited.recordUsage(of: admitted, [UsageCount(unit: .bytes, count: UInt64(total))])
                try await writer.write(ByteBuffer(string: "{\"final\":true,\"parts\":\(parts)}\n"))
            })
        }
    }

    /// `GET /v1/speech-to-text/ws?model_id=…` upgraded to a WebSocket: binary audio frames in,
    /// one text frame `{"partial":"…"}` per audio frame out, sealed and transcribed as they come.
    /// A refused upgrade is closed at once with 1008 and the reason code.
    func registerWebSocket(on router: Router<ZeroRetentionWebSocketContext>) {
        let audited = self.audited
        router.zeroRetentionWebSocket("/v1/speech-to-text/ws") { request, _ in
            let model = try Self.model(of: request, parameter: "model_id", among: Self.sttModels)
            return try audited.admit(request, product: .speechToText, dataClasses: [.audioInput, .transcriptOutput], model: model)
        } onUpgrade: { inbound, outbound, admitted in
            let scope = admitted.scope
            var frames = 0
            var total = 0
            for try await var frame in inbound {
                guard frame.opcode == .binary || frame.opcode == .continuation else {
                    frame.data.zeroReadableBytes()
                    try await outbound.close(.unacceptableData, reason: "binaryFramesOnly")
                    return
                }
                guard frame.data.readableBytes > 0 else { continue }
                total += frame.data.readableBytes
                guard total <= Self.streamBodyLimit else {
                    frame.data.zeroReadableBytes()
                    try await outbound.close(.messageTooLarge, reason: "bodyTooLarge")
                    return
                }
                try scope.append(to: .audioInput, ingesting: &frame.data)
                let partial = try scope.withChunk(of: .audioInput, at: frames, thrownErrors: .passThrough) { audio in
                    WipingAllocator.buffer(capacity: Self.partialPrefix.count + audio.byteCount + Self.partialSuffix.count - 1) { out in
                        let offset = FakeEngines.transcribe(audio, into: &out, at: out.write(Self.partialPrefix, at: 0))
                        return out.write(Array(Self.partialSuffix.dropLast()), at: offset)   // no newline in a frame
                    }
                }
                frames += 1
                if let partial { try await outbound.writeText(wiping: partial) }
            }
            try audited.recordUsage(of: admitted, [UsageCount(unit: .bytes, count: UInt64(total))])
        }
    }

    // MARK: - Chat completions

    private static let roles = ["system", "user", "assistant", "tool"]

    /// `POST /v1/chat/completions?model=…` `{"model", "messages": [{"role", "content"}…],
    /// "tools": […], "stream": bool}` → a completion (FakeEngines.complete of the last user or
    /// tool message), or with `stream: true` server-sent events, one per word.
    ///
    /// System prompts, tool definitions and tool results each go to their own slot; the
    /// completion to `.completion`; the request body itself stays sealed in `.promptMessages`.
    func chatCompletions(_ request: Request) async throws -> Response {
        let model = try Self.model(of: request, parameter: "model", among: Self.chatModels)
        let admitted = try audited.admit(
            request, product: .languageModel,
            dataClasses: [.promptMessages, .systemPrompt, .toolInteraction, .completion], model: model)
        return try await admitted.respond { scope in
            let promptBytes = try await scope.ingest(request.body, into: .promptMessages, limit: Self.jsonBodyLimit)
            let (stream, completionBytes) = try scope.withPlaintext(of: .promptMessages, thrownErrors: .passThrough) { body in
                let document = try Self.parse(body)
                let root = document.root
                try Self.requireField("model", of: root, in: document, body, toName: model)
                var stream = false
                if let flag = document.member("stream", of: root, in: body) {
                    guard let value = ContentJSON.bool(flag) else { throw Self.badRequest }
                    stream = value
                }
                if let tools = document.member("tools", of: root, in: body) {
                    guard tools.kind == .array else { throw Self.badRequest }
                    for tool in document.elements(of: tools) {
                        try scope.append(to: .toolInteraction, copying: body.extracting(tool.byteRange))
                    }
                }
                guard let messages = document.member("messages", of: root, in: body), messages.kind == .array else { throw Self.badRequest }
                var last: ContentJSONValue?
                for message in document.elements(of: messages) {
                    guard message.kind == .object,
                          let role = document.member("role", of: message, in: body),
                          let roleIndex = ContentJSON.matchIndex(role, in: body, oneOf: Self.roles),
                          let content = document.member("content", of: message, in: body)
                    else { throw Self.badRequest }
                    if content.kind == .null, Self.roles[roleIndex] == "assistant" { continue }
                    guard content.kind == .string else { throw Self.badRequest }
                    switch Self.roles[roleIndex] {
                    case "system": try scope.appendJSONString(content, in: body, to: .systemPrompt)
                    case "tool":
                        try scope.appendJSONString(content, in: body, to: .toolInteraction)
                        last = content
                    case "user": last = content
                    default: break
                    }
                }
                guard let last else { throw Self.badRequest }
                let count = try ContentJSON.unescapedByteCount(of: last, in: body)
                guard count > 0 else { throw Self.badRequest }
                try scope.write(to: .completion, byteCount: count, final: true, thrownErrors: .passThrough) { completion in
                    let written = try ContentJSON.unescape(last, in: body, into: &completion)
                    FakeEngines.complete(&completion)
                    return written
                }
                return (stream, count)
            }
            // The fake engines count a token per four bytes, rounded up.
            try audited.recordUsage(of: admitted, [
                UsageCount(unit: .tokensIn, count: UInt64((promptBytes + 3) / 4)),
                UsageCount(unit: .tokensOut, count: UInt64((completionBytes + 3) / 4)),
            ])
            let id = scope.id.description
            if stream {
                return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .streaming(in: scope) { writer in
                    let events = try scope.withChunk(of: .completion, at: 0, thrownErrors: .passThrough) { text in
                        try Self.deltaEvents(of: text, id: id, model: model)
                    } ?? []
                    for event in events { try await writer.write(contentsOf: event) }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                })
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .streaming(in: scope) { writer in
                let prefix = Array(#"{"id":"\#(id)","object":"chat.completion","model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":""#.utf8)
                let suffix = Array(#""},"finish_reason":"stop"}]}"#.utf8)
                let message = try scope.withChunk(of: .completion, at: 0, thrownErrors: .passThrough) { text in
                    try Self.escaped(text)
                }
                if let message { try await writer.write(contentsOf: [ByteBuffer(bytes: prefix), message, ByteBuffer(bytes: suffix)]) }
            })
        }
    }

    /// `text` JSON-escaped (a string body without quotes) in a wiping buffer.
    private static func escaped(_ text: RawSpan) throws -> ByteBuffer {
        try WipingAllocator.buffer(capacity: try ContentJSON.escapedByteCount(of: text)) { out in
            try ContentJSON.writeEscaped(text, into: &out)
        }
    }

    /// One server-sent event per word of `text` (a word with the spaces after it): the event's
    /// frame (metadata) around the escaped word (in a wiping buffer).
    private static func deltaEvents(of text: RawSpan, id: String, model: Identifier) throws -> [[ByteBuffer]] {
        let prefix = ByteBuffer(string: #"data: {"id":"\#(id)","object":"chat.completion.chunk","model":"\#(model)","choices":[{"index":0,"delta":{"content":""#)
        let suffix = ByteBuffer(string: "\"}}]}\n\n")
        var events: [[ByteBuffer]] = []
        var start = 0
        while start < text.byteCount {
            var end = start
            while end < text.byteCount, text.byte(at: end) != UInt8(ascii: " ") { end += 1 }
            while end < text.byteCount, text.byte(at: end) == UInt8(ascii: " ") { end += 1 }
            let word = text.extracting(start..<end)
            events.append([prefix, try escaped(word), suffix])
            start = end
        }
        return events
    }

    // MARK: - Voice cloning, receipts

    /// `POST /v1/voices/clone`: voice samples are not ZDR-eligible, so the policy refuses a ZDR
    /// workspace's request (403 `dataClassIneligible`, recorded) before the body is read. A
    /// workspace without ZDR is accepted with retention, which this server does not offer.
    func voiceClone(_ request: Request) throws -> Response {
        let admitted = try audited.admit(request, product: .voiceCloning, dataClasses: [.voiceSample], model: Identifier("voice-clone")!)
        admitted.scope.discard(reason: .completed)
        throw ZeroRetentionHTTPError(.notImplemented, ZeroRetentionHTTPReason("retentionNotOffered"), requestID: admitted.scope.id)
    }

    /// `GET /v1/zdr/receipts/{id}`: the request's receipt bundle (LedgerFormat.md §7), for
    /// `zdr ledger check-receipt`; 404 `receiptNotFound` until the request's discard is recorded.
    func receipt(_ idText: String?) throws -> Response {
        guard let idText, let id = RequestID(idText) else {
            throw ZeroRetentionHTTPError(.badRequest, ZeroRetentionHTTPReason("malformedRequestID"))
        }
        let bundle: ReceiptBundle
        do {
            bundle = try audited.ledger.receiptBundle(forRequest: id)
        } catch .requestNotFound {
            throw ZeroRetentionHTTPError(.notFound, .receiptNotFound, requestID: id)
        } catch {
            throw ZeroRetentionHTTPError(.serviceUnavailable, .ledgerUnavailable, requestID: id)
        }
        var response = Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: bundle.json)))
        response.headers[ZeroRetentionHTTPNames.standard.requestIDHeader] = id.description
        return response
    }

    // MARK: - Request fields

    private static let badRequest = ZeroRetentionHTTPError(.badRequest, .malformedBody)

    /// The model a request names in its query (`parameter`), or the route's default. The model
    /// decides the policy, and the policy decides before the body is read, so it is named
    /// outside the body; a body field of the same name must agree.
    private static func model(of request: Request, parameter: String, among models: [String]) throws(ZeroRetentionHTTPError) -> Identifier {
        guard let named = request.uri.queryParameters[Substring(parameter)] else { return Identifier(models[0])! }
        guard let index = models.firstIndex(where: { $0[...] == named }) else { throw ZeroRetentionHTTPError(.badRequest, .unknownModel) }
        return Identifier(models[index])!
    }

    /// Parses a body; a malformed one is a 400 (the parser's error carries an offset only).
    private static func parse(_ body: RawSpan) throws(ZeroRetentionHTTPError) -> ContentJSONDocument {
        let document: ContentJSONDocument
        do { document = try ContentJSON.parse(body) } catch { throw badRequest }
        guard document.root.kind == .object else { throw badRequest }
        return document
    }

    /// When the body has `field`, it must name `model`.
    private static func requireField(
        _ field: StaticString, of object: ContentJSONValue, in document: ContentJSONDocument, _ body: RawSpan, toName model: Identifier
    ) throws(ZeroRetentionHTTPError) {
        guard let value = document.member(field, of: object, in: body) else { return }
        guard ContentJSON.string(value, in: body, equals: model.value) else { throw ZeroRetentionHTTPError(.badRequest, .unknownModel) }
    }
}
