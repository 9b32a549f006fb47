// A small strict JSON reader for policy files. Foundation's decoders accept trailing commas and
// keep one of two duplicate keys silently; a policy file with a duplicated `"zdr"` key must be an
// error, not a coin toss, so the policy reads JSON itself: RFC 8259 only, members kept in order.

/// A parsed JSON value. Objects keep their members in document order, duplicates included, so
/// the checker can report the first problem as it appears in the file.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The integer value when the number is an integer that fits `Int`, else `nil`.
    case number(integer: Int?)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])
}

struct JSONMember: Sendable {
    let key: String
    let value: JSONValue
}

struct StrictJSONParser {
    /// Deep enough for any policy file; shallow enough that hostile nesting cannot exhaust the stack.
    static let maximumDepth = 32

    private let bytes: [UInt8]
    private var offset = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    static func parse(_ bytes: [UInt8]) throws(PolicyConfigurationError) -> JSONValue {
        var parser = StrictJSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.malformed() }
        return value
    }

    private func malformed() -> PolicyConfigurationError {
        PolicyConfigurationError(path: "", kind: .malformedJSON(byteOffset: offset))
    }

    private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            offset += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws(PolicyConfigurationError) {
        guard current == byte else { throw malformed() }
        offset += 1
    }

    private mutating func parseValue(depth: Int) throws(PolicyConfigurationError) -> JSONValue {
        guard depth < Self.maximumDepth, let byte = current else { throw malformed() }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw malformed()
        }
    }

    private mutating func parseLiteral(_ literal: StaticString) throws(PolicyConfigurationError) {
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected in
            offset + count <= bytes.count && bytes[offset..<offset + count].elementsEqual(expected)
        }
        guard matches else { throw malformed() }
        offset += count
    }

    private mutating func parseObject(depth: Int) throws(PolicyConfigurationError) -> JSONValue {
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        var members: [JSONMember] = []
        if current == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw malformed() }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return .object(members)
            default: throw malformed()
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(PolicyConfigurationError) -> JSONValue {
        try expect(UInt8(ascii: "["))
        skipWhitespace()
        var elements: [JSONValue] = []
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return .array(elements)
            default: throw malformed()
            }
        }
    }

    private mutating func parseNumber() throws(PolicyConfigurationError) -> JSONValue {
        let start = offset
        var isInteger = true
        if current == UInt8(ascii: "-") { offset += 1 }
        if current == UInt8(ascii: "0") {
            offset += 1
        } else {
            guard consumeDigits() else { throw malformed() }
        }
        if current == UInt8(ascii: ".") {
            offset += 1
            isInteger = false
            guard consumeDigits() else { throw malformed() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            isInteger = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard consumeDigits() else { throw malformed() }
        }
        guard isInteger else { return .number(integer: nil) }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        return .number(integer: Int(text))
    }

    /// Consumes `[0-9]+`; returns whether there was at least one digit.
    private mutating func consumeDigits() -> Bool {
        let start = offset
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { offset += 1 }
        return offset > start
    }

    private mutating func parseString() throws(PolicyConfigurationError) -> String {
        try expect(UInt8(ascii: "\""))
        var scalars: [UInt8] = []
        while true {
            guard let byte = current else { throw malformed() }
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                // Invalid UTF-8 is malformed JSON, not something to repair.
                guard let text = String(validating: scalars, as: UTF8.self) else { throw malformed() }
                return text
            case UInt8(ascii: "\\"):
                offset += 1
                try parseEscape(into: &scalars)
            case 0x00..<0x20:
                throw malformed()
            default:
                scalars.append(byte)
                offset += 1
            }
        }
    }

    private mutating func parseEscape(into output: inout [UInt8]) throws(PolicyConfigurationError) {
        guard let byte = current else { throw malformed() }
        offset += 1
        let simple: UInt8? =
            switch byte {
            case UInt8(ascii: "\""): UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            case UInt8(ascii: "/"): UInt8(ascii: "/")
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: nil
            }
        if let simple {
            output.append(simple)
            return
        }
        guard byte == UInt8(ascii: "u") else { throw malformed() }
        var value = try parseHex4()
        if (0xD800..<0xDC00).contains(value) {
            // A high surrogate must be followed by an escaped low surrogate.
            try expect(UInt8(ascii: "\\"))
            try expect(UInt8(ascii: "u"))
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw malformed() }
            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(value) {
            throw malformed()
        }
        guard let scalar = Unicode.Scalar(value) else { throw malformed() }
        output.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    private mutating func parseHex4() throws(PolicyConfigurationError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw malformed() }
            let nibble: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw malformed()
            }
            value = value << 4 | nibble
            offset += 1
        }
        return value
    }
}
