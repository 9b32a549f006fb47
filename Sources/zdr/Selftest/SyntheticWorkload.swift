import ZeroRetention
import RetentionLedger

/// The three request shapes the selftest drives through the vault.
enum SyntheticKind: String, CaseIterable, Sendable {
    /// Text-to-speech, one request/response: text in, audio out.
    case tts
    /// Speech-to-text, streamed: audio chunks in, transcript out.
    case stt
    /// A language-model request with tool calls: system prompt, messages, a tool call and its
    /// result, a streamed completion.
    case llm

    /// One piece of content: which class, how many bytes, and whether the service produced it.
    struct Piece: Sendable {
        let dataClass: DataClass
        let length: Int
        let isOutput: Bool
    }

    var product: Product {
        switch self {
        case .tts: .textToSpeech
        case .stt: .speechToText
        case .llm: .languageModel
        }
    }

    var transferMode: TransferMode {
        switch self {
        case .tts: .sync
        case .stt, .llm: .streaming
        }
    }

    /// The content of one request, in the order it arrives or is produced.
    var pieces: [Piece] {
        switch self {
        case .tts:
            [Piece(dataClass: .textInput, length: 512, isOutput: false)]
                + Array(repeating: Piece(dataClass: .audioOutput, length: 4096, isOutput: true), count: 4)
        case .stt:
            Array(repeating: Piece(dataClass: .audioInput, length: 4096, isOutput: false), count: 8)
                + Array(repeating: Piece(dataClass: .transcriptOutput, length: 256, isOutput: true), count: 2)
        case .llm:
            [
                Piece(dataClass: .systemPrompt, length: 1024, isOutput: false),
                Piece(dataClass: .promptMessages, length: 1024, isOutput: false),
                Piece(dataClass: .promptMessages, length: 1024, isOutput: false),
                Piece(dataClass: .toolInteraction, length: 512, isOutput: true),
                Piece(dataClass: .toolInteraction, length: 512, isOutput: false),
            ] + Array(repeating: Piece(dataClass: .completion, length: 256, isOutput: true), count: 4)
        }
    }

    var dataClasses: Set<DataClass> { Set(pieces.map(\.dataClass)) }

    var totalBytes: Int { pieces.reduce(0) { $0 + $1.length } }
}
