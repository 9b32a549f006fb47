import ContentVault

/// A content-safe JSON reader and string writer over spans of locked memory.
///
/// Everything here reads from a `RawSpan` (a scope's plaintext, inside its access closure) and
/// writes to a `MutableRawSpan` (a scope's scratch, inside `RequestScope.write(to:byteCount:final:thrownErrors:_:)`):
/// no `String`, `Array` or `Data` ever holds a byte of the input. A ``ContentJSONDocument``
/// keeps kinds and offsets, ``ContentJSONError`` a reason and an offset.
///
/// ```swift
/// try scope.withPlaintext(of: .textInput, thrownErrors: .passThrough) { body in
///     let document = try ContentJSON.parse(body)
///     guard let input = document.member("input", of: document.root, in: body) else { throw … }
///     let voice = document.member("voice", of: document.root, in: body)
///         .flatMap { ContentJSON.matchIndex($0, in: body, oneOf: voices) }
///     try scope.appendJSONString(input, in: body, to: .promptMessages, final: true)
/// }
/// ```
public enum ContentJSON {
    /// Parses `span` as one JSON text (RFC 8259, strictly), into a tape of kinds and offsets.
    ///
    /// Refused: anything but whitespace around the one top-level value, trailing commas,
    /// leading zeros, unescaped control characters, invalid UTF-8 (also inside strings),
    /// invalid escapes and unpaired surrogates, duplicate keys in one object (compared
    /// unescaped), a byte order mark, and input beyond `limits`.
    ///
    /// - Parameters:
    ///   - span: the JSON text, UTF-8.
    ///   - limits: the depth, token and member bounds of the parse.
    /// - Returns: the document; its values refer to `span`'s offsets.
    /// - Throws: ``ContentJSONError`` naming the first problem and its byte offset.
    public static func parse(_ span: RawSpan, limits: ContentJSONLimits = .default) throws(ContentJSONError) -> ContentJSONDocument {
        var parser = Parser(byteCount: span.byteCount, limits: limits)
        return try parser.parse(span)
    }

    // MARK: Strings

    /// The length of `string`'s unescaped UTF-8: what ``unescape(_:in:into:)`` writes. Never more
    /// than `string.byteRange.count - 2`.
    ///
    /// - Parameters:
    ///   - string: a string value.
    ///   - span: the bytes its document was parsed from.
    /// - Throws: ``ContentJSONError/Reason/notAString`` or ``ContentJSONError/Reason/valueOutsideSpan``.
    public static func unescapedByteCount(of string: ContentJSONValue, in span: RawSpan) throws(ContentJSONError) -> Int {
        var cursor = try UnescapingCursor(string, in: span)
        if string.isEscapeFree { return cursor.end - cursor.position }
        var total = 0
        while try cursor.next(in: span) != nil { total += 1 }
        return total
    }

    /// Writes `string`'s unescaped UTF-8 at the start of `output` and returns its length.
    ///
    /// The unescaped form is never longer than the raw one, so an output of
    /// `string.byteRange.count` bytes always suffices.
    ///
    /// - Parameters:
    ///   - string: a string value.
    ///   - span: the bytes its document was parsed from.
    ///   - output: where the bytes go (locked scratch).
    /// - Returns: the bytes written.
    /// - Throws: ``ContentJSONError/Reason/outputTooSmall`` (then `output` holds a prefix),
    ///   ``ContentJSONError/Reason/notAString`` or ``ContentJSONError/Reason/valueOutsideSpan``.
    public static func unescape(
        _ string: ContentJSONValue, in span: RawSpan, into output: inout MutableRawSpan
    ) throws(ContentJSONError) -> Int {
        var cursor = try UnescapingCursor(string, in: span)
        let capacity = output.byteCount
        if string.isEscapeFree {
            // Text without escapes (most of it) is copied in one pass, not decoded byte by byte.
            let length = cursor.end - cursor.position
            guard length <= capacity else {
                output.copyBytes(from: span.extracting(cursor.position..<(cursor.position + capacity)), toByteOffset: 0)
                // The offset after the first byte that did not fit, as the decoding loop reports it.
                throw ContentJSONError(.outputTooSmall, at: cursor.position + capacity + 1)
            }
            output.copyBytes(from: span.extracting(cursor.position..<cursor.end), toByteOffset: 0)
            return length
        }
        var written = 0
        while let byte = try cursor.next(in: span) {
            guard written < capacity else { throw ContentJSONError(.outputTooSmall, at: cursor.position) }
            output.setByte(byte, at: written)
            written += 1
        }
        return written
    }

    /// Whether `value` is a string whose unescaped bytes are exactly `name`'s UTF-8.
    ///
    /// - Parameters:
    ///   - value: any value (`false` unless it is a string).
    ///   - span: the bytes its document was parsed from.
    ///   - name: a name the schema declares.
    public static func string(_ value: ContentJSONValue, in span: RawSpan, equals name: StaticString) -> Bool {
        StringDecoding.equals(value, in: span, name.description.utf8)
    }

    /// Whether `value` is a string whose unescaped bytes are exactly `name`'s UTF-8 (a name
    /// the server declares, never one read from input).
    ///
    /// - Parameters:
    ///   - value: any value (`false` unless it is a string).
    ///   - span: the bytes its document was parsed from.
    ///   - name: a name the server declares.
    public static func string(_ value: ContentJSONValue, in span: RawSpan, equals name: String) -> Bool {
        StringDecoding.equals(value, in: span, name.utf8)
    }

    /// The index in `names` of the name `value` spells (unescaped), or `nil`: maps a metadata
    /// field (`model`, `role`, `voice`) to a declared name without making a `String` of the
    /// input. The caller then uses `names[index]`, its own string.
    ///
    /// - Parameters:
    ///   - value: any value (`nil` unless it is a string).
    ///   - span: the bytes its document was parsed from.
    ///   - names: the names the server declares.
    public static func matchIndex(_ value: ContentJSONValue, in span: RawSpan, oneOf names: [String]) -> Int? {
        guard value.kind == .string else { return nil }
        return names.firstIndex { StringDecoding.equals(value, in: span, $0.utf8) }
    }

    // MARK: Other scalars

    /// The value of an integer number that fits `Int64` (`-0` is 0); `nil` for any other value,
    /// a number with a fraction or exponent, or one out of range.
    ///
    /// - Parameters:
    ///   - value: any value.
    ///   - span: the bytes its document was parsed from.
    public static func integer(_ value: ContentJSONValue, in span: RawSpan) -> Int64? {
        guard value.kind == .number else { return nil }
        let range = value.byteRange
        guard !range.isEmpty, range.upperBound <= span.byteCount else { return nil }
        var index = range.lowerBound
        let negative = span.byte(at: index) == 0x2D
        if negative { index += 1 }
        guard index < range.upperBound else { return nil }
        // Accumulate negatively so Int64.min fits.
        var result: Int64 = 0
        while index < range.upperBound {
            let digit = span.byte(at: index) &- 0x30
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            result = next
            index += 1
        }
        if negative { return result }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(result)
        return overflow ? nil : positive
    }

    /// `true` or `false` for those literals, `nil` for any other value.
    ///
    /// - Parameter value: any value.
    public static func bool(_ value: ContentJSONValue) -> Bool? {
        switch value.kind {
        case .true: true
        case .false: false
        default: nil
        }
    }
}
