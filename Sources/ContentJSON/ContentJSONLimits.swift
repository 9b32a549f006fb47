/// Bounds a parse stays within, so that hostile input costs at most a known amount of memory
/// and time. Input beyond any of them is refused with a ``ContentJSONError``.
public struct ContentJSONLimits: Hashable, Sendable {
    /// Most containers nested inside one another (a top-level `[]` is depth 1). The parser does
    /// not recurse, so this bounds the tape's shape, not the stack.
    public var maximumDepth: Int
    /// Most tokens on the tape: every value, and every object key, counts one.
    public var maximumTokens: Int
    /// Most members of one object or elements of one array.
    public var maximumMembers: Int

    /// Limits for a parse.
    ///
    /// - Parameters:
    ///   - maximumDepth: most nested containers (default 32).
    ///   - maximumTokens: most values and keys in the document (default 65 536).
    ///   - maximumMembers: most members or elements in one container (default 65 536).
    public init(maximumDepth: Int = 32, maximumTokens: Int = 65_536, maximumMembers: Int = 65_536) {
        self.maximumDepth = maximumDepth
        self.maximumTokens = maximumTokens
        self.maximumMembers = maximumMembers
    }

    /// Depth 32, 65 536 tokens, 65 536 members per container: more than any request body of an
    /// inference API needs.
    public static let `default` = ContentJSONLimits()
}
