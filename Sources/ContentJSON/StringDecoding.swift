// Reading a JSON string's bytes unescaped, one at a time, straight from the input span: the
// unescaped form exists only where the caller puts it (locked scratch, a slot) or nowhere at
// all (comparisons, counts).

/// Yields the unescaped UTF-8 of one string value, byte by byte. The parse validated the
/// string, so the checks here only keep a value read with the wrong span from trapping: they
/// throw instead.
struct UnescapingCursor {
    /// The next raw byte to read.
    private(set) var position: Int
    /// The offset of the closing quote.
    let end: Int
    /// Bytes of a decoded escape still to yield, lowest first.
    private var pending: UInt32 = 0
    private var pendingCount = 0

    /// A cursor over `value`, which must be a string inside `span`.
    init(_ value: ContentJSONValue, in span: RawSpan) throws(ContentJSONError) {
        guard value.kind == .string else { throw ContentJSONError(.notAString, at: Int(value.start)) }
        let range = value.byteRange
        guard range.count >= 2, range.upperBound <= span.byteCount,
              span.byte(at: range.lowerBound) == 0x22, span.byte(at: range.upperBound - 1) == 0x22
        else { throw ContentJSONError(.valueOutsideSpan, at: range.lowerBound) }
        position = range.lowerBound + 1
        end = range.upperBound - 1
    }

    /// The next unescaped byte, or `nil` at the end of the string.
    @inline(__always)
    mutating func next(in span: RawSpan) throws(ContentJSONError) -> UInt8? {
        if pendingCount > 0 {
            let byte = UInt8(truncatingIfNeeded: pending)
            pending >>= 8
            pendingCount -= 1
            return byte
        }
        guard position < end else { return nil }
        let byte = span.byte(at: position)
        guard byte == 0x5C else {
            position += 1
            return byte
        }
        return try escape(in: span)
    }

    private mutating func escape(in span: RawSpan) throws(ContentJSONError) -> UInt8 {
        let at = position
        guard position + 1 < end else { throw ContentJSONError(.invalidEscape, at: at) }
        let letter = span.byte(at: position + 1)
        position += 2
        if let simple = JSONEscape.unescaped(letter) { return simple }
        guard letter == 0x75 else { throw ContentJSONError(.invalidEscape, at: at) }
        var scalar = try hex4(in: span, at: position, escapeAt: at)
        position += 4
        if (0xD800...0xDBFF).contains(scalar) {
            guard position + 6 <= end, span.byte(at: position) == 0x5C, span.byte(at: position + 1) == 0x75 else {
                throw ContentJSONError(.unpairedSurrogate, at: at)
            }
            let low = try hex4(in: span, at: position + 2, escapeAt: position)
            guard (0xDC00...0xDFFF).contains(low) else { throw ContentJSONError(.unpairedSurrogate, at: at) }
            position += 6
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw ContentJSONError(.unpairedSurrogate, at: at)
        }
        let (packed, count) = UTF8Encoding.encode(scalar)
        pending = packed >> 8
        pendingCount = count - 1
        return UInt8(truncatingIfNeeded: packed)
    }

    private func hex4(in span: RawSpan, at offset: Int, escapeAt: Int) throws(ContentJSONError) -> UInt32 {
        guard offset + 4 <= end else { throw ContentJSONError(.invalidUnicodeEscape, at: escapeAt) }
        var value: UInt32 = 0
        for index in offset..<(offset + 4) {
            guard let digit = JSONEscape.hexValue(span.byte(at: index)) else {
                throw ContentJSONError(.invalidUnicodeEscape, at: escapeAt)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}

enum JSONEscape {
    /// The byte a two-character escape stands for (`\n` → 0x0A), or `nil` (also for `u`).
    @inline(__always)
    static func unescaped(_ letter: UInt8) -> UInt8? {
        switch letter {
        case 0x22: 0x22  // \"
        case 0x5C: 0x5C  // \\
        case 0x2F: 0x2F  // \/
        case 0x62: 0x08  // \b
        case 0x66: 0x0C  // \f
        case 0x6E: 0x0A  // \n
        case 0x72: 0x0D  // \r
        case 0x74: 0x09  // \t
        default: nil
        }
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}

enum UTF8Encoding {
    /// `scalar`'s UTF-8, first byte lowest, and its length (1–4).
    @inline(__always)
    static func encode(_ scalar: UInt32) -> (packed: UInt32, count: Int) {
        switch scalar {
        case ..<0x80:
            return (scalar, 1)
        case ..<0x800:
            return ((0xC0 | scalar >> 6) | (0x80 | scalar & 0x3F) << 8, 2)
        case ..<0x10000:
            return ((0xE0 | scalar >> 12) | (0x80 | scalar >> 6 & 0x3F) << 8 | (0x80 | scalar & 0x3F) << 16, 3)
        default:
            return ((0xF0 | scalar >> 18) | (0x80 | scalar >> 12 & 0x3F) << 8
                | (0x80 | scalar >> 6 & 0x3F) << 16 | (0x80 | scalar & 0x3F) << 24, 4)
        }
    }

    /// The length of the well-formed UTF-8 sequence starting at `offset` (before `end`), or
    /// `nil` when the bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing
    /// past U+10FFFF).
    @inline(__always)
    static func sequenceLength(in span: RawSpan, at offset: Int, end: Int) -> Int? {
        let lead = span.byte(at: offset)
        if lead < 0x80 { return 1 }
        let length: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondLow = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondHigh = 0x9F
        case 0xF0: length = 4; secondLow = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondHigh = 0x8F
        default: return nil
        }
        guard offset + length <= end else { return nil }
        let second = span.byte(at: offset + 1)
        guard second >= secondLow, second <= secondHigh else { return nil }
        var index = offset + 2
        while index < offset + length {
            guard span.byte(at: index) & 0xC0 == 0x80 else { return nil }
            index += 1
        }
        return length
    }
}

enum StringDecoding {
    /// Whether `value`, unescaped, is exactly `key`'s bytes. `false` for a value that is not a
    /// string of `span`.
    static func equals(_ value: ContentJSONValue, in span: RawSpan, _ key: String.UTF8View) -> Bool {
        guard var cursor = try? UnescapingCursor(value, in: span) else { return false }
        // Every escape is longer than what it stands for, so a raw body shorter than the key
        // cannot match it.
        guard cursor.end - cursor.position >= key.count else { return false }
        for expected in key {
            guard let byte = try? cursor.next(in: span), byte == expected else { return false }
        }
        return (try? cursor.next(in: span)) == .some(nil)
    }

    /// Orders two strings of `span` by their unescaped bytes (for the duplicate-key check).
    static func compare(_ a: ContentJSONValue, _ b: ContentJSONValue, in span: RawSpan) throws(ContentJSONError) -> Int {
        var left = try UnescapingCursor(a, in: span)
        var right = try UnescapingCursor(b, in: span)
        while true {
            let x = try left.next(in: span)
            let y = try right.next(in: span)
            switch (x, y) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case let (x?, y?): if x != y { return x < y ? -1 : 1 }
            }
        }
    }
}
