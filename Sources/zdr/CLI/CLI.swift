/// A leaf command: its spec and what it does.
protocol ZDRCommand {
    static var spec: CommandSpec { get }
    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode
}

/// The command tree and the top-level dispatch.
enum CLI {
    /// `zdr --version`.
    static let version = "0.1.0"

    static var commands: [any ZDRCommand.Type] {
        [DoctorCommand.self, SelftestCommand.self, DrillCommand.self, ScanCommand.self]
            + LedgerCommands.all
    }

    static let root: CommandSpec = {
        let leaves = commands.map { $0.spec }
        let topLevel = leaves.filter { $0.path.count == 1 }
        let ledger = CommandSpec(
            path: ["ledger"],
            summary: "Create keys for, verify, show and export the retention ledger; prove and check receipts.",
            subcommands: leaves.filter { $0.path.count == 2 && $0.path[0] == "ledger" }
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
            subcommands: topLevel + [ledger]
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

    static func report(_ error: CLIError, console: Console) {
        switch error {
        case .usage(let message, let command):
            console.error("zdr: error: \(message)")
            console.error("Run '\(command) --help' for usage.")
        case .finding(let message):
            console.error("zdr: \(message)")
        case .failure(let message):
            console.error("zdr: error: \(message)")
        }
    }
}
