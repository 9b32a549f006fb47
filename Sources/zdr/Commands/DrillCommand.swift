/// `zdr drill`: one real request from standard input, then stay alive for outside inspection.
enum DrillCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["drill"],
        summary: "Read one request's content from stdin into the vault, discard it, record the receipt, then wait.",
        options: [
            .value("product", "tts|stt|llm", "Kind of request to simulate (default tts)."),
            .value("ledger", "PATH", "Ledger file to append the receipt to."),
            .value("hold", "SECONDS", "Stay alive this long after the discard (default 0)."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        _ = try arguments.choice("product", default: "tts", from: ["tts", "stt", "llm"])
        _ = try arguments.integer("hold", default: 0, in: 0...86_400)
        throw .unavailable("drill needs the ContentVault and RetentionLedger engines")
    }
}
