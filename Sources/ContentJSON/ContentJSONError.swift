/// Why a JSON document or value was refused, and where.
///
/// Carries a ``Reason`` and a byte offset only: never a byte of the input, a key name or a
/// length of anything but the offset, so it may be logged, thrown out of an access closure
/// (`ThrownErrorHandling.passThrough`) and printed.
public struct ContentJSONError: Error, Hashable, Sendable, CustomStringConvertible, CustomReflectable {
    /// What was wrong.
    public enum Reason: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The input ended inside a value (or was empty).
        case unexpectedEndOfInput = 1
        /// A byte that cannot start a value here (including a byte order mark).
        case unexpectedByte
        /// An object member does not start with a string key.
        case expectedKey
        /// A key is not followed by `:`.
        case expectedColon
        /// A value inside a container is followed by neither `,` nor the container's end.
        case expectedCommaOrEnd
        /// A `,` directly before `}` or `]`.
        case trailingComma
        /// Bytes other than whitespace after the top-level value.
        case trailingContent
        /// A misspelt `true`, `false` or `null`.
        case invalidLiteral
        /// A number that is not RFC 8259's grammar (`-`, `1.`, `.5`, `1e`, `+1`).
        case invalidNumber
        /// A number with a leading zero (`01`, `-01`).
        case leadingZero
        /// A byte below 0x20 inside a string: JSON wants it escaped.
        case controlCharacterInString
        /// A backslash followed by anything but `"\/bfnrtu`.
        case invalidEscape
        /// `\u` followed by fewer than four hexadecimal digits.
        case invalidUnicodeEscape
        /// A `\u` high surrogate without its low surrogate, or a low surrogate alone.
        case unpairedSurrogate
        /// Bytes that are not UTF-8 (overlong, surrogate, truncated or out of range).
        case invalidUTF8
        /// The same key twice in one object (compared unescaped): refused, since readers
        /// disagree about which one counts.
        case duplicateKey
        /// Containers nested deeper than ``ContentJSONLimits/maximumDepth``.
        case depthLimitExceeded
        /// More tokens (values and keys) than ``ContentJSONLimits/maximumTokens``.
        case tokenLimitExceeded
        /// One container with more members or elements than ``ContentJSONLimits/maximumMembers``.
        case memberLimitExceeded
        /// Input longer than the tape's 32-bit offsets can address.
        case inputTooLarge
        /// A string operation was given a value of another kind.
        case notAString
        /// The value's byte range lies outside the span it was read with (a value of another
        /// document).
        case valueOutsideSpan
        /// The output span is smaller than the bytes to write.
        case outputTooSmall

        /// The case name.
        public var description: String {
            switch self {
            case .unexpectedEndOfInput: "unexpectedEndOfInput"
            case .unexpectedByte: "unexpectedByte"
            case .expectedKey: "expectedKey"
            case .expectedColon: "expectedColon"
            case .expectedCommaOrEnd: "expectedCommaOrEnd"
            case .trailingComma: "trailingComma"
            case .trailingContent: "trailingContent"
            case .invalidLiteral: "invalidLiteral"
            case .invalidNumber: "invalidNumber"
            case .leadingZero: "leadingZero"
            case .controlCharacterInString: "controlCharacterInString"
            case .invalidEscape: "invalidEscape"
            case .invalidUnicodeEscape: "invalidUnicodeEscape"
            case .unpairedSurrogate: "unpairedSurrogate"
            case .invalidUTF8: "invalidUTF8"
            case .duplicateKey: "duplicateKey"
            case .depthLimitExceeded: "depthLimitExceeded"
            case .tokenLimitExceeded: "tokenLimitExceeded"
            case .memberLimitExceeded: "memberLimitExceeded"
            case .inputTooLarge: "inputTooLarge"
            case .notAString: "notAString"
            case .valueOutsideSpan: "valueOutsideSpan"
            case .outputTooSmall: "outputTooSmall"
            }
        }
    }

    /// What was wrong.
    public let reason: Reason
    /// The offset in the input (or, for the writer, in the bytes being escaped) of the byte
    /// where the problem was found.
    public let byteOffset: Int

    /// An error for `reason` at `byteOffset`.
    public init(_ reason: Reason, at byteOffset: Int) {
        self.reason = reason
        self.byteOffset = byteOffset
    }

    /// The reason and the offset, for instance `ContentJSON: duplicateKey at byte 17`.
    public var description: String { "ContentJSON: \(reason) at byte \(byteOffset)" }

    /// The reason and the offset only.
    public var customMirror: Mirror {
        Mirror(self, children: ["reason": reason.description, "byteOffset": byteOffset], displayStyle: .struct)
    }
}
