// The writer half: a JSON string body (no quotes) from UTF-8 bytes, for response JSON built
// in a slot. Escapes exactly what RFC 8259 requires: `"`, `\` and U+0000…U+001F.

extension ContentJSON {
    /// The length of `bytes` escaped as a JSON string body (without quotes): what
    /// ``writeEscaped(_:into:)`` writes.
    ///
    /// - Parameter bytes: UTF-8 text.
    /// - Throws: ``ContentJSONError/Reason/invalidUTF8`` at the first byte that is not UTF-8.
    public static func escapedByteCount(of bytes: RawSpan) throws(ContentJSONError) -> Int {
        var total = 0
        var offset = 0
        let count = bytes.byteCount
        while offset < count {
            let byte = bytes.byte(at: offset)
            if byte < 0x80 {
                total += escapedLength(byte)
                offset += 1
            } else {
                guard let length = UTF8Encoding.sequenceLength(in: bytes, at: offset, end: count) else {
                    throw ContentJSONError(.invalidUTF8, at: offset)
                }
                total += length
                offset += length
            }
        }
        return total
    }

    /// Writes `bytes` escaped as a JSON string body (without quotes) at the start of `output`:
    /// `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00XX`, every
    /// other scalar as it is.
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 text.
    ///   - output: where the escaped bytes go; ``escapedByteCount(of:)`` bytes suffice.
    /// - Returns: the bytes written.
    /// - Throws: ``ContentJSONError/Reason/invalidUTF8`` or
    ///   ``ContentJSONError/Reason/outputTooSmall``, at the input offset reached (`output`
    ///   then holds a prefix).
    public static func writeEscaped(_ bytes: RawSpan, into output: inout MutableRawSpan) throws(ContentJSONError) -> Int {
        var written = 0
        var offset = 0
        let count = bytes.byteCount
        let capacity = output.byteCount
        while offset < count {
            let byte = bytes.byte(at: offset)
            if byte < 0x80 {
                let length = escapedLength(byte)
                guard written + length <= capacity else { throw ContentJSONError(.outputTooSmall, at: offset) }
                if length == 1 {
                    output.setByte(byte, at: written)
                } else {
                    output.setByte(0x5C, at: written)
                    if length == 2 {
                        output.setByte(shortEscape(byte), at: written + 1)
                    } else {
                        // \u00XX
                        output.setByte(0x75, at: written + 1)
                        output.setByte(0x30, at: written + 2)
                        output.setByte(0x30, at: written + 3)
                        output.setByte(hexDigit(byte >> 4), at: written + 4)
                        output.setByte(hexDigit(byte & 0x0F), at: written + 5)
                    }
                }
                written += length
                offset += 1
            } else {
                guard let length = UTF8Encoding.sequenceLength(in: bytes, at: offset, end: count) else {
                    throw ContentJSONError(.invalidUTF8, at: offset)
                }
                guard written + length <= capacity else { throw ContentJSONError(.outputTooSmall, at: offset) }
                for index in 0..<length { output.setByte(bytes.byte(at: offset + index), at: written + index) }
                written += length
                offset += length
            }
        }
        return written
    }

    /// 1 for a byte written as it is, 2 for a two-character escape, 6 for `\u00XX`.
    @inline(__always)
    static func escapedLength(_ byte: UInt8) -> Int {
        switch byte {
        case 0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09: 2
        case ..<0x20: 6
        default: 1
        }
    }

    /// The letter after the backslash for a two-character escape.
    @inline(__always)
    static func shortEscape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case 0x08: 0x62  // b
        case 0x0C: 0x66  // f
        case 0x0A: 0x6E  // n
        case 0x0D: 0x72  // r
        case 0x09: 0x74  // t
        default: byte    // " and \ stand for themselves
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10 }
}
