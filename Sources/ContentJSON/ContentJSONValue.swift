/// One value of a ``ContentJSONDocument``: its kind and where its bytes are in the input.
///
/// Holds no byte of the input, only offsets: read a string with
/// ``ContentJSON/ContentJSON/unescape(_:in:into:)`` or compare it with
/// ``ContentJSON/ContentJSON/string(_:in:equals:)-(_,_,StaticString)``, giving the same span
/// the document was parsed from.
public struct ContentJSONValue: Hashable, Sendable, CustomStringConvertible {
    /// The kind of a JSON value.
    public enum Kind: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// `{ … }`
        case object = 1
        /// `[ … ]`
        case array
        /// `"…"`
        case string
        /// A number, as RFC 8259 writes it.
        case number
        /// `true`
        case `true`
        /// `false`
        case `false`
        /// `null`
        case null

        /// The kind's name.
        public var description: String {
            switch self {
            case .object: "object"
            case .array: "array"
            case .string: "string"
            case .number: "number"
            case .true: "true"
            case .false: "false"
            case .null: "null"
            }
        }
    }

    /// What the value is.
    public let kind: Kind
    /// The value's bytes in the input: a string's include its quotes, a container's its
    /// brackets.
    public var byteRange: Range<Int> { Int(start)..<Int(end) }
    /// The value's position on its document's tape.
    let token: Int32
    let start: Int32
    let end: Int32
    /// A string with no `\` escape: its unescaped bytes are its raw bytes, so reading it is a
    /// copy (the parse validated them), not a decode.
    let isEscapeFree: Bool

    init(kind: Kind, token: Int32, start: Int32, end: Int32, isEscapeFree: Bool = false) {
        self.kind = kind
        self.token = token
        self.start = start
        self.end = end
        self.isEscapeFree = isEscapeFree
    }

    /// The kind and the byte range, for instance `string 10..<24`: offsets, never content.
    public var description: String { "\(kind) \(start)..<\(end)" }
}

/// An object member: its key (a string value) and its value.
public struct ContentJSONMember: Hashable, Sendable {
    /// The key, a ``ContentJSONValue/Kind/string`` value.
    public let key: ContentJSONValue
    /// The member's value.
    public let value: ContentJSONValue
}
