/// A parsed JSON document: a tape of tokens holding kinds and byte offsets into the input, and
/// nothing else.
///
/// Parse one with ``ContentJSON/ContentJSON/parse(_:limits:)`` inside a scope's access closure;
/// the document may outlive the closure, but its values mean something only together with the
/// same bytes, so read strings while the span is still there. Every value of the tape is in
/// document order; a container's token is followed by its children (for an object: key,
/// value, key, value…), and records where its subtree ends, so navigation skips subtrees
/// without reading the input.
public struct ContentJSONDocument: Sendable, CustomStringConvertible, CustomReflectable {
    // One entry per token, in document order.
    var kinds: [UInt8] = []
    var starts: [Int32] = []
    var ends: [Int32] = []
    /// The token after this one's subtree (itself + 1 for a scalar).
    var nexts: [Int32] = []
    /// Members or elements of a container; for a string, 1 if it holds an escape; 0 otherwise.
    var counts: [Int32] = []

    init() {}

    /// Tokens on the tape (values and object keys).
    public var tokenCount: Int { kinds.count }

    /// The top-level value.
    public var root: ContentJSONValue { value(at: 0) }

    func value(at token: Int32) -> ContentJSONValue {
        let index = Int(token)
        let kind = ContentJSONValue.Kind(rawValue: kinds[index])!
        return ContentJSONValue(
            kind: kind, token: token, start: starts[index], end: ends[index],
            isEscapeFree: kind == .string && counts[index] == 0)
    }

    /// Whether `value` is a token of this document (same position, kind and range).
    func owns(_ value: ContentJSONValue) -> Bool {
        let index = Int(value.token)
        return index >= 0 && index < kinds.count && kinds[index] == value.kind.rawValue
            && starts[index] == value.start && ends[index] == value.end
    }

    /// Members of `object` plus elements of an array, or 0 for any other value or a value
    /// of another document.
    public func count(of container: ContentJSONValue) -> Int {
        guard container.kind == .object || container.kind == .array, owns(container) else { return 0 }
        return Int(counts[Int(container.token)])
    }

    /// The members of `object` in document order; empty when `object` is not an object of
    /// this document.
    public func members(of object: ContentJSONValue) -> [ContentJSONMember] {
        guard object.kind == .object, owns(object) else { return [] }
        var members: [ContentJSONMember] = []
        members.reserveCapacity(Int(counts[Int(object.token)]))
        var token = object.token + 1
        let end = nexts[Int(object.token)]
        while token < end {
            let key = value(at: token)
            let member = value(at: token + 1)
            members.append(ContentJSONMember(key: key, value: member))
            token = nexts[Int(token + 1)]
        }
        return members
    }

    /// The elements of `array` in order; empty when `array` is not an array of this document.
    public func elements(of array: ContentJSONValue) -> [ContentJSONValue] {
        guard array.kind == .array, owns(array) else { return [] }
        var elements: [ContentJSONValue] = []
        elements.reserveCapacity(Int(counts[Int(array.token)]))
        var token = array.token + 1
        let end = nexts[Int(array.token)]
        while token < end {
            elements.append(value(at: token))
            token = nexts[Int(token)]
        }
        return elements
    }

    /// The value of `object`'s member named `key`, compared with the key as unescaped bytes
    /// (`"mod\u0065l"` is `model`); `nil` when there is none or `object` is not an object of
    /// this document. Keys are unique: the parse refused duplicates.
    ///
    /// - Parameters:
    ///   - key: a key the schema declares, as UTF-8.
    ///   - object: an object of this document.
    ///   - span: the bytes the document was parsed from.
    public func member(_ key: StaticString, of object: ContentJSONValue, in span: RawSpan) -> ContentJSONValue? {
        member(matching: key.description.utf8, of: object, in: span)
    }

    /// The value of `object`'s member named `key` (a key the schema declares, not one read from
    /// input); as ``member(_:of:in:)-(StaticString,_,_)``.
    ///
    /// - Parameters:
    ///   - key: a key the schema declares.
    ///   - object: an object of this document.
    ///   - span: the bytes the document was parsed from.
    public func member(_ key: String, of object: ContentJSONValue, in span: RawSpan) -> ContentJSONValue? {
        member(matching: key.utf8, of: object, in: span)
    }

    private func member(matching key: String.UTF8View, of object: ContentJSONValue, in span: RawSpan) -> ContentJSONValue? {
        guard object.kind == .object, owns(object), Int(object.end) <= span.byteCount else { return nil }
        var token = object.token + 1
        let end = nexts[Int(object.token)]
        while token < end {
            let keyValue = value(at: token)
            if StringDecoding.equals(keyValue, in: span, key) { return value(at: token + 1) }
            token = nexts[Int(token + 1)]
        }
        return nil
    }

    /// The token count only: the tape's offsets are left out too.
    public var description: String { "ContentJSONDocument(\(kinds.count) tokens)" }

    /// The token count only.
    public var customMirror: Mirror {
        Mirror(self, children: ["tokenCount": kinds.count], displayStyle: .struct)
    }
}
