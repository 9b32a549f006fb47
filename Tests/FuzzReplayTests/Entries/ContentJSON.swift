import ContentJSON
import Foundation

/// The content-safe JSON reader and writer. Any bytes either parse or throw a
/// `ContentJSONError` whose offset lies in the input. For a document that parses: the tape is
/// well nested (children inside their container's range, in order, counts right); every string
/// (keys too) unescapes within its raw length to exactly `unescapedByteCount` bytes, and
/// written back with `writeEscaped` and quoted it parses to one string that unescapes to the
/// same bytes; every key finds its own value through `member(_:of:in:)` (keys are unique); an
/// integer reads as the decimal text says. And for the raw input: `writeEscaped` refuses it
/// exactly when it is not UTF-8 (checked by the standard library), and otherwise round-trips.
/// Differential: what this reader accepts, Foundation's `JSONSerialization` accepts too (the
/// reader is stricter, never laxer), numbers beyond `Double` aside.
public func fuzzContentJSON(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    try checkWriter(input)
    let span = input.span.bytes
    let document: ContentJSONDocument
    do {
        document = try ContentJSON.parse(span)
    } catch {
        try require(error.byteOffset >= 0 && error.byteOffset <= input.count, "error offset \(error.byteOffset) outside the input (\(input.count) bytes)")
        return
    }
    try checkFoundationAccepts(input, document)
    var visited = 0
    try checkValue(document.root, in: 0..<input.count, document, input, &visited)
    try require(visited == document.tokenCount, "walked \(visited) tokens of \(document.tokenCount)")
}

/// Foundation refuses numbers it cannot represent (`1e400`), which RFC 8259 allows; any other
/// refusal of a text this reader accepted is a violation.
private func checkFoundationAccepts(_ input: [UInt8], _ document: ContentJSONDocument) throws(FuzzPropertyViolation) {
    do {
        _ = try JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])
    } catch {
        try require(hasHugeNumber(input, document), "accepted, but JSONSerialization refuses it: \(error)")
    }
}

/// Whether a number's text is beyond `Double` (`1e400`) or very long.
private func hasHugeNumber(_ input: [UInt8], _ document: ContentJSONDocument) -> Bool {
    var stack = [document.root]
    while let value = stack.popLast() {
        switch value.kind {
        case .number:
            let text = String(decoding: input[value.byteRange], as: UTF8.self)
            if value.byteRange.count > 300 || !(Double(text)?.isFinite ?? false) { return true }
        case .array: stack += document.elements(of: value)
        case .object: stack += document.members(of: value).map(\.value)
        default: break
        }
    }
    return false
}

/// `input` escaped: refused exactly when it is not UTF-8; else it unescapes back to itself.
private func checkWriter(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let isUTF8 = String(validating: input, as: UTF8.self) != nil
    let escaped: [UInt8]
    do {
        escaped = try escape(input)
    } catch {
        try require(!isUTF8, "writeEscaped refused valid UTF-8 (\(error))")
        try require(error.reason == .invalidUTF8, "writeEscaped threw \(error) for input it could size")
        return
    }
    try require(isUTF8, "writeEscaped accepted bytes that are not UTF-8")
    try requireRoundTrip(escaped, equals: input)
}

private func checkValue(
    _ value: ContentJSONValue, in parent: Range<Int>, _ document: ContentJSONDocument, _ input: [UInt8],
    _ visited: inout Int
) throws(FuzzPropertyViolation) {
    visited += 1
    let range = value.byteRange
    try require(range.lowerBound >= parent.lowerBound && range.upperBound <= parent.upperBound && !range.isEmpty,
                "\(value) outside its container \(parent)")
    let span = input.span.bytes
    switch value.kind {
    case .string:
        try checkString(value, input)
    case .number:
        if let integer = ContentJSON.integer(value, in: span) {
            let text = String(decoding: input[range], as: UTF8.self)
            try require(Int64(text) == integer || (text == "-0" && integer == 0), "integer(\(value)) is \(integer)")
        }
    case .true, .false:
        try require(ContentJSON.bool(value) == (value.kind == .true), "bool(\(value))")
    case .null:
        break
    case .object:
        let members = document.members(of: value)
        try require(members.count == document.count(of: value), "count(of: \(value))")
        var previous = range.lowerBound
        for member in members {
            try require(member.key.kind == .string, "key \(member.key) is not a string")
            try require(member.key.byteRange.lowerBound > previous && member.value.byteRange.lowerBound >= member.key.byteRange.upperBound,
                        "member \(member.key) out of order")
            try checkValue(member.key, in: range, document, input, &visited)
            try checkValue(member.value, in: range, document, input, &visited)
            previous = member.value.byteRange.upperBound - 1
            // Keys are unique, so looking a key up finds its own value.
            let key = String(decoding: try unescape(member.key, input), as: UTF8.self)
            let found = document.member(key, of: value, in: span)
            try require(found == member.value, "member(\(key.utf8.count)-byte key) found \(String(describing: found)), not \(member.value)")
        }
    case .array:
        let elements = document.elements(of: value)
        try require(elements.count == document.count(of: value), "count(of: \(value))")
        var previous = range.lowerBound
        for element in elements {
            try require(element.byteRange.lowerBound > previous, "element \(element) out of order")
            try checkValue(element, in: range, document, input, &visited)
            previous = element.byteRange.upperBound - 1
        }
    }
}

private func checkString(_ value: ContentJSONValue, _ input: [UInt8]) throws(FuzzPropertyViolation) {
    let span = input.span.bytes
    let count: Int
    do { count = try ContentJSON.unescapedByteCount(of: value, in: span) } catch {
        throw FuzzPropertyViolation("unescapedByteCount(\(value)) threw \(error)")
    }
    try require(count <= value.byteRange.count - 2, "\(value) unescapes to \(count) bytes")
    let unescaped = try unescape(value, input)
    try require(unescaped.count == count, "unescape wrote \(unescaped.count), unescapedByteCount said \(count)")
    try require(String(validating: unescaped, as: UTF8.self) != nil, "\(value) unescapes to bytes that are not UTF-8")
    let text = String(decoding: unescaped, as: UTF8.self)
    try require(ContentJSON.string(value, in: span, equals: text), "string(\(value), equals: itself) is false")
    try require(ContentJSON.matchIndex(value, in: span, oneOf: [text + "x", text]) == 1, "matchIndex missed \(value)")
    let escaped: [UInt8]
    do { escaped = try escape(unescaped) } catch {
        throw FuzzPropertyViolation("writeEscaped refused the unescaped \(value): \(error)")
    }
    try requireRoundTrip(escaped, equals: unescaped)
}

/// `"escaped"` parses to one string that unescapes to `original`.
private func requireRoundTrip(_ escaped: [UInt8], equals original: [UInt8]) throws(FuzzPropertyViolation) {
    let quoted = [0x22] + escaped + [0x22]
    let document: ContentJSONDocument
    do { document = try ContentJSON.parse(quoted.span.bytes) } catch {
        throw FuzzPropertyViolation("escaped output does not parse: \(error)")
    }
    try require(document.root.kind == .string && document.tokenCount == 1, "escaped output parses as \(document.root)")
    try require(try unescape(document.root, quoted) == original, "escaped output unescapes to other bytes")
}

private func unescape(_ value: ContentJSONValue, _ input: [UInt8]) throws(FuzzPropertyViolation) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: value.byteRange.count)
    let written: Int
    do {
        var elements = output.mutableSpan
        var raw = elements.mutableBytes
        written = try ContentJSON.unescape(value, in: input.span.bytes, into: &raw)
    } catch {
        throw FuzzPropertyViolation("unescape(\(value)) into its raw length threw \(error)")
    }
    return Array(output[..<written])
}

private func escape(_ bytes: [UInt8]) throws(ContentJSONError) -> [UInt8] {
    let count = try ContentJSON.escapedByteCount(of: bytes.span.bytes)
    var output = [UInt8](repeating: 0, count: count)
    let written: Int
    do {
        var elements = output.mutableSpan
        var raw = elements.mutableBytes
        written = try ContentJSON.writeEscaped(bytes.span.bytes, into: &raw)
    }
    guard written == count else { throw ContentJSONError(.outputTooSmall, at: written) }
    return output
}
