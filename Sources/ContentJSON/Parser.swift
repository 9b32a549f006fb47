// RFC 8259, strictly, without recursion: an explicit stack of open containers bounded by
// `maximumDepth`. The tape gets one token per value and per key: kinds and offsets only.

struct Parser {
    private let limits: ContentJSONLimits
    private let count: Int
    private var offset = 0
    private var document = ContentJSONDocument()
    /// Open containers: their token and how many members or elements they hold so far.
    private var stack: [(token: Int32, members: Int32)] = []

    init(byteCount: Int, limits: ContentJSONLimits) {
        self.count = byteCount
        self.limits = limits
    }

    mutating func parse(_ span: RawSpan) throws(ContentJSONError) -> ContentJSONDocument {
        guard count < Int(Int32.max) else { throw ContentJSONError(.inputTooLarge, at: 0) }
        // Tokens are at least one byte apart (a key and its value two): a bound, not a guess.
        let expected = min(count / 2 + 1, limits.maximumTokens, 4096)
        document.kinds.reserveCapacity(expected)
        document.starts.reserveCapacity(expected)
        document.ends.reserveCapacity(expected)
        document.nexts.reserveCapacity(expected)
        document.counts.reserveCapacity(expected)
        skipWhitespace(span)
        try parseValue(span)
        while !stack.isEmpty {
            try step(span)
        }
        skipWhitespace(span)
        guard offset == count else { throw ContentJSONError(.trailingContent, at: offset) }
        return document
    }

    // MARK: Values

    /// Parses one value at `offset` (whitespace skipped): a scalar whole, a container only
    /// opened.
    private mutating func parseValue(_ span: RawSpan) throws(ContentJSONError) {
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        try countMember()
        switch span.byte(at: offset) {
        case 0x7B: try open(.object, span)
        case 0x5B: try open(.array, span)
        case 0x22: try parseString(span)
        case 0x2D, 0x30...0x39: try parseNumber(span)
        case 0x74: try parseLiteral(span, .true, Self.trueBytes)
        case 0x66: try parseLiteral(span, .false, Self.falseBytes)
        case 0x6E: try parseLiteral(span, .null, Self.nullBytes)
        default: throw ContentJSONError(.unexpectedByte, at: offset)
        }
    }

    /// Counts the value about to be parsed against its container's member limit.
    private mutating func countMember() throws(ContentJSONError) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].members += 1
        guard Int(stack[stack.count - 1].members) <= limits.maximumMembers else {
            throw ContentJSONError(.memberLimitExceeded, at: offset)
        }
    }

    @discardableResult
    private mutating func emit(_ kind: ContentJSONValue.Kind, start: Int, end: Int) throws(ContentJSONError) -> Int32 {
        guard document.kinds.count < limits.maximumTokens else {
            throw ContentJSONError(.tokenLimitExceeded, at: start)
        }
        let token = Int32(document.kinds.count)
        document.kinds.append(kind.rawValue)
        document.starts.append(Int32(start))
        document.ends.append(Int32(end))
        document.nexts.append(token + 1)
        document.counts.append(0)
        return token
    }

    /// Opens a container: its token and a stack entry. Its members come from `step`, so
    /// nesting never recurses (a recursive descent would overflow the stack on `[[[[…`
    /// however low the depth limit, were the limit raised).
    private mutating func open(_ kind: ContentJSONValue.Kind, _ span: RawSpan) throws(ContentJSONError) {
        guard stack.count < limits.maximumDepth else { throw ContentJSONError(.depthLimitExceeded, at: offset) }
        let token = try emit(kind, start: offset, end: offset + 1)
        stack.append((token, 0))
        offset += 1
    }

    /// One move inside the innermost open container: its end, its first member, or a `,` and
    /// the next member.
    private mutating func step(_ span: RawSpan) throws(ContentJSONError) {
        skipWhitespace(span)
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        let (top, members) = stack[stack.count - 1]
        let isObject = document.kinds[Int(top)] == ContentJSONValue.Kind.object.rawValue
        let closing: UInt8 = isObject ? 0x7D : 0x5D
        let byte = span.byte(at: offset)
        if byte == closing {
            try close(span)
            return
        }
        if members > 0 {
            guard byte == 0x2C else { throw ContentJSONError(.expectedCommaOrEnd, at: offset) }
            let comma = offset
            offset += 1
            skipWhitespace(span)
            if offset < count, span.byte(at: offset) == closing { throw ContentJSONError(.trailingComma, at: comma) }
        }
        if isObject { try parseKey(span) }
        skipWhitespace(span)
        try parseValue(span)
    }

    /// A key and its colon; leaves `offset` at the value.
    private mutating func parseKey(_ span: RawSpan) throws(ContentJSONError) {
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        guard span.byte(at: offset) == 0x22 else { throw ContentJSONError(.expectedKey, at: offset) }
        try parseString(span)
        skipWhitespace(span)
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        guard span.byte(at: offset) == 0x3A else { throw ContentJSONError(.expectedColon, at: offset) }
        offset += 1
        skipWhitespace(span)
    }

    /// Closes the innermost container at `offset` (its closing bracket).
    private mutating func close(_ span: RawSpan) throws(ContentJSONError) {
        let (token, members) = stack.removeLast()
        let index = Int(token)
        offset += 1
        document.ends[index] = Int32(offset)
        document.nexts[index] = Int32(document.kinds.count)
        document.counts[index] = members
        if document.kinds[index] == ContentJSONValue.Kind.object.rawValue, members > 1 {
            try checkUniqueKeys(of: token, members: Int(members), span)
        }
    }

    /// Refuses an object whose keys, unescaped, are not all different. Sorting the key
    /// tokens by their unescaped bytes keeps this O(n log n) comparisons for hostile objects
    /// with many members, and holds no key bytes anywhere: only token numbers.
    private func checkUniqueKeys(of object: Int32, members: Int, _ span: RawSpan) throws(ContentJSONError) {
        var keys: [Int32] = []
        keys.reserveCapacity(members)
        var token = object + 1
        let end = document.nexts[Int(object)]
        while token < end {
            keys.append(token)
            token = document.nexts[Int(token + 1)]
        }
        if members == 2 {
            if try StringDecoding.compare(document.value(at: keys[0]), document.value(at: keys[1]), in: span) == 0 {
                throw ContentJSONError(.duplicateKey, at: Int(document.starts[Int(keys[1])]))
            }
            return
        }
        try mergeSort(&keys, span)
        // Adjacent equal keys: report the one that comes later in the document.
        var duplicate: Int32?
        for index in 1..<keys.count {
            let a = document.value(at: keys[index - 1])
            let b = document.value(at: keys[index])
            if try StringDecoding.compare(a, b, in: span) == 0 {
                let later = max(keys[index - 1], keys[index])
                duplicate = min(duplicate ?? later, later)
            }
        }
        if let duplicate { throw ContentJSONError(.duplicateKey, at: Int(document.starts[Int(duplicate)])) }
    }

    /// A bottom-up merge sort of key tokens by unescaped bytes (no closure over the span).
    private func mergeSort(_ keys: inout [Int32], _ span: RawSpan) throws(ContentJSONError) {
        var source = keys
        var target = keys
        var width = 1
        while width < source.count {
            var low = 0
            while low < source.count {
                let middle = min(low + width, source.count)
                let high = min(low + 2 * width, source.count)
                var left = low
                var right = middle
                var out = low
                while left < middle || right < high {
                    let takeLeft: Bool
                    if left == middle {
                        takeLeft = false
                    } else if right == high {
                        takeLeft = true
                    } else {
                        takeLeft = try StringDecoding.compare(
                            document.value(at: source[left]), document.value(at: source[right]), in: span) <= 0
                    }
                    if takeLeft { target[out] = source[left]; left += 1 } else { target[out] = source[right]; right += 1 }
                    out += 1
                }
                low = high
            }
            swap(&source, &target)
            width *= 2
        }
        keys = source
    }

    // MARK: Scalars

    private mutating func parseString(_ span: RawSpan) throws(ContentJSONError) {
        let start = offset
        var escapes: Int32 = 0
        offset += 1
        while true {
            // Most of a string is printable ASCII other than `"` and `\`: skip it in a tight
            // loop over locals (kept in registers, not stored back to the parser per byte).
            var position = offset
            let end = count
            while position < end {
                let byte = span.byte(at: position)
                guard byte >= 0x20, byte < 0x80, byte != 0x22, byte != 0x5C else { break }
                position += 1
            }
            offset = position
            guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
            let byte = span.byte(at: offset)
            switch byte {
            case 0x22:
                offset += 1
                let token = try emit(.string, start: start, end: offset)
                document.counts[Int(token)] = escapes
                return
            case 0x5C:
                escapes = 1
                try parseEscape(span)
            case ..<0x20:
                throw ContentJSONError(.controlCharacterInString, at: offset)
            case ..<0x80:
                offset += 1
            default:
                guard let length = UTF8Encoding.sequenceLength(in: span, at: offset, end: count) else {
                    throw ContentJSONError(.invalidUTF8, at: offset)
                }
                offset += length
            }
        }
    }

    private mutating func parseEscape(_ span: RawSpan) throws(ContentJSONError) {
        let at = offset
        guard offset + 1 < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset + 1) }
        let letter = span.byte(at: offset + 1)
        offset += 2
        if JSONEscape.unescaped(letter) != nil { return }
        guard letter == 0x75 else { throw ContentJSONError(.invalidEscape, at: at) }
        let scalar = try hex4(span, escapeAt: at)
        if (0xDC00...0xDFFF).contains(scalar) { throw ContentJSONError(.unpairedSurrogate, at: at) }
        guard (0xD800...0xDBFF).contains(scalar) else { return }
        guard offset + 1 < count, span.byte(at: offset) == 0x5C, span.byte(at: offset + 1) == 0x75 else {
            throw ContentJSONError(.unpairedSurrogate, at: at)
        }
        let lowAt = offset
        offset += 2
        let low = try hex4(span, escapeAt: lowAt)
        guard (0xDC00...0xDFFF).contains(low) else { throw ContentJSONError(.unpairedSurrogate, at: at) }
    }

    private mutating func hex4(_ span: RawSpan, escapeAt: Int) throws(ContentJSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
            guard let digit = JSONEscape.hexValue(span.byte(at: offset)) else {
                throw ContentJSONError(.invalidUnicodeEscape, at: escapeAt)
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    private mutating func parseNumber(_ span: RawSpan) throws(ContentJSONError) {
        let start = offset
        if span.byte(at: offset) == 0x2D { offset += 1 }
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        let first = span.byte(at: offset)
        if first == 0x30 {
            offset += 1
            if offset < count, isDigit(span.byte(at: offset)) { throw ContentJSONError(.leadingZero, at: start) }
        } else if isDigit(first) {
            skipDigits(span)
        } else {
            throw ContentJSONError(.invalidNumber, at: offset)
        }
        if offset < count, span.byte(at: offset) == 0x2E {
            offset += 1
            try requireDigits(span)
        }
        if offset < count, span.byte(at: offset) | 0x20 == 0x65 {
            offset += 1
            if offset < count, span.byte(at: offset) == 0x2B || span.byte(at: offset) == 0x2D { offset += 1 }
            try requireDigits(span)
        }
        try emit(.number, start: start, end: offset)
    }

    private mutating func requireDigits(_ span: RawSpan) throws(ContentJSONError) {
        guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
        guard isDigit(span.byte(at: offset)) else { throw ContentJSONError(.invalidNumber, at: offset) }
        skipDigits(span)
    }

    private mutating func skipDigits(_ span: RawSpan) {
        while offset < count, isDigit(span.byte(at: offset)) { offset += 1 }
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let nullBytes: [UInt8] = Array("null".utf8)

    private mutating func parseLiteral(
        _ span: RawSpan, _ kind: ContentJSONValue.Kind, _ literal: [UInt8]
    ) throws(ContentJSONError) {
        let start = offset
        for expected in literal {
            guard offset < count else { throw ContentJSONError(.unexpectedEndOfInput, at: offset) }
            guard span.byte(at: offset) == expected else { throw ContentJSONError(.invalidLiteral, at: start) }
            offset += 1
        }
        try emit(kind, start: start, end: offset)
    }

    private mutating func skipWhitespace(_ span: RawSpan) {
        while offset < count {
            switch span.byte(at: offset) {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }
}
