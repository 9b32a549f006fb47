import ZeroRetention
import RetentionLedger

/// `zdr ledger show`: the records as a table or JSON.
enum LedgerShowCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let request = OptionSpec.value("request", "ID", "Only records about this request id.")
    static let limit = OptionSpec.value("limit", "N", "Only the last N records shown.")
    static let json = OptionSpec.flag("json", "Print the records as a JSON array.")

    static let spec = CommandSpec(
        path: ["ledger", "show"],
        summary: "Show ledger records as a table or JSON.",
        discussion: """
            Frames and encodings are checked while reading; signatures are not (use verify).
            Exit status: 0 shown, 1 the file is damaged, 2 failure, 64 usage error.
            """,
        options: [request, limit, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let limit = try arguments.integer(Self.limit, default: Int.max, in: 1...Int.max)
        let request = try arguments.value(Self.request).map { text throws(CLIError) in
            try LedgerCommands.requestID(text, arguments: arguments)
        }
        var entries: [LedgerEntry]
        do {
            entries = try LedgerVerifier.entries(path: path)
        } catch {
            throw LedgerCommands.cliError(error, path: path)
        }
        if let request { entries = entries.filter { $0.record.requestID == request } }
        if entries.count > limit { entries = Array(entries.suffix(limit)) }

        if arguments.flag(Self.json) {
            console.out(JSON.array(entries.map { .raw($0.record.jsonLine(leafIndex: $0.leafIndex)) }).rendered())
            return .ok
        }
        console.table(
            ["INDEX", "RECORDED (UTC)", "KIND", "REQUEST", "SUMMARY"],
            entries.map { entry in
                [
                    String(entry.leafIndex),
                    LedgerCommands.isoTime(entry.record.recordedAt),
                    entry.record.body.kind.name,
                    entry.record.requestID?.description ?? "-",
                    LedgerCommands.summary(entry.record.body),
                ]
            })
        return .ok
    }
}
