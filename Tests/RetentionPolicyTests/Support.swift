import Testing
import RetentionVocabulary
@testable import RetentionPolicy

/// A declared identifier from a literal the test controls; a typo fails the test, not the run.
func id(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Identifier {
    guard let identifier = Identifier(text) else {
        Issue.record("test identifier is malformed", sourceLocation: sourceLocation)
        return Identifier("invalid-test-identifier")!
    }
    return identifier
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator so property tests replay
/// the same cases on every run and platform.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Retention ranking for the tighten-only invariant: lower keeps less content.
func retentionRank(_ decision: Decision) -> Int {
    switch decision.retentionMode {
    case nil: 0
    case .zeroDataRetention?: 1
    case .standard?: 2
    }
}

/// The metadata list from the issue, spelled out independently of the library's own list.
let expectedRetainedMetadata: [RetainedField] = [
    .requestID, .usageTotals, .workspace, .serviceHealth, .duration, .modelID, .timestamps,
]
