// The one place ContentJSON reads input: RawSpan (Swift 6.3) has no safe byte subscript, and
// `unsafeLoad(fromByteOffset:as:)` is the bounds-checked load. It is `unsafe` only because a
// type may have invalid bit patterns, which UInt8 has not, so this read is memory-safe: an
// offset outside the span traps, it cannot read past it.

extension RawSpan {
    /// The byte at `offset`, bounds-checked.
    @inline(__always)
    func byte(at offset: Int) -> UInt8 {
        unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }
}

extension MutableRawSpan {
    /// Stores `value` at `offset`, bounds-checked.
    @inline(__always)
    mutating func setByte(_ value: UInt8, at offset: Int) {
        storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }
}
