public import RetentionVocabulary

/// Which data classes of which products may be processed under ZDR.
///
/// A pair that is not listed is ineligible: the matrix fails closed, so a product or data class
/// added to the vocabulary later is ineligible until a host allows it.
///
/// ```swift
/// let matrix = RetentionPolicy.standardEligibility
///     .allowing([.hostDefined], for: .languageModel)
///     .forbidding([.toolInteraction], for: .languageModel)
/// ```
public struct EligibilityMatrix: Sendable, Hashable, CustomStringConvertible {
    // Products with no eligible class have no entry, so equal matrices compare equal.
    private var eligible: [Product: Set<DataClass>]

    /// A matrix in which nothing is eligible.
    public init() {
        eligible = [:]
    }

    /// Whether `dataClass` of `product` may be processed under ZDR.
    public func isEligible(_ product: Product, _ dataClass: DataClass) -> Bool {
        eligible[product]?.contains(dataClass) ?? false
    }

    /// The data classes of `product` that may be processed under ZDR.
    public func eligibleClasses(for product: Product) -> Set<DataClass> {
        eligible[product] ?? []
    }

    /// A copy in which `classes` of `product` are also eligible.
    public func allowing(_ classes: Set<DataClass>, for product: Product) -> EligibilityMatrix {
        var copy = self
        copy.eligible[product, default: []].formUnion(classes)
        copy.normalize(product)
        return copy
    }

    /// A copy in which `classes` of `product` are not eligible.
    public func forbidding(_ classes: Set<DataClass>, for product: Product) -> EligibilityMatrix {
        var copy = self
        copy.eligible[product]?.subtract(classes)
        copy.normalize(product)
        return copy
    }

    private mutating func normalize(_ product: Product) {
        if eligible[product]?.isEmpty == true { eligible[product] = nil }
    }

    /// Eligible pairs, products and classes in raw-value order: `textToSpeech: textInput, …`.
    public var description: String {
        Product.allCases.compactMap { product -> String? in
            guard let classes = eligible[product] else { return nil }
            let names = classes.sorted { $0.rawValue < $1.rawValue }.map(\.policyName)
            return "\(product.policyName): \(names.joined(separator: ", "))"
        }.joined(separator: "; ")
    }
}

extension RetentionPolicy {
    /// The eligibility the published ZDR offers share.
    ///
    /// Eligible: text-to-speech text in and audio out; speech-to-text audio in and transcript
    /// out (sync and streaming alike: the matrix does not depend on transfer mode);
    /// text-to-dialogue; voice changer; hosted-LLM system prompts, prompt messages, tool
    /// interactions and completions. Not eligible: voice-cloning samples, voice-design
    /// descriptions, music, dubbing, image and video, and every `hostDefined`
    /// class until a host allows it.
    public static let standardEligibility: EligibilityMatrix = EligibilityMatrix()
        .allowing([.textInput, .audioOutput], for: .textToSpeech)
        .allowing([.audioInput, .transcriptOutput], for: .speechToText)
        .allowing([.textInput, .audioOutput], for: .textToDialogue)
        .allowing([.audioInput, .audioOutput], for: .voiceChanger)
        .allowing([.systemPrompt, .promptMessages, .toolInteraction, .completion], for: .languageModel)
}
