/// A small declarative argument parser: each command declares its options and positionals in a
/// ``CommandSpec``; ``ArgumentParser`` turns `argv` into ``ParsedArguments`` or a usage error.
/// Supports `--name value`, `--name=value`, flags, `--` and `-h`/`--help` everywhere.

/// One `--option` a command accepts.
struct OptionSpec: Sendable {
    /// Long name without the dashes.
    let name: String
    /// Placeholder shown in help (`N`, `PATH`); `nil` for a flag that takes no value.
    let valueName: String?
    let help: String
    /// The parser rejects a command line without it.
    var isRequired = false
    /// It may be given more than once; ``ParsedArguments/values(_:)`` reads every value.
    var isRepeatable = false

    static func flag(_ name: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: nil, help: help)
    }

    static func value(_ name: String, _ valueName: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help)
    }

    static func required(_ name: String, _ valueName: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help + " Required.", isRequired: true)
    }

    /// An option that may be given several times (`--witness A --witness B`).
    static func repeatable(_ name: String, _ valueName: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help + " Repeatable.", isRepeatable: true)
    }

    var isFlag: Bool { valueName == nil }
}

/// One positional argument.
struct PositionalSpec: Sendable {
    let name: String
    let help: String
    let isOptional: Bool
}

/// A command or subcommand: its name, help text and what it accepts.
struct CommandSpec: Sendable {
    /// The full path of the command, e.g. `["ledger", "verify"]`.
    let path: [String]
    let summary: String
    /// Extra help paragraphs printed after the options.
    let discussion: String
    let options: [OptionSpec]
    let positionals: [PositionalSpec]
    /// Non-empty for a command group such as `ledger`.
    let subcommands: [CommandSpec]

    init(
        path: [String], summary: String, discussion: String = "", options: [OptionSpec] = [],
        positionals: [PositionalSpec] = [], subcommands: [CommandSpec] = []
    ) {
        self.path = path
        self.summary = summary
        self.discussion = discussion
        self.options = options
        self.positionals = positionals
        self.subcommands = subcommands
    }

    var name: String { path.last ?? "zdr" }
    var displayName: String { (["zdr"] + path).joined(separator: " ") }

    func option(named name: String) -> OptionSpec? {
        options.first { $0.name == name }
    }

    /// `zdr scan --pid PID --needle-file PATH [--json]`
    var usageLine: String {
        if !subcommands.isEmpty {
            return "\(displayName) <subcommand> [options]"
        }
        var parts = [displayName]
        for option in options {
            let rendered = option.isFlag ? "--\(option.name)" : "--\(option.name) \(option.valueName!)"
            parts.append(option.isRequired ? rendered : "[\(rendered)]")
        }
        for positional in positionals {
            parts.append(positional.isOptional ? "[\(positional.name)]" : positional.name)
        }
        return parts.joined(separator: " ")
    }

    /// The text `--help` prints, wrapped to ``helpWidth`` columns.
    var helpText: String {
        var lines = [wrap("\(displayName): \(summary)", width: helpWidth, indent: 2), "",
                     wrap("Usage: \(usageLine)", width: helpWidth, indent: 4)]
        /// `name  help`, the help wrapped under itself.
        func table(_ rows: [(String, String)]) {
            let width = rows.map(\.0.count).max() ?? 0
            for (name, help) in rows {
                lines.append(wrap(help, width: helpWidth, indent: width + 4, prefix: "  \(name.padding(toLength: width))  "))
            }
        }
        if !subcommands.isEmpty {
            lines += ["", "Subcommands:"]
            table(subcommands.map { ($0.name, $0.summary) })
        }
        if !positionals.isEmpty {
            lines += ["", "Arguments:"]
            table(positionals.map { ($0.name, $0.help) })
        }
        lines += ["", "Options:"]
        table(options.map { option in
            (option.isFlag ? "--\(option.name)" : "--\(option.name) \(option.valueName!)", option.help)
        } + [("-h, --help", "Show this help and exit.")])
        if !discussion.isEmpty {
            lines.append("")
            lines += discussion.split(separator: "\n", omittingEmptySubsequences: false)
                .map { wrap(String($0), width: helpWidth, indent: 0) }
        }
        if !subcommands.isEmpty {
            lines += ["", "Run '\(displayName) <subcommand> --help' for a subcommand's options."]
        }
        return lines.joined(separator: "\n")
    }
}

/// Help and usage lines are wrapped to this many columns.
let helpWidth = 100

/// `prefix` then `text` broken at spaces into lines of at most `width` columns (a longer word
/// stays whole), continuation lines indented by `indent` spaces. The prefix is kept as it is
/// (a table row's name and padding).
func wrap(_ text: String, width: Int, indent: Int, prefix: String = "") -> String {
    guard prefix.count + text.count > width else { return prefix + text }
    var lines: [String] = []
    var current = prefix
    var lineHasWord = false
    for word in text.split(separator: " ") {
        if lineHasWord, current.count + 1 + word.count > width {
            lines.append(current)
            current = String(repeating: " ", count: indent) + word
        } else {
            current += (lineHasWord ? " " : "") + word
        }
        lineHasWord = true
    }
    lines.append(current)
    return lines.joined(separator: "\n")
}

/// The result of parsing one command's arguments.
struct ParsedArguments: Sendable {
    let spec: CommandSpec
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var repeated: [String: [String]] = [:]
    private(set) var positionals: [String] = []

    init(spec: CommandSpec) { self.spec = spec }

    // Options are read by the `OptionSpec` a command declared (a typed key), never by a string:
    // a misspelt name does not compile. Reading an option the command does not declare is a
    // programming error the CLI tests catch (every command runs under them).

    func flag(_ option: OptionSpec) -> Bool {
        assert(spec.option(named: option.name) != nil, "--\(option.name) is not an option of \(spec.displayName)")
        return flags.contains(option.name)
    }

    func value(_ option: OptionSpec) -> String? {
        assert(spec.option(named: option.name) != nil, "--\(option.name) is not an option of \(spec.displayName)")
        return values[option.name]
    }

    /// Every value of a repeatable option, in command-line order (empty when absent).
    func values(_ option: OptionSpec) -> [String] {
        assert(spec.option(named: option.name)?.isRepeatable == true, "--\(option.name) is not a repeatable option of \(spec.displayName)")
        return repeated[option.name] ?? []
    }

    func positional(_ index: Int) -> String? {
        index < positionals.count ? positionals[index] : nil
    }

    func required(_ option: OptionSpec) throws(CLIError) -> String {
        guard let value = value(option) else {
            throw usage("missing required option --\(option.name)")
        }
        return value
    }

    /// An integer option within `range`, or `defaultValue` when absent.
    func integer(_ option: OptionSpec, default defaultValue: Int, in range: ClosedRange<Int>) throws(CLIError) -> Int {
        guard let text = value(option) else { return defaultValue }
        return try parseInteger(text, option: option, in: range)
    }

    func parseInteger(_ text: String, option: OptionSpec, in range: ClosedRange<Int>) throws(CLIError) -> Int {
        guard let number = Int(text), range.contains(number) else {
            throw usage("--\(option.name) expects an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// One of a fixed set of words.
    func choice(_ option: OptionSpec, default defaultValue: String, from choices: [String]) throws(CLIError) -> String {
        guard let text = value(option) else { return defaultValue }
        guard choices.contains(text) else {
            throw usage("--\(option.name) expects one of: \(choices.joined(separator: ", "))")
        }
        return text
    }

    func usage(_ message: String) -> CLIError {
        .usage(message, command: spec.displayName)
    }

    fileprivate mutating func set(_ option: OptionSpec, value: String?) {
        if let value {
            values[option.name] = value
            if option.isRepeatable { repeated[option.name, default: []].append(value) }
        } else {
            flags.insert(option.name)
        }
    }

    fileprivate mutating func append(positional: String) { positionals.append(positional) }
}

/// What the command line asked for.
enum ParseOutcome: Sendable {
    case run(ParsedArguments)
    case help(CommandSpec)
    case version
}

enum ArgumentParser {
    /// Parses `arguments` (without the program name) against the command tree rooted at `root`.
    static func parse(_ arguments: [String], root: CommandSpec) throws(CLIError) -> ParseOutcome {
        var spec = root
        var index = 0
        // Walk down the command tree: `zdr ledger verify ...`.
        while index < arguments.count, !spec.subcommands.isEmpty {
            let word = arguments[index]
            if word == "--help" || word == "-h" { return .help(spec) }
            if word == "--version", spec.path.isEmpty { return .version }
            if word == "help", spec.path.isEmpty {
                // `zdr help ledger verify` is `zdr ledger verify --help`.
                return .help(try resolve(Array(arguments[(index + 1)...]), root: root))
            }
            guard let sub = spec.subcommands.first(where: { $0.name == word }) else {
                let what = word.hasPrefix("-") ? "unknown option '\(word)'" : "unknown subcommand '\(word)'"
                throw .usage(what + suggestion(for: word, among: spec.subcommands.map(\.name)),
                             command: spec.displayName)
            }
            spec = sub
            index += 1
        }
        if !spec.subcommands.isEmpty {
            throw .usage("missing subcommand", command: spec.displayName)
        }

        var parsed = ParsedArguments(spec: spec)
        var onlyPositionals = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if onlyPositionals || !word.hasPrefix("-") || word == "-" {
                parsed.append(positional: word)
                continue
            }
            if word == "--" { onlyPositionals = true; continue }
            if word == "--help" || word == "-h" { return .help(spec) }
            guard word.hasPrefix("--") else {
                throw .usage("unknown option '\(word)'", command: spec.displayName)
            }
            var name = String(word.dropFirst(2))
            var inlineValue: String?
            // Split on the scalar "=": as a Character, "=" followed by a combining mark is one
            // grapheme and would not be found (FuzzCLIArguments).
            let scalars = name.unicodeScalars
            if let equals = scalars.firstIndex(of: "=") {
                inlineValue = String(scalars[scalars.index(after: equals)...])
                name = String(scalars[..<equals])
            }
            guard let option = spec.option(named: name) else {
                throw .usage("unknown option '--\(name)'" + suggestion(for: name, among: spec.options.map(\.name), prefix: "--"),
                             command: spec.displayName)
            }
            if option.isFlag {
                if inlineValue != nil {
                    throw .usage("--\(name) takes no value", command: spec.displayName)
                }
                parsed.set(option, value: nil)
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard index < arguments.count else {
                    throw .usage("--\(name) needs a value (\(option.valueName!))", command: spec.displayName)
                }
                value = arguments[index]
                index += 1
            }
            if !option.isRepeatable, parsed.value(option) != nil {
                throw .usage("--\(name) given more than once", command: spec.displayName)
            }
            parsed.set(option, value: value)
        }

        if let missing = spec.options.first(where: { $0.isRequired && parsed.value($0) == nil }) {
            throw .usage("missing required option --\(missing.name)", command: spec.displayName)
        }
        let required = spec.positionals.filter { !$0.isOptional }.count
        if parsed.positionals.count < required {
            let missing = spec.positionals[parsed.positionals.count]
            throw .usage("missing argument \(missing.name)", command: spec.displayName)
        }
        if parsed.positionals.count > spec.positionals.count {
            throw .usage("unexpected argument '\(parsed.positionals[spec.positionals.count])'", command: spec.displayName)
        }
        return .run(parsed)
    }

    /// The spec that `path` names, for `zdr help <command...>`.
    private static func resolve(_ path: [String], root: CommandSpec) throws(CLIError) -> CommandSpec {
        var spec = root
        for word in path {
            guard let sub = spec.subcommands.first(where: { $0.name == word }) else {
                throw .usage("unknown subcommand '\(word)'", command: spec.displayName)
            }
            spec = sub
        }
        return spec
    }

    /// "; did you mean 'scan'?" when a close name exists.
    static func suggestion(for word: String, among names: [String], prefix: String = "") -> String {
        let bare = word.drop { $0 == "-" }
        let best = names.map { ($0, editDistance(Array(bare), Array($0))) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= 2 else { return "" }
        return "; did you mean '\(prefix)\(best.0)'?"
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension String {
    /// Left-aligned in a column of `length` characters.
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

extension ParsedArguments {
    /// A byte count such as `65536`, `64K`, `16M`, `1G` (binary units), or `defaultValue`.
    func byteSize(_ option: OptionSpec, default defaultValue: UInt64) throws(CLIError) -> UInt64 {
        guard let text = value(option) else { return defaultValue }
        guard let bytes = parseByteSize(text) else {
            throw usage("--\(option.name) expects a size such as 65536, 64K, 16M or 1G")
        }
        return bytes
    }
}

/// `16M` → 16 MiB. Nil for anything else, including overflow.
func parseByteSize(_ text: String) -> UInt64? {
    let shifts: [Character: UInt64] = ["K": 10, "k": 10, "M": 20, "m": 20, "G": 30, "g": 30, "T": 40, "t": 40]
    var digits = Substring(text)
    var shift: UInt64 = 0
    if let last = digits.last, let unit = shifts[last] {
        shift = unit
        digits = digits.dropLast()
    } else if digits.hasSuffix("iB") || digits.hasSuffix("B") {
        return nil
    }
    guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let number = UInt64(digits) else { return nil }
    let (result, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
    return overflow ? nil : result
}
