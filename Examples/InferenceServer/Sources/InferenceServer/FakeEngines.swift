// Deterministic stand-ins for models: documented byte transforms and no weights, so a test or
// the residue script can compute exactly which bytes each request's output holds, and find
// them in memory if anything kept them.

/// The transforms the fake engines apply (README.md, "Fake engines").
enum FakeEngines {
    /// Text to speech: each byte of the UTF-8 text becomes one byte of "audio", its bitwise
    /// complement. Transforms `audio` in place (it holds the text on entry).
    static func synthesize(_ audio: inout MutableRawSpan) {
        for offset in 0..<audio.byteCount {
            audio.storeBytes(of: ~audio.bytes.byte(at: offset), toByteOffset: offset, as: UInt8.self)
        }
    }

    /// Speech to text: each byte of audio becomes one letter, `a` + byte mod 26 (no escaping
    /// needed in JSON). Writes `audio.byteCount` letters into `transcript` from `offset` on and
    /// returns the offset after them.
    static func transcribe(_ audio: RawSpan, into transcript: inout MutableRawSpan, at offset: Int = 0) -> Int {
        for index in 0..<audio.byteCount {
            transcript.storeBytes(of: UInt8(ascii: "a") + audio.byte(at: index) % 26, toByteOffset: offset + index, as: UInt8.self)
        }
        return offset + audio.byteCount
    }

    /// Chat completion: the reply is the last user or tool message with its ASCII letters
    /// upper-cased (UTF-8 stays valid). Transforms `text` in place.
    static func complete(_ text: inout MutableRawSpan) {
        for offset in 0..<text.byteCount {
            let byte = text.bytes.byte(at: offset)
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) {
                text.storeBytes(of: byte - 32, toByteOffset: offset, as: UInt8.self)
            }
        }
    }
}

extension RawSpan {
    /// The byte at `offset`, bounds-checked (`unsafeLoad` is unsafe only for types with invalid
    /// bit patterns, which `UInt8` has not).
    @inline(__always)
    func byte(at offset: Int) -> UInt8 {
        unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }
}

extension MutableRawSpan {
    /// Writes `bytes` (a literal's UTF-8: metadata, never content) at `offset`; returns the
    /// offset after them.
    mutating func write(_ bytes: [UInt8], at offset: Int) -> Int {
        for (index, byte) in bytes.enumerated() {
            storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self)
        }
        return offset + bytes.count
    }
}
