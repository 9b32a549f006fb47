public import ContentVault
public import RetentionVocabulary

extension RequestScope {
    /// Unescapes `value` (a string of the document parsed from `span`) straight into the next
    /// chunk of `dataClass`'s slot, through the scope's locked scratch, which is wiped after.
    ///
    /// Use it inside `withPlaintext(of:thrownErrors:_:)` to move
    /// one field of a request body (a prompt, a text to speak) into a slot of its own without
    /// the bytes touching the heap. An empty string seals nothing, unless `final` asks for the
    /// slot's end to be marked, which seals one empty chunk.
    ///
    /// - Parameters:
    ///   - value: a string value.
    ///   - span: the bytes its document was parsed from.
    ///   - dataClass: the slot to append to.
    ///   - final: marks the slot's last chunk.
    /// - Returns: the bytes sealed.
    /// - Throws: ``ContentJSONError`` (not a string, a value of another span) or `VaultError`.
    @discardableResult
    public func appendJSONString(
        _ value: ContentJSONValue, in span: RawSpan, to dataClass: DataClass, final: Bool = false
    ) throws -> Int {
        let count = try ContentJSON.unescapedByteCount(of: value, in: span)
        guard count > 0 else { return try appendEmpty(to: dataClass, final: final, span) }
        // ContentJSONError is content-free by construction, so it passes through unredacted.
        return try write(to: dataClass, byteCount: count, final: final, thrownErrors: .passThrough) { output in
            try ContentJSON.unescape(value, in: span, into: &output)
        }
    }

    /// Escapes `bytes` (UTF-8) as a JSON string body, without quotes, into the next chunk of
    /// `dataClass`'s slot through locked scratch: for building a response's JSON in a slot. An
    /// empty input seals nothing unless `final` is set (then one empty chunk).
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 text (a slot's plaintext, for instance).
    ///   - dataClass: the slot to append to.
    ///   - final: marks the slot's last chunk.
    /// - Returns: the bytes sealed.
    /// - Throws: ``ContentJSONError/Reason/invalidUTF8`` or `VaultError`.
    @discardableResult
    public func appendJSONEscaped(copying bytes: RawSpan, to dataClass: DataClass, final: Bool = false) throws -> Int {
        let count = try ContentJSON.escapedByteCount(of: bytes)
        guard count > 0 else { return try appendEmpty(to: dataClass, final: final, bytes) }
        return try write(to: dataClass, byteCount: count, final: final, thrownErrors: .passThrough) { output in
            try ContentJSON.writeEscaped(bytes, into: &output)
        }
    }

    /// `write(to:byteCount:)` refuses 0 bytes: an empty value seals nothing, or an empty final
    /// chunk when the slot's end must be marked.
    private func appendEmpty(to dataClass: DataClass, final: Bool, _ span: RawSpan) throws -> Int {
        if final { try append(to: dataClass, copying: span.extracting(0..<0), final: true) }
        return 0
    }
}
