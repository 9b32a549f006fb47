import ZeroRetention
import RetentionLedger

/// `zdr ledger export`: JSON Lines for log shippers and SIEMs.
enum LedgerExportCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let out = OptionSpec.value("out", "PATH", "Write to this file (mode 0600) instead of standard output.")

    static let spec = CommandSpec(
        path: ["ledger", "export"],
        summary: "Export ledger records as JSON Lines.",
        discussion: """
            One JSON object per record, in ledger order. Every value is a number, an enum name, a \
            declared identifier, hex or base64: no field can hold free text.
            Exit status: 0 exported, 1 the file is damaged, 2 failure, 64 usage error.
            """,
        options: [out],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let lines: String
        do {
            lines = try LedgerVerifier.exportJSONLines(path: path)
        } catch {
            throw LedgerCommands.cliError(error, path: path)
        }
        if let out = arguments.value(Self.out) {
            try LedgerCommands.writeFile(lines, to: out, mode: 0o600)
        } else {
            Console.write(lines, to: 1)
        }
        return .ok
    }
}
