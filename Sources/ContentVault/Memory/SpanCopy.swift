// Swift 6.3's MutableRawSpan has no safe bulk copy from a RawSpan; ContentJSON, which holds no
// unsafe code, copies escape-free strings into locked scratch with this one instead of byte by
// byte (unescaping and counting a field walked every byte twice more after the parse had).

extension MutableRawSpan {
    /// Copies all of `source` to this span, starting at `offset`. Bounds-checked like a
    /// subscript: a copy that does not fit traps (the caller computed the range; input cannot
    /// choose it).
    package mutating func copyBytes(from source: RawSpan, toByteOffset offset: Int) {
        precondition(offset >= 0 && source.byteCount <= byteCount - offset, "copyBytes: out of bounds")
        guard source.byteCount > 0 else { return }
        withUnsafeMutableBytes { destination in
            source.withUnsafeBytes { bytes in
                // Both non-empty, so both base addresses exist.
                destination.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
    }
}
