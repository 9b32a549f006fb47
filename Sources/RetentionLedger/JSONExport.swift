public import RetentionVocabulary
// The JSON Lines form of a record, for log shippers. Every value is a number, a boolean, an enum
// name, a registry identifier, lowercase hex (request ids) or base64 of fixed-length hashes and
// signatures: no field can hold free text. Keys appear in a fixed order.

extension LedgerRecord {
    /// One JSON object (no trailing newline).
    public func jsonLine(leafIndex: UInt64) -> String {
        var fields: [(String, String)] = [
            ("leaf_index", String(leafIndex)),
            ("kind", quoted(body.kind.name)),
            ("recorded_at_ns", String(recordedAt.nanosecondsSinceEpoch)),
        ]
        switch body {
        case .requestOpened(let r):
            fields += [
                ("request_id", quoted(r.requestID.description)),
                ("workspace", quoted(r.workspace.value)),
                ("product", quoted(name(r.product))),
                ("model", quoted(r.model.value)),
                ("retention_mode", quoted(name(r.retentionMode))),
                ("data_classes", "[" + r.dataClasses.sorted { $0.rawValue < $1.rawValue }.map { quoted(name($0)) }.joined(separator: ",") + "]"),
            ]
        case .usage(let r):
            let counts = r.counts.sorted { $0.unit.rawValue < $1.unit.rawValue }
                .map { "{\"unit\":\(quoted(name($0.unit))),\"count\":\($0.count)}" }
            fields += [("request_id", quoted(r.requestID.description)), ("counts", "[" + counts.joined(separator: ",") + "]")]
        case .upstreamEgress(let r):
            fields += [
                ("request_id", quoted(r.requestID.description)),
                ("provider", quoted(r.provider.value)),
                ("mode", quoted(name(r.mode))),
                ("covered_by_zdr", String(r.coveredByZeroDataRetention)),
            ]
        case .policyDecision(let r):
            fields += [
                ("request_id", quoted(r.requestID.description)),
                ("workspace", quoted(r.workspace.value)),
                ("agent", r.agent.map { quoted($0.value) } ?? "null"),
                ("outcome", quoted(name(r.outcome))),
                ("reason_code", String(r.reasonCode)),
            ]
        case .discardReceipt(let r):
            let holders = r.externalHolders.map { "{\"holder\":\(quoted(name($0.kind))),\"outcome\":\(quoted(name($0.outcome)))}" }
            fields += [
                ("request_id", quoted(r.requestID.description)),
                ("reason", quoted(name(r.reason))),
                ("opened_at_ns", String(r.openedAt.nanosecondsSinceEpoch)),
                ("first_content_at_ns", r.firstContentAt.map { String($0.nanosecondsSinceEpoch) } ?? "null"),
                ("discarded_at_ns", String(r.discardedAt.nanosecondsSinceEpoch)),
                ("peak_bytes_held", String(r.peakBytesHeld)),
                ("total_bytes_held", String(r.totalBytesHeld)),
                ("chunks_wiped", String(r.chunksWiped)),
                ("slots_wiped", String(r.slotsWiped)),
                ("bytes_verified_zero", String(r.bytesVerifiedZero)),
                ("key_destroyed", String(r.keyDestroyed)),
                ("memory_corruption", String(r.memoryCorruptionDetected)),
                ("backend", quoted(name(r.backend))),
                ("aead", quoted(name(r.aead))),
                ("external_holders", "[" + holders.joined(separator: ",") + "]"),
            ]
        case .softwareIdentity(let r):
            fields += [
                ("executable_sha256", quoted(Base64.encode(r.executableSHA256))),
                ("policy_sha256", quoted(Base64.encode(r.policySHA256))),
                ("configuration_sha256", quoted(Base64.encode(r.configurationSHA256))),
                ("version_major", String(r.version.major)),
                ("version_minor", String(r.version.minor)),
                ("version_patch", String(r.version.patch)),
            ]
        case .witnessHealth(let r):
            fields += [
                ("witness_key_id", String(r.witnessKeyID)),
                ("checkpoint_size", String(r.checkpointSize)),
                ("cosigned_size", String(r.cosignedSize)),
                ("witness_size", String(r.witnessSize)),
                ("consecutive_failures", String(r.consecutiveFailures)),
                ("outcome", quoted(name(r.outcome))),
                ("http_status", String(r.httpStatus)),
            ]
        case .serviceHealth(let r):
            fields += [
                ("window_start_ns", String(r.windowStart.nanosecondsSinceEpoch)),
                ("window_end_ns", String(r.windowEnd.nanosecondsSinceEpoch)),
                ("requests_opened", String(r.requestsOpened)),
                ("requests_discarded", String(r.requestsDiscarded)),
                ("discard_failures", String(r.discardFailures)),
                ("active_requests", String(r.activeRequests)),
                ("bytes_held", String(r.bytesHeld)),
                ("budget_used_permille", String(r.budgetUsedPermille)),
            ]
        case .keyRotation(let r):
            fields += [
                ("epoch", String(r.epoch)),
                ("new_public_key", quoted(Base64.encode(r.newPublicKey))),
                ("tree_size", String(r.treeSize)),
                ("signature", quoted(Base64.encode(r.signature))),
            ]
        case .checkpoint(let r):
            fields += [
                ("tree_size", String(r.treeSize)),
                ("root_hash", quoted(Base64.encode(r.rootHash))),
                ("key_epoch", String(r.keyEpoch)),
                ("signature", quoted(Base64.encode(r.signature))),
            ]
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// The export name of an enum value: a fixed, finite set per field (Docs/LedgerFormat.md §3.2).
/// Spelled out rather than derived by reflection, so builds without reflection metadata and
/// future case renames cannot change the export.
protocol LedgerEnumName {
    var ledgerName: String { get }
}

func name(_ value: some LedgerEnumName) -> String { value.ledgerName }

extension Product: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .textToSpeech: "text_to_speech"
        case .speechToText: "speech_to_text"
        case .textToDialogue: "text_to_dialogue"
        case .voiceChanger: "voice_changer"
        case .languageModel: "language_model"
        case .voiceCloning: "voice_cloning"
        case .voiceDesign: "voice_design"
        case .music: "music"
        case .dubbing: "dubbing"
        case .image: "image"
        case .video: "video"
        }
    }
}

extension DataClass: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .textInput: "text_input"
        case .systemPrompt: "system_prompt"
        case .promptMessages: "prompt_messages"
        case .toolInteraction: "tool_interaction"
        case .completion: "completion"
        case .audioInput: "audio_input"
        case .audioOutput: "audio_output"
        case .transcriptOutput: "transcript_output"
        case .voiceSample: "voice_sample"
        case .voiceDescription: "voice_description"
        case .media: "media"
        case .hostDefined: "host_defined"
        }
    }
}

extension RetentionMode: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .zeroDataRetention: "zero_data_retention"
        case .standard: "standard"
        }
    }
}

extension TransferMode: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .sync: "sync"
        case .streaming: "streaming"
        }
    }
}

extension UsageUnit: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .characters: "characters"
        case .tokensIn: "tokens_in"
        case .tokensOut: "tokens_out"
        case .audioMillisecondsIn: "audio_milliseconds_in"
        case .audioMillisecondsOut: "audio_milliseconds_out"
        case .bytes: "bytes"
        }
    }
}

// The shared vocabulary enums describe themselves with their ledger names.
extension PolicyOutcome: LedgerEnumName {
    var ledgerName: String { description }
}

extension DiscardReason: LedgerEnumName {
    var ledgerName: String { description }
}

extension MemoryBackend: LedgerEnumName {
    var ledgerName: String { description }
}

extension AEADAlgorithm: LedgerEnumName {
    var ledgerName: String { description }
}

extension ExternalHolderKind: LedgerEnumName {
    var ledgerName: String { description }
}

extension ExternalHolderOutcome: LedgerEnumName {
    var ledgerName: String { description }
}

/// Values passed here are identifiers, enum names, hex or base64: none needs escaping, but
/// escape anyway so the output is valid JSON whatever changes later.
private func quoted(_ text: String) -> String { jsonString(text) }

extension WitnessOutcome: LedgerEnumName {
    var ledgerName: String {
        switch self {
        case .cosigned: "cosigned"
        case .noAnswer: "no_answer"
        case .badRequest: "bad_request"
        case .forbidden: "forbidden"
        case .unknownLog: "unknown_log"
        case .conflictingRoot: "conflicting_root"
        case .invalidProof: "invalid_proof"
        case .noValidCosignature: "no_valid_cosignature"
        case .malformedResponse: "malformed_response"
        case .unexpectedStatus: "unexpected_status"
        case .rollback: "rollback"
        case .proofUnavailable: "proof_unavailable"
        }
    }
}
