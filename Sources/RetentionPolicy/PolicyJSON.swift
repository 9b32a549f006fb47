// Loading a policy from its JSON file. Every value is checked by hand against the format with
// its key path in hand, so an error says exactly where the file is wrong (and never what it
// says there). The format is documented in Docs/Policy.md.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import RetentionVocabulary
import VaultSystem

extension RetentionPolicy {
    /// The largest policy document accepted, in bytes (1 MiB). A policy is a few kilobytes; the
    /// limit keeps a wrong path (a log file, a device) from being read into memory.
    public static let maximumConfigurationSize = 1 << 20

    /// The format version this library reads.
    public static let configurationVersion = 1

    /// Loads a policy from a JSON document.
    ///
    /// The format is strict: unknown keys, duplicate keys, trailing commas and wrong types are
    /// errors that name the key path, e.g. `workspaces[2].zdr: expected boolean` or
    /// `workspaces[0].zdrr: unknown key`.
    public init(json bytes: some Collection<UInt8>) throws(PolicyConfigurationError) {
        guard bytes.count <= Self.maximumConfigurationSize else {
            throw PolicyConfigurationError(path: "", kind: .tooLarge)
        }
        let document = try StrictJSONParser.parse(Array(bytes))
        self = try PolicyDocumentReader.policy(from: document)
    }

    /// Loads a policy from a JSON file; see ``init(json:)``.
    ///
    /// - Throws: ``PolicyConfigurationError/Kind/unreadableFile`` if the file cannot be read,
    ///   ``PolicyConfigurationError/Kind/tooLarge`` past ``maximumConfigurationSize``, else the
    ///   errors of ``init(json:)``.
    public init(contentsOfFile path: String) throws(PolicyConfigurationError) {
        try self.init(json: try Self.readFile(path))
    }

    private static func readFile(_ path: String) throws(PolicyConfigurationError) -> [UInt8] {
        // Non-blocking so a FIFO cannot hang the open; then only regular files are read, so a
        // device or directory given by mistake is an error rather than a long read.
        let files = FileSystem.live
        let contents: [UInt8]
        do throws(Errno) {
            let descriptor = try files.open(path, O_RDONLY | O_NONBLOCK)
            defer { files.close(descriptor) }
            // Only regular files: a device or directory given by mistake is an error.
            guard try files.status(descriptor).st_mode & S_IFMT == S_IFREG else { throw .invalidArgument }
            // One byte past the limit tells "too large" without loading the whole file.
            contents = try files.readAll(descriptor, limit: maximumConfigurationSize + 1)
        } catch {
            throw PolicyConfigurationError(path: "", kind: .unreadableFile)
        }
        guard contents.count <= maximumConfigurationSize else {
            throw PolicyConfigurationError(path: "", kind: .tooLarge)
        }
        return contents
    }
}

/// An object's members, checked against the keys the format allows at its path.
private struct JSONObjectReader {
    let path: String
    private let members: [String: JSONValue]
    /// Keys in document order, so the first problem in the file is the one reported.
    let keys: [String]

    init(_ value: JSONValue, at path: String, allowedKeys: Set<String>) throws(PolicyConfigurationError) {
        guard case .object(let list) = value else {
            throw PolicyConfigurationError(path: path, kind: .expected(.object))
        }
        var members: [String: JSONValue] = [:]
        // Document order, so the first problem in the file is the one reported.
        for member in list {
            let memberPath = KeyPath.member(path, member.key)
            guard members[member.key] == nil else {
                throw PolicyConfigurationError(path: memberPath, kind: .duplicateKey)
            }
            guard allowedKeys.contains(member.key) else {
                throw PolicyConfigurationError(path: memberPath, kind: .unknownKey)
            }
            members[member.key] = member.value
        }
        self.path = path
        self.members = members
        self.keys = list.map(\.key)
    }

    func path(_ key: String) -> String { KeyPath.member(path, key) }

    func optional(_ key: String) -> JSONValue? { members[key] }

    func required(_ key: String) throws(PolicyConfigurationError) -> JSONValue {
        guard let value = members[key] else {
            throw PolicyConfigurationError(path: path(key), kind: .missingKey)
        }
        return value
    }
}

private enum PolicyDocumentReader {
    static func policy(from document: JSONValue) throws(PolicyConfigurationError) -> RetentionPolicy {
        let root = try JSONObjectReader(
            document, at: "",
            allowedKeys: ["version", "ineligible", "eligibility", "zdrModels", "providers", "workspaces"])

        guard case .number(integer: RetentionPolicy.configurationVersion?) = try root.required("version") else {
            throw PolicyConfigurationError(path: root.path("version"), kind: .expected(.supportedVersion))
        }

        var handling = RetentionPolicy.IneligibleHandling.reject
        if let value = root.optional("ineligible") {
            let path = root.path("ineligible")
            switch try string(value, at: path, expected: .ineligibleHandlingName) {
            case "reject": handling = .reject
            case "processWithRetention": handling = .processWithRetention
            default: throw PolicyConfigurationError(path: path, kind: .expected(.ineligibleHandlingName))
            }
        }

        var matrix = RetentionPolicy.standardEligibility
        if let value = root.optional("eligibility") {
            matrix = try eligibility(value, at: root.path("eligibility"))
        }

        var policy = RetentionPolicy(eligibility: matrix, ineligible: handling)

        if let value = root.optional("zdrModels") {
            let models = try productMap(value, at: root.path("zdrModels"))
            for key in models.keys {
                guard let product = Product(policyName: key) else { continue }
                let entries = try array(try models.required(key), at: models.path(key))
                var names: [String] = []
                for (offset, entry) in entries.enumerated() {
                    names.append(try string(entry, at: KeyPath.index(models.path(key), offset), expected: .identifier))
                }
                policy = try policy.zdrModels(names, for: product)
            }
        }

        if let value = root.optional("providers") {
            let list = try array(value, at: root.path("providers"))
            for (offset, entry) in list.enumerated() {
                let provider = try JSONObjectReader(
                    entry, at: KeyPath.index(root.path("providers"), offset), allowedKeys: ["id", "zdrCoverage"])
                let id = try string(try provider.required("id"), at: provider.path("id"), expected: .identifier)
                let modesPath = provider.path("zdrCoverage")
                var modes: Set<TransferMode> = []
                let modeValues = try array(try provider.required("zdrCoverage"), at: modesPath)
                for (modeOffset, modeValue) in modeValues.enumerated() {
                    let modePath = KeyPath.index(modesPath, modeOffset)
                    let name = try string(modeValue, at: modePath, expected: .transferModeName)
                    guard let mode = TransferMode(policyName: name) else {
                        throw PolicyConfigurationError(path: modePath, kind: .expected(.transferModeName))
                    }
                    guard modes.insert(mode).inserted else {
                        throw PolicyConfigurationError(path: modePath, kind: .duplicateEntry)
                    }
                }
                policy = try policy.provider(id, zdrCoverage: modes)
            }
        }

        let workspaces = try array(try root.required("workspaces"), at: root.path("workspaces"))
        for (offset, entry) in workspaces.enumerated() {
            let workspace = try JSONObjectReader(
                entry, at: KeyPath.index(root.path("workspaces"), offset), allowedKeys: ["id", "zdr", "agents"])
            let id = try string(try workspace.required("id"), at: workspace.path("id"), expected: .identifier)
            let zdr = try bool(try workspace.required("zdr"), at: workspace.path("zdr"))
            policy = try policy.workspace(id, zdr: zdr)
            guard let agentsValue = workspace.optional("agents") else { continue }
            for (agentOffset, agentEntry) in try array(agentsValue, at: workspace.path("agents")).enumerated() {
                let agent = try JSONObjectReader(
                    agentEntry, at: KeyPath.index(workspace.path("agents"), agentOffset), allowedKeys: ["id", "zdr"])
                let agentID = try string(try agent.required("id"), at: agent.path("id"), expected: .identifier)
                let agentZDR = try agent.optional("zdr").map { value throws(PolicyConfigurationError) in
                    try bool(value, at: agent.path("zdr"))
                }
                policy = try policy.agent(agentID, in: id, zdr: agentZDR)
            }
        }
        return policy
    }

    private static func eligibility(
        _ value: JSONValue, at path: String
    ) throws(PolicyConfigurationError) -> EligibilityMatrix {
        let object = try JSONObjectReader(value, at: path, allowedKeys: ["base", "allow", "forbid"])
        var matrix: EligibilityMatrix
        switch try string(try object.required("base"), at: object.path("base"), expected: .eligibilityBaseName) {
        case "standard": matrix = RetentionPolicy.standardEligibility
        case "none": matrix = EligibilityMatrix()
        default: throw PolicyConfigurationError(path: object.path("base"), kind: .expected(.eligibilityBaseName))
        }
        // Allow first, then forbid: a pair named in both ends up forbidden (fail closed).
        if let allow = object.optional("allow") {
            for (product, classes) in try classMap(allow, at: object.path("allow")) {
                matrix = matrix.allowing(classes, for: product)
            }
        }
        if let forbid = object.optional("forbid") {
            for (product, classes) in try classMap(forbid, at: object.path("forbid")) {
                matrix = matrix.forbidding(classes, for: product)
            }
        }
        return matrix
    }

    private static func classMap(
        _ value: JSONValue, at path: String
    ) throws(PolicyConfigurationError) -> [(Product, Set<DataClass>)] {
        let map = try productMap(value, at: path)
        var result: [(Product, Set<DataClass>)] = []
        for key in map.keys {
            guard let product = Product(policyName: key) else { continue }
            var classes: Set<DataClass> = []
            for (offset, entry) in try array(try map.required(key), at: map.path(key)).enumerated() {
                let entryPath = KeyPath.index(map.path(key), offset)
                let name = try string(entry, at: entryPath, expected: .dataClassName)
                guard let dataClass = DataClass(policyName: name) else {
                    throw PolicyConfigurationError(path: entryPath, kind: .expected(.dataClassName))
                }
                guard classes.insert(dataClass).inserted else {
                    throw PolicyConfigurationError(path: entryPath, kind: .duplicateEntry)
                }
            }
            result.append((product, classes))
        }
        return result
    }

    /// An object keyed by product names; any other key is unknown.
    private static func productMap(
        _ value: JSONValue, at path: String
    ) throws(PolicyConfigurationError) -> JSONObjectReader {
        try JSONObjectReader(value, at: path, allowedKeys: Set(Product.allCases.map(\.policyName)))
    }

    private static func array(_ value: JSONValue, at path: String) throws(PolicyConfigurationError) -> [JSONValue] {
        guard case .array(let elements) = value else {
            throw PolicyConfigurationError(path: path, kind: .expected(.array))
        }
        return elements
    }

    private static func bool(_ value: JSONValue, at path: String) throws(PolicyConfigurationError) -> Bool {
        guard case .bool(let flag) = value else {
            throw PolicyConfigurationError(path: path, kind: .expected(.boolean))
        }
        return flag
    }

    /// A string; a value of another type is reported as `expected` (e.g. `identifier`), which is
    /// what the user must write there.
    private static func string(
        _ value: JSONValue, at path: String, expected: PolicyConfigurationError.Expectation = .string
    ) throws(PolicyConfigurationError) -> String {
        guard case .string(let text) = value else {
            throw PolicyConfigurationError(path: path, kind: .expected(expected))
        }
        return text
    }
}
