import RetentionVocabulary
import RetentionPolicy
import Testing

/// One published ZDR rule, a request that exercises it, and the decision the rule requires.
struct RuleCase: Sendable, CustomTestStringConvertible {
    let rule: String
    let policy: RetentionPolicy
    let request: PolicyRequest
    let outcome: PolicyOutcome
    let reason: PolicyReason
    let mode: RetentionMode?
    let source: ZDRSource?

    var testDescription: String { rule }
}

/// The seeds' offers in one policy: an organization with ZDR on (Cartesia), a plain workspace
/// with a ZDR agent (ElevenLabs agents), a TTS model allowlist (Inworld), and providers covered
/// for streaming only, for both modes, and not at all (third-party LLM).
func seedPolicy() throws -> RetentionPolicy {
    try RetentionPolicy()
        .workspace("zdr-org", zdr: true)
        .agent("inheriting", in: "zdr-org")
        .agent("tightening", in: "zdr-org", zdr: true)
        .agent("loosening", in: "zdr-org", zdr: false)
        .workspace("plain", zdr: false)
        .agent("zdr-agent", in: "plain", zdr: true)
        .agent("plain-agent", in: "plain")
        .agent("retaining-agent", in: "plain", zdr: false)
        .zdrModels(["tts-fast", "tts-max"], for: .textToSpeech)
        .provider("streaming-only", zdrCoverage: [.streaming])
        .provider("fully-covered", zdrCoverage: [.sync, .streaming])
        .provider("third-party-llm", zdrCoverage: [])
}

extension RuleCase {
    static func all() throws -> [RuleCase] {
        let strict = try seedPolicy()
        let lenient = strict.ineligible(.processWithRetention)

        func request(
            _ workspace: String, agent: String? = nil, flags: RequestFlags = .none,
            _ product: Product, _ classes: Set<DataClass>, model: String = "tts-fast",
            upstream: (String, TransferMode)? = nil
        ) -> PolicyRequest {
            PolicyRequest(
                workspace: id(workspace), agent: agent.map { id($0) }, flags: flags, product: product,
                dataClasses: classes, model: id(model),
                upstream: upstream.map { Upstream(provider: id($0.0), transferMode: $0.1) })
        }
        func accepted(
            _ rule: String, _ policy: RetentionPolicy, _ request: PolicyRequest, _ reason: PolicyReason,
            _ source: ZDRSource?
        ) -> RuleCase {
            RuleCase(
                rule: rule, policy: policy, request: request, outcome: .accepted, reason: reason,
                mode: source == nil ? .standard : .zeroDataRetention, source: source)
        }
        func rejected(
            _ rule: String, _ policy: RetentionPolicy, _ request: PolicyRequest, _ reason: PolicyReason,
            _ source: ZDRSource?
        ) -> RuleCase {
            RuleCase(
                rule: rule, policy: policy, request: request, outcome: .rejected, reason: reason, mode: nil,
                source: source)
        }
        func retained(
            _ rule: String, _ policy: RetentionPolicy, _ request: PolicyRequest, _ reason: PolicyReason,
            _ source: ZDRSource?
        ) -> RuleCase {
            RuleCase(
                rule: rule, policy: policy, request: request, outcome: .acceptedWithRetention, reason: reason,
                mode: .standard, source: source)
        }
        let tts: Set<DataClass> = [.textInput, .audioOutput]
        let stt: Set<DataClass> = [.audioInput, .transcriptOutput]
        let llm: Set<DataClass> = [.systemPrompt, .promptMessages, .toolInteraction, .completion]

        return [
            // Workspace / organization switch.
            accepted(
                "workspace ZDR covers TTS",
                strict, request("zdr-org", .textToSpeech, tts),
                .zdrByWorkspace, .workspace),
            accepted(
                "workspace ZDR covers STT",
                strict, request("zdr-org", .speechToText, stt, model: "stt-1"),
                .zdrByWorkspace, .workspace),
            accepted(
                "workspace ZDR covers text-to-dialogue",
                strict, request("zdr-org", .textToDialogue, tts, model: "dialogue-1"),
                .zdrByWorkspace, .workspace),
            accepted(
                "workspace ZDR covers voice changer",
                strict, request("zdr-org", .voiceChanger, [.audioInput, .audioOutput], model: "vc-1"),
                .zdrByWorkspace, .workspace),
            accepted(
                "workspace ZDR covers hosted LLM",
                strict, request("zdr-org", .languageModel, llm, model: "llm-1"),
                .zdrByWorkspace, .workspace),
            accepted(
                "workspace without ZDR keeps standard retention",
                strict, request("plain", .textToSpeech, tts),
                .zdrNotRequested, nil),
            rejected(
                "unknown workspace fails closed",
                strict, request("nowhere", .textToSpeech, tts),
                .unknownWorkspace, nil),
            rejected(
                "request without data classes fails closed",
                strict, request("zdr-org", .textToSpeech, []),
                .noDataClasses, .workspace),

            // Per-request switch: tightens, never loosens.
            accepted(
                "enable_logging=false turns ZDR on for one request",
                strict, request("plain", flags: RequestFlags(enableLogging: false), .textToSpeech, tts),
                .zdrByRequest, .request),
            accepted(
                "request ZDR in a ZDR workspace is redundant",
                strict, request("zdr-org", flags: RequestFlags(zdr: true), .textToSpeech, tts),
                .zdrByWorkspace, .workspace),
            rejected(
                "enable_logging=true in a ZDR workspace is rejected",
                strict, request("zdr-org", flags: RequestFlags(enableLogging: true), .textToSpeech, tts),
                .requestLoosensWorkspace, .workspace),
            accepted(
                "enable_logging=true in a plain workspace keeps retention",
                strict, request("plain", flags: RequestFlags(enableLogging: true), .textToSpeech, tts),
                .zdrNotRequested, nil),

            // Per-agent switch: the same rule at a third level.
            accepted(
                "agent ZDR in a plain workspace",
                strict, request("plain", agent: "zdr-agent", .languageModel, llm, model: "llm-1"),
                .zdrByAgent, .agent),
            accepted(
                "agent inherits workspace ZDR",
                strict, request("zdr-org", agent: "inheriting", .languageModel, llm, model: "llm-1"),
                .zdrByWorkspace, .workspace),
            accepted(
                "agent ZDR in a ZDR workspace is redundant",
                strict, request("zdr-org", agent: "tightening", .languageModel, llm, model: "llm-1"),
                .zdrByWorkspace, .workspace),
            rejected(
                "agent turning ZDR off in a ZDR workspace is rejected",
                strict, request("zdr-org", agent: "loosening", .languageModel, llm, model: "llm-1"),
                .agentLoosensWorkspace, .workspace),
            accepted(
                "agent without ZDR in a plain workspace keeps retention",
                strict, request("plain", agent: "retaining-agent", .languageModel, llm, model: "llm-1"),
                .zdrNotRequested, nil),
            accepted(
                "request tightens an agent without ZDR",
                strict, request("plain", agent: "retaining-agent", flags: RequestFlags(zdr: true), .languageModel, llm, model: "llm-1"),
                .zdrByRequest, .request),
            accepted(
                "request tightens an inheriting agent",
                strict, request("plain", agent: "plain-agent", flags: RequestFlags(zdr: true), .languageModel, llm, model: "llm-1"),
                .zdrByRequest, .request),
            rejected(
                "request loosening a ZDR agent is rejected",
                strict, request("plain", agent: "zdr-agent", flags: RequestFlags(zdr: false), .languageModel, llm, model: "llm-1"),
                .requestLoosensAgent, .agent),
            rejected(
                "unknown agent fails closed",
                strict, request("plain", agent: "stranger", .languageModel, llm, model: "llm-1"),
                .unknownAgent, nil),
            rejected(
                "agent of another workspace is unknown here",
                strict, request("plain", agent: "inheriting", .languageModel, llm, model: "llm-1"),
                .unknownAgent, nil),

            // Eligibility matrix: ineligible requests fail closed under ZDR.
            rejected(
                "voice cloning samples are not eligible",
                strict, request("zdr-org", .voiceCloning, [.voiceSample], model: "clone-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "voice design descriptions are not eligible",
                strict, request("zdr-org", .voiceDesign, [.voiceDescription], model: "design-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "music is not eligible",
                strict, request("zdr-org", .music, [.textInput, .media], model: "music-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "dubbing is not eligible",
                strict, request("zdr-org", .dubbing, [.audioInput, .media], model: "dub-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "image is not eligible",
                strict, request("zdr-org", .image, [.textInput, .media], model: "image-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "video is not eligible",
                strict, request("zdr-org", .video, [.textInput, .media], model: "video-1"),
                .dataClassIneligible, .workspace),
            rejected(
                "one ineligible class taints an eligible product",
                strict, request("zdr-org", .textToSpeech, [.textInput, .voiceSample]),
                .dataClassIneligible, .workspace),
            rejected(
                "ineligible request under an agent's ZDR",
                strict, request("plain", agent: "zdr-agent", .voiceCloning, [.voiceSample], model: "clone-1"),
                .dataClassIneligible, .agent),
            retained(
                "lenient host processes ineligible requests with retention",
                lenient, request("zdr-org", .voiceCloning, [.voiceSample], model: "clone-1"),
                .dataClassIneligibleRetained, .workspace),
            rejected(
                "lenient host still rejects an ineligible request that asked for ZDR itself",
                lenient, request("zdr-org", flags: RequestFlags(zdr: true), .voiceCloning, [.voiceSample], model: "clone-1"),
                .dataClassIneligible, .workspace),
            accepted(
                "ineligible request without ZDR keeps retention",
                strict, request("plain", .voiceCloning, [.voiceSample], model: "clone-1"),
                .zdrNotRequested, nil),

            // Model allowlist (Inworld covers some TTS models only).
            accepted(
                "allowlisted TTS model",
                strict, request("zdr-org", .textToSpeech, tts, model: "tts-max"),
                .zdrByWorkspace, .workspace),
            rejected(
                "TTS model outside the allowlist",
                strict, request("zdr-org", .textToSpeech, tts, model: "tts-legacy"),
                .modelNotCovered, .workspace),
            rejected(
                "request ZDR with a model outside the allowlist",
                strict, request("plain", flags: RequestFlags(zdr: true), .textToSpeech, tts, model: "tts-legacy"),
                .modelNotCovered, .request),
            retained(
                "lenient host retains outside the allowlist",
                lenient, request("zdr-org", .textToSpeech, tts, model: "tts-legacy"),
                .modelNotCoveredRetained, .workspace),
            accepted(
                "allowlist does not limit other products",
                strict, request("zdr-org", .languageModel, llm, model: "tts-legacy"),
                .zdrByWorkspace, .workspace),
            accepted(
                "allowlist does not apply without ZDR",
                strict, request("plain", .textToSpeech, tts, model: "tts-legacy"),
                .zdrNotRequested, nil),

            // Upstream providers: coverage per transfer mode, checked before any byte leaves.
            accepted(
                "ZDR streaming to a streaming-only provider",
                strict, request("zdr-org", .languageModel, llm, model: "llm-1", upstream: ("streaming-only", .streaming)),
                .zdrByWorkspace, .workspace),
            rejected(
                "ZDR sync to a streaming-only provider",
                strict, request("zdr-org", .languageModel, llm, model: "llm-1", upstream: ("streaming-only", .sync)),
                .providerNotCovered, .workspace),
            rejected(
                "ZDR to a third-party LLM",
                strict, request("zdr-org", .languageModel, llm, model: "llm-1", upstream: ("third-party-llm", .streaming)),
                .providerNotCovered, .workspace),
            accepted(
                "ZDR sync STT to a fully covered provider",
                strict, request("zdr-org", .speechToText, stt, model: "stt-1", upstream: ("fully-covered", .sync)),
                .zdrByWorkspace, .workspace),
            accepted(
                "ZDR streaming STT to a fully covered provider",
                strict, request("zdr-org", .speechToText, stt, model: "stt-1", upstream: ("fully-covered", .streaming)),
                .zdrByWorkspace, .workspace),
            rejected(
                "ZDR to an unknown provider",
                strict, request("zdr-org", .languageModel, llm, model: "llm-1", upstream: ("stranger", .streaming)),
                .unknownProvider, .workspace),
            rejected(
                "retention to an unknown provider",
                strict, request("plain", .languageModel, llm, model: "llm-1", upstream: ("stranger", .sync)),
                .unknownProvider, nil),
            accepted(
                "retention may go to an uncovered provider",
                strict, request("plain", .languageModel, llm, model: "llm-1", upstream: ("third-party-llm", .sync)),
                .zdrNotRequested, nil),
            rejected(
                "request ZDR to an uncovered provider",
                strict, request("plain", flags: RequestFlags(zdr: true), .languageModel, llm, model: "llm-1", upstream: ("third-party-llm", .sync)),
                .providerNotCovered, .request),
        ]
    }
}

@Suite("Published ZDR rules")
struct PublishedRulesTests {
    @Test("Each published rule decides as the offer says", arguments: try RuleCase.all())
    func publishedRule(_ rule: RuleCase) {
        let decision = rule.policy.decide(rule.request)
        #expect(decision.outcome == rule.outcome)
        #expect(decision.reason == rule.reason)
        #expect(decision.retentionMode == rule.mode)
        #expect(decision.zdrSource == rule.source)
        #expect(decision.isAccepted == (rule.outcome != .rejected))
        // Whatever the mode or outcome, the retained metadata is the same fixed list.
        #expect(decision.retainedMetadata == expectedRetainedMetadata)
        // The recorded upstream check is the one the host would make itself.
        if let upstream = rule.request.upstream, decision.egress != nil {
            let mode = decision.retentionMode ?? (rule.source == nil ? .standard : .zeroDataRetention)
            #expect(decision.egress == rule.policy.egress(for: mode, to: upstream.provider, transferMode: upstream.transferMode))
        }
    }

    @Test("Rejections by an upstream check record the refused egress")
    func refusedEgressIsRecorded() throws {
        let decision = try seedPolicy().decide(
            workspace: id("zdr-org"), product: .languageModel, dataClasses: [.completion], model: id("llm-1"),
            upstream: Upstream(provider: id("streaming-only"), transferMode: .sync))
        let egress = try #require(decision.egress)
        #expect(!egress.isAllowed)
        #expect(!egress.covered)
        #expect(egress.provider == id("streaming-only"))
        #expect(egress.transferMode == .sync)
        #expect(egress.retentionMode == .zeroDataRetention)
    }

    @Test("Ineligible decisions name the ineligible classes")
    func ineligibleClassesAreNamed() throws {
        let decision = try seedPolicy().decide(
            workspace: id("zdr-org"), product: .textToSpeech, dataClasses: [.textInput, .voiceSample, .media],
            model: id("tts-fast"))
        #expect(decision.ineligibleClasses == [.voiceSample, .media])
        #expect(decision.description == "rejected (dataClassIneligible, 106), zdr from workspace, ineligible voiceSample, media")
    }

    @Test("The standard eligibility matrix is exactly the seeds' list")
    func standardEligibility() {
        let expected: [Product: Set<DataClass>] = [
            .textToSpeech: [.textInput, .audioOutput],
            .speechToText: [.audioInput, .transcriptOutput],
            .textToDialogue: [.textInput, .audioOutput],
            .voiceChanger: [.audioInput, .audioOutput],
            .languageModel: [.systemPrompt, .promptMessages, .toolInteraction, .completion],
        ]
        for product in Product.allCases {
            for dataClass in DataClass.allCases {
                let eligible = expected[product]?.contains(dataClass) ?? false
                #expect(
                    RetentionPolicy.standardEligibility.isEligible(product, dataClass) == eligible,
                    "\(product) \(dataClass)")
            }
        }
    }

    @Test("Matrix edits allow, forbid, and compare by content")
    func matrixEdits() {
        let base = RetentionPolicy.standardEligibility
        let edited = base.allowing([.hostDefined], for: .languageModel).forbidding([.toolInteraction], for: .languageModel)
        #expect(edited.isEligible(.languageModel, .hostDefined))
        #expect(!edited.isEligible(.languageModel, .toolInteraction))
        #expect(edited.forbidding([.hostDefined], for: .languageModel).allowing([.toolInteraction], for: .languageModel) == base)
        // Forbidding everything leaves no trace, so it equals never having allowed anything.
        #expect(EligibilityMatrix().allowing([.media], for: .music).forbidding([.media], for: .music) == EligibilityMatrix())
    }
}
