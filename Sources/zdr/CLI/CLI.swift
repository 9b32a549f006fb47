/// A leaf command: its spec and what it does.
protocol ZDRCommand {
    static var spec: CommandSpec { get }
    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode
}

/// The command tree and the top-level dispatch.
enum CLI {
    /// `zdr --version`.
    static let version = "0.1.0"

    /// The commands directly under `zdr`; `zdr ledger …` are `LedgerCommands.all`.
    static var topLevelCommands: [any ZDRCommand.Type] {[
        DoctorCommand.self, SelftestCommand.self, DrillCommand.self, ScanCommand.self,
    ]}

    static var commands: [any ZDRCommand.Type] { topLevelCommands + LedgerCommands.all }

    static let root: CommandSpec = {
        let ledger = CommandSpec(
            path: ["ledger"],
            summary: "Create keys for, verify, show and export the retention ledger; prove and check receipts; publish tiles.",
            subcommands: LedgerCommands.all.map { $0.spec }
        )
        return CommandSpec(
            path: [],
            summary: "memory-wipe diagnostics for the content vault.",
            discussion: """
                Exit status: 0 ok, 1 a finding (residue, warning, verification failure), \
                2 unsafe host or failure, 64 usage error.
                zdr never prints request content: only counts, sizes, identifiers and addresses.
                """,
            options: [.flag("version", "Print the version and exit.")],
            subcommands: topLevelCommands.map { $0.spec } + [ledger]
        )
    }()

    /// Runs the command line and returns the exit status.
    static func main(_ argv: [String]) -> Int32 {
        let console = Console.detect()
        do {
            switch try ArgumentParser.parse(Array(argv.dropFirst()), root: root) {
            case .version:
                console.out("zdr \(version)")
                return ExitCode.ok.rawValue
            case .help(let spec):
                console.out(spec.helpText)
                return ExitCode.ok.rawValue
            case .run(let parsed):
                guard let command = commands.first(where: { $0.spec.path == parsed.spec.path }) else {
                    throw CLIError.failure("no handler for \(parsed.spec.displayName)")
                }
                return try command.run(parsed, console: console).rawValue
            }
        } catch let error as CLIError {
            report(error, console: console)
            return error.exitCode.rawValue
        } catch {
            console.error("zdr: error: unexpected failure")
            return ExitCode.failure.rawValue
        }
    }

    /// The command whose display name is `name` (`zdr ledger verify`), anywhere in the tree.
    static func spec(named name: String, in tree: CommandSpec) -> CommandSpec? {
        if tree.displayName == name { return tree }
        for sub in tree.subcommands {
            if let found = spec(named: name, in: sub) { return found }
        }
        return nil
    }

    static func report(_ error: CLIError, console: Console) {
        switch error {
        case .usage(let message, let command):
            // As swift-argument-parser does: the error, the command's usage line, where help is.
            console.error("zdr: error: \(message)")
            if let spec = spec(named: command, in: root) {
                console.error(wrap("Usage: \(spec.usageLine)", width: helpWidth, indent: 4))
            }
            console.error("Run '\(command) --help' for usage.")
        case .finding(let message):
            console.error("zdr: \(message)")
        case .failure(let message):
            console.error("zdr: error: \(message)")
        }
    }
}
