import RetentionLedger
import RetentionVocabulary

/// `RequestID` and `Identifier` parsing: whatever parses prints back as exactly the input, and
/// a request id's bytes are its two words big-endian.
public func fuzzIdentifiers(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let text = String(decoding: input, as: UTF8.self)
    if let id = RequestID(text) {
        try require(id.description == text, "RequestID does not print back as its input")
        let bytes = id.bytes
    try require(bytes.count == 16, "RequestID.bytes is not 16 bytes")
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        try require(high == id.high && low == id.low, "RequestID.bytes disagrees with its words")
        try require(RequestID(id.description) == id, "RequestID does not parse its own description")
    }
    if let identifier = Identifier(text) {
        try require(identifier.value == text, "Identifier changed its input")
        try require(Identifier(identifier.description) == identifier, "Identifier does not parse its description")
    }
}
