/// Why a policy could not be built, from Swift or from JSON.
///
/// The error names *where* the problem is (a key path such as `workspaces[2].zdr`) and *what was
/// expected*, never the offending value: configuration files can hold anything, and error text
/// ends up in logs.
public struct PolicyConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// The bytes are not one strict RFC 8259 JSON value; the offset is where parsing stopped.
        case malformedJSON(byteOffset: Int)
        /// The document is larger than ``RetentionPolicy/maximumConfigurationSize``.
        case tooLarge
        /// The file could not be opened or read.
        case unreadableFile
        /// The value at the path has the wrong type or shape.
        case expected(Expectation)
        /// The key is not part of the format (the format is strict so typos cannot pass).
        case unknownKey
        /// A required key is absent.
        case missingKey
        /// The same key appears twice in one object.
        case duplicateKey
        /// An identifier or name appears twice where each must be unique.
        case duplicateEntry
        /// An agent was added to a workspace that was not declared first.
        case undeclaredWorkspace
        /// The identifier is one the library reserves (`Identifier.undeclared`).
        case reservedIdentifier

        public var description: String {
            switch self {
            case .malformedJSON(let offset): "malformed JSON at byte \(offset)"
            case .tooLarge: "document too large"
            case .unreadableFile: "file could not be read"
            case .expected(let expectation): "expected \(expectation)"
            case .unknownKey: "unknown key"
            case .missingKey: "missing key"
            case .duplicateKey: "duplicate key"
            case .duplicateEntry: "duplicate entry"
            case .undeclaredWorkspace: "workspace is not declared"
            case .reservedIdentifier: "identifier is reserved"
            }
        }
    }

    /// What a value should have been.
    public enum Expectation: String, Sendable, Hashable, CustomStringConvertible {
        /// A JSON object.
        case object
        /// A JSON array.
        case array
        /// `true` or `false`.
        case boolean
        /// A JSON string.
        case string
        /// The format version this library reads (`1`).
        case supportedVersion = "version 1"
        /// 1–64 characters of `a-z 0-9 . _ -`.
        case identifier = "identifier (1-64 characters of a-z 0-9 . _ -)"
        /// One of the data class names listed in Docs/Policy.md.
        case dataClassName = "data class name"
        /// `sync` or `streaming`.
        case transferModeName = "transfer mode name (sync, streaming)"
        /// `reject` or `processWithRetention`.
        case ineligibleHandlingName = "reject or processWithRetention"
        /// `standard` or `none`.
        case eligibilityBaseName = "standard or none"

        public var description: String { rawValue }
    }

    /// The key path of the problem, e.g. `workspaces[0].agents[1].id`; empty for the document
    /// itself. Keys that are not plain words are shown as `?` so the path cannot echo content.
    public let path: String
    /// What is wrong there.
    public let kind: Kind

    /// An error at `path` (spelled like the loader's paths: `a.b[0].c`).
    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// `workspaces[2].zdr: expected boolean`.
    public var description: String {
        "\(path.isEmpty ? "(document)" : path): \(kind)"
    }
}
