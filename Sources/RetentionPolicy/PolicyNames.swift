// The names the JSON format and descriptions use for vocabulary cases. Spelled out rather than
// derived from reflection so that renaming a Swift case cannot silently change the file format.

import RetentionVocabulary

extension Product {
    var policyName: String {
        switch self {
        case .textToSpeech: "textToSpeech"
        case .speechToText: "speechToText"
        case .textToDialogue: "textToDialogue"
        case .voiceChanger: "voiceChanger"
        case .languageModel: "languageModel"
        case .voiceCloning: "voiceCloning"
        case .voiceDesign: "voiceDesign"
        case .music: "music"
        case .dubbing: "dubbing"
        case .image: "image"
        case .video: "video"
        }
    }

    init?(policyName: String) {
        guard let match = Product.allCases.first(where: { $0.policyName == policyName }) else { return nil }
        self = match
    }
}

extension DataClass {
    var policyName: String {
        switch self {
        case .textInput: "textInput"
        case .systemPrompt: "systemPrompt"
        case .promptMessages: "promptMessages"
        case .toolInteraction: "toolInteraction"
        case .completion: "completion"
        case .audioInput: "audioInput"
        case .audioOutput: "audioOutput"
        case .transcriptOutput: "transcriptOutput"
        case .voiceSample: "voiceSample"
        case .voiceDescription: "voiceDescription"
        case .media: "media"
        case .hostDefined: "hostDefined"
        }
    }

    init?(policyName: String) {
        guard let match = DataClass.allCases.first(where: { $0.policyName == policyName }) else { return nil }
        self = match
    }
}

extension TransferMode {
    var policyName: String {
        switch self {
        case .sync: "sync"
        case .streaming: "streaming"
        }
    }

    init?(policyName: String) {
        guard let match = TransferMode.allCases.first(where: { $0.policyName == policyName }) else { return nil }
        self = match
    }
}

extension RetentionMode {
    var policyName: String {
        switch self {
        case .zeroDataRetention: "zeroDataRetention"
        case .standard: "standard"
        }
    }
}
