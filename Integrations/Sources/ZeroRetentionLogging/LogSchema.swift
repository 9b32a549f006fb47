/// The events and metadata a ``DeclaredLogHandler`` lets through: everything else is dropped.
///
/// A log message is free text, which is where request content leaks into logs; so a message
/// passes only when it is exactly one of the declared ``events`` names, and each metadata value
/// only when its key is declared and the value has the key's ``MetadataShape``.
///
/// ```swift
/// let schema = try LogSchema(
///     events: ["request.opened", "request.completed"],
///     metadata: [
///         "request_id": .identifier,
///         "output_tokens": .integer,
///         "elapsed": .duration,
///         "outcome": .enumeration(["ok", "failed", "cancelled"]),
///     ])
/// ```
public struct LogSchema: Sendable, Hashable {
    /// The messages that may be logged, each an event name matching ``MetadataShape/identifier``.
    public let events: Set<String>
    /// The metadata keys that may be logged, with the shape each value must have.
    public let metadata: [String: MetadataShape]

    /// Declares a schema. Event names and metadata keys must match
    /// ``MetadataShape/identifier``, so that a schema cannot declare free text.
    /// - Throws: ``LogSchemaError`` for a malformed name, key or enumeration.
    public init(events: Set<String>, metadata: [String: MetadataShape]) throws(LogSchemaError) {
        guard events.allSatisfy(MetadataShape.identifier.accepts) else { throw .invalidEventName }
        guard metadata.keys.allSatisfy(MetadataShape.identifier.accepts) else { throw .invalidMetadataKey }
        for shape in metadata.values {
            if case .enumeration(let cases) = shape {
                guard !cases.isEmpty else { throw .emptyEnumeration }
                guard cases.allSatisfy(MetadataShape.identifier.accepts) else { throw .invalidEnumerationCase }
            }
        }
        self.events = events
        self.metadata = metadata
    }
}

/// Why a ``LogSchema`` could not be declared. The cases carry no names: a schema is checked
/// once at start-up, and its author has the source at hand.
public enum LogSchemaError: Error, Sendable, Hashable {
    /// An event name does not match ``MetadataShape/identifier``.
    case invalidEventName
    /// A metadata key does not match ``MetadataShape/identifier``.
    case invalidMetadataKey
    /// An ``MetadataShape/enumeration(_:)`` declares no case.
    case emptyEnumeration
    /// An enumeration case does not match ``MetadataShape/identifier``.
    case invalidEnumerationCase
}

/// The text a declared metadata value must be. Each shape is narrow enough that a sentence of
/// request content cannot fit in it; the longest value any shape accepts is 64 bytes.
public enum MetadataShape: Sendable, Hashable {
    /// 1 to 64 of `A-Z a-z 0-9 . _ -`: request ids, workspace and model identifiers.
    case identifier
    /// A decimal integer that fits in `Int64`, optionally negative: token counts, byte totals.
    case integer
    /// A non-negative decimal number with a unit: `ns`, `us`, `ms`, `s`, or Swift's own
    /// `Duration` description (`"1.5 seconds"`, also with an exponent, `"1e-05 seconds"`).
    case duration
    /// `true` or `false`.
    case boolean
    /// A UTC RFC 3339 timestamp: `2026-12-01T11:49:22Z`, optionally with 1 to 9 fraction digits.
    case timestamp
    /// Exactly one of the given cases (each an ``identifier``).
    case enumeration(Set<String>)

    /// Whether `text` has this shape.
    public func accepts(_ text: String) -> Bool {
        // The length first, without copying: a long value (most content) is refused at once.
        guard (1...64).contains(text.utf8.count) else { return false }
        let bytes = Array(text.utf8)
        switch self {
        case .identifier:
            return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        case .integer:
            let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes[...]
            return !digits.isEmpty && digits.allSatisfy(isDigit) && Int64(text) != nil
        case .duration:
            return Self.isDuration(bytes)
        case .boolean:
            return text == "true" || text == "false"
        case .timestamp:
            return Self.isTimestamp(bytes)
        case .enumeration(let cases):
            return cases.contains(text)
        }
    }

    // " seconds", "ns", "us" and "ms" also end in "s": they come first, and the first match wins.
    private static let durationUnits = [" seconds", "ns", "us", "ms", "s"].map { Array($0.utf8) }

    private static func isDuration(_ bytes: [UInt8]) -> Bool {
        var number = bytes[...]
        var unitFound = false
        for unit in durationUnits where !unitFound && bytes.count > unit.count {
            if bytes.suffix(unit.count).elementsEqual(unit) {
                number = bytes.dropLast(unit.count)
                unitFound = true
            }
        }
        guard unitFound else { return false }
        // digits, optional ".digits", optional "e" with optional "-" and digits.
        var index = number.startIndex
        func digitRun() -> Int {
            let start = index
            while index < number.endIndex, isDigit(number[index]) { index += 1 }
            return index - start
        }
        guard digitRun() > 0 else { return false }
        if index < number.endIndex, number[index] == UInt8(ascii: ".") {
            index += 1
            guard digitRun() > 0 else { return false }
        }
        if index < number.endIndex, number[index] == UInt8(ascii: "e") {
            index += 1
            if index < number.endIndex, number[index] == UInt8(ascii: "-") || number[index] == UInt8(ascii: "+") { index += 1 }
            guard digitRun() > 0 else { return false }
        }
        return index == number.endIndex
    }

    private static func isTimestamp(_ bytes: [UInt8]) -> Bool {
        // YYYY-MM-DDTHH:MM:SS, then optional .fraction, then Z.
        let template = Array("0000-00-00T00:00:00".utf8)
        guard bytes.count >= template.count + 1, bytes.last == UInt8(ascii: "Z") else { return false }
        for (byte, expected) in zip(bytes, template) {
            guard expected == UInt8(ascii: "0") ? isDigit(byte) : byte == expected else { return false }
        }
        let fraction = bytes[template.count..<(bytes.count - 1)]
        if fraction.isEmpty { return true }
        return fraction.first == UInt8(ascii: ".") && (2...10).contains(fraction.count) && fraction.dropFirst().allSatisfy(isDigit)
    }
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

private func isAlphanumeric(_ byte: UInt8) -> Bool {
    isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
}
