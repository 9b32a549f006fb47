// The zdr executable's argument parser. An executable target cannot be a dependency, so its two
// self-contained files are compiled in here through symlinks (Entries/zdrParser/ →
// Sources/zdr/CLI/ArgumentParser.swift and ExitCode.swift): the fuzzer runs the shipped code.

/// A command tree shaped like zdr's: top-level commands with flags, values and required
/// options, a command group with positionals, and a hidden command.
let fuzzCommandTree: CommandSpec = {
    let doctor = CommandSpec(
        path: ["doctor"], summary: "Check the host.",
        options: [.flag("json", "JSON output."), .value("budget", "BYTES", "Memory budget.")])
    let scan = CommandSpec(
        path: ["scan"], summary: "Scan a process.",
        options: [.required("pid", "PID", "Process."), .required("needle-file", "PATH", "Needles."), .flag("json", "JSON.")])
    let verify = CommandSpec(
        path: ["ledger", "verify"], summary: "Verify a ledger.",
        options: [.required("key", "KEY", "Verifier key."), .flag("json", "JSON.")],
        positionals: [PositionalSpec(name: "LEDGER", help: "Ledger file.", isOptional: false)])
    let show = CommandSpec(
        path: ["ledger", "show"], summary: "Show records.",
        options: [.value("request", "ID", "Request."), .value("limit", "N", "Most records.")],
        positionals: [PositionalSpec(name: "LEDGER", help: "Ledger file.", isOptional: false),
                      PositionalSpec(name: "OUT", help: "Output.", isOptional: true)])
    let keygen = CommandSpec(
        path: ["ledger", "keygen"], summary: "Make a key.",
        options: [.required("name", "NAME", "Key name."), .value("out", "PATH", "Key file."), .flag("force", "Overwrite.")])
    let ledger = CommandSpec(path: ["ledger"], summary: "Ledger tools.", subcommands: [verify, show, keygen])
    return CommandSpec(
        path: [], summary: "diagnostics.", options: [.flag("version", "Version.")],
        subcommands: [doctor, scan, ledger])
}()

/// Argument words are the input split at NUL bytes. Properties: parsing never crashes and fails
/// only with a usage error; help renders; a parsed command line has only declared options, its
/// required options, and a positional count in range; written back canonically
/// (`--name value` or `--name=value`, `--flag`, `--`, positionals) it parses to the same result.
public func fuzzCLIArguments(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let words = input.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    for word in words {
        if let size = parseByteSize(word), word.allSatisfy(\.isNumber) {
            try require(UInt64(word) == size, "parseByteSize changed a plain number")
        }
    }
    let outcome: ParseOutcome
    do {
        outcome = try ArgumentParser.parse(words, root: fuzzCommandTree)
    } catch {
        guard case .usage(let message, _) = error else { throw FuzzPropertyViolation("parse failed with a non-usage error") }
        try require(!message.isEmpty, "empty usage message")
        return
    }
    let parsed: ParsedArguments
    switch outcome {
    case .version: return
    case .help(let spec):
        try require(!spec.helpText.isEmpty, "empty help")
        return
    case .run(let result): parsed = result
    }
    let spec = parsed.spec
    try require(spec.subcommands.isEmpty, "parsed a command group as a command")
    for (name, _) in parsed.values {
        try require(spec.option(named: name).map { !$0.isFlag } == true, "value for an undeclared option")
    }
    for name in parsed.flags {
        try require(spec.option(named: name)?.isFlag == true, "flag not declared")
    }
    for option in spec.options where option.isRequired {
        try require(parsed.value(option) != nil, "required option missing")
    }
    let required = spec.positionals.filter { !$0.isOptional }.count
    try require((required...spec.positionals.count).contains(parsed.positionals.count), "positional count out of range")

    // Written back both ways, `--name value` and `--name=value`, it parses to the same result.
    let flags = parsed.flags.sorted().map { "--\($0)" }
    let separate = spec.path + parsed.values.keys.sorted().flatMap { ["--\($0)", parsed.values[$0]!] } + flags
        + ["--"] + parsed.positionals
    try requireSameParse(separate, as: parsed, form: "--name value")
    let inline = spec.path + parsed.values.keys.sorted().map { "--\($0)=\(parsed.values[$0]!)" } + flags
        + ["--"] + parsed.positionals
    // Before 7aadeae the split used the first "=" *Character*, and "=" followed by a combining
    // mark is one Character (Fuzz/FailCases/FuzzCLIArguments/cli-inline-value-combining-mark).
    try requireSameParse(inline, as: parsed, form: "--name=value")
}

/// Parses `words` and requires the same command, options and positionals as `expected`.
private func requireSameParse(_ words: [String], as expected: ParsedArguments, form: String) throws(FuzzPropertyViolation) {
    let reparsed: ParseOutcome
    do { reparsed = try ArgumentParser.parse(words, root: fuzzCommandTree) } catch {
        throw FuzzPropertyViolation("the \(form) form of a parsed command line does not parse")
    }
    guard case .run(let again) = reparsed else {
        throw FuzzPropertyViolation("the \(form) form of a parsed command line is not a run")
    }
    try require(again.spec.path == expected.spec.path, "the \(form) form names another command")
    try require(again.values == expected.values && again.flags == expected.flags, "the \(form) form changes options")
    try require(again.positionals == expected.positionals, "the \(form) form changes positionals")
}
