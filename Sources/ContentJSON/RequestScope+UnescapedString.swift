public import ContentVault

extension RequestScope {
    /// Unescapes `value` (a string of the document parsed from `span`) into locked scratch
    /// memory and calls `body` with it: how an engine reads one field of a request body (the
    /// text to speak, a prompt) as plain UTF-8 without it touching the heap. The scratch is
    /// wiped when `body` returns or throws; an empty string gives an empty span.
    ///
    /// - Throws: ``ContentJSONError`` (not a string, a value of another span), `VaultError`, or
    ///   what `body` throws as `thrownErrors` says (by default an `AccessClosureError` naming
    ///   only its type).
    public func withUnescapedString<Result>(
        _ value: ContentJSONValue, in span: RawSpan, thrownErrors: ThrownErrorHandling = .redacted,
        _ body: (RawSpan) throws -> Result
    ) throws -> Result {
        let count = try ContentJSON.unescapedByteCount(of: value, in: span)
        guard count > 0 else { return try thrownErrors.apply { try body(span.extracting(0..<0)) } }
        return try withScratch(byteCount: count, thrownErrors: .passThrough) { scratch in
            let written = try ContentJSON.unescape(value, in: span, into: &scratch)
            return try thrownErrors.apply { try body(scratch.bytes.extracting(0..<written)) }
        }
    }
}
