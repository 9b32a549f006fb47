import ContentJSON
import ContentVault
import RetentionVocabulary

/// Parses `bytes`, returning the error (or nil when it parses).
func parseError(_ bytes: [UInt8], limits: ContentJSONLimits = .default) -> ContentJSONError? {
    do {
        _ = try ContentJSON.parse(bytes.span.bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

func parseError(_ text: String, limits: ContentJSONLimits = .default) -> ContentJSONError? {
    parseError(Array(text.utf8), limits: limits)
}

/// `value`'s unescaped bytes, through `unescape(_:in:into:)` into a buffer of the raw length.
func unescaped(_ value: ContentJSONValue, in span: RawSpan) throws(ContentJSONError) -> [UInt8] {
    var output = [UInt8](repeating: 0xAA, count: value.byteRange.count)
    let written: Int
    do {
        var elements = output.mutableSpan
        var raw = elements.mutableBytes
        written = try ContentJSON.unescape(value, in: span, into: &raw)
    }
    return Array(output[..<written])
}

/// `bytes` escaped with `writeEscaped(_:into:)` into a buffer of exactly `escapedByteCount`.
func escaped(_ bytes: [UInt8]) throws(ContentJSONError) -> [UInt8] {
    let count = try ContentJSON.escapedByteCount(of: bytes.span.bytes)
    var output = [UInt8](repeating: 0xAA, count: count)
    let written: Int
    do {
        var elements = output.mutableSpan
        var raw = elements.mutableBytes
        written = try ContentJSON.writeEscaped(bytes.span.bytes, into: &raw)
    }
    precondition(written == count, "writeEscaped wrote \(written), escapedByteCount said \(count)")
    return output
}

/// A small deterministic generator (SplitMix64), so a failing round trip can be rerun.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A vault for tests: no reaper, a fixed AEAD.
func makeVault() throws -> Vault {
    try Vault(configuration: .init(byteBudget: 16 << 20, aead: .fixed(.xchacha20poly1305), reaperInterval: nil))
}
