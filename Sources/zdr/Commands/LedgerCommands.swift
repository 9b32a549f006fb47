/// `zdr ledger ...`: keys, verification, listing, export and receipts.
enum LedgerCommands {
    static let all: [any ZDRCommand.Type] = [
        LedgerKeygenCommand.self, LedgerVerifyCommand.self, LedgerShowCommand.self,
        LedgerExportCommand.self, LedgerProveCommand.self, LedgerCheckReceiptCommand.self,
    ]

    static func unavailable() -> CLIError {
        .unavailable("ledger commands need the RetentionLedger engine")
    }
}

enum LedgerKeygenCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "keygen"],
        summary: "Create a signing key (mode 0600) and print its verifier key.",
        options: [
            .required("out", "PATH", "Where to write the signing key."),
            .flag("force", "Overwrite an existing file."),
            .flag("json", "Print the result as JSON."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        _ = try arguments.required("out")
        throw LedgerCommands.unavailable()
    }
}

enum LedgerVerifyCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "verify"],
        summary: "Verify a ledger file's chain, checkpoints and signatures; name the first bad record.",
        options: [
            .value("key", "VKEY", "Verifier key (hex or file) to check signatures against."),
            .flag("json", "Print the result as JSON."),
        ],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        throw LedgerCommands.unavailable()
    }
}

enum LedgerShowCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "show"],
        summary: "Show ledger records as a table or JSON.",
        options: [
            .value("limit", "N", "Show at most N records (the newest)."),
            .flag("json", "Print the records as JSON."),
        ],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        throw LedgerCommands.unavailable()
    }
}

enum LedgerExportCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "export"],
        summary: "Export ledger records as JSON Lines.",
        options: [.value("out", "PATH", "Write to this file instead of standard output.")],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        throw LedgerCommands.unavailable()
    }
}

enum LedgerProveCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "prove"],
        summary: "Write the receipt bundle proving one request's discard.",
        options: [
            .required("request", "ID", "The request id (32 hex digits)."),
            .required("out", "PATH", "Bundle file to write."),
            .flag("json", "Print the result as JSON."),
        ],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        _ = try arguments.required("request")
        _ = try arguments.required("out")
        throw LedgerCommands.unavailable()
    }
}

enum LedgerCheckReceiptCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "check-receipt"],
        summary: "Verify a receipt bundle offline against a verifier key.",
        options: [
            .required("key", "VKEY", "Verifier key (hex or file)."),
            .flag("json", "Print the result as JSON."),
        ],
        positionals: [PositionalSpec(name: "BUNDLE", help: "The receipt bundle file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        _ = try arguments.required("key")
        throw LedgerCommands.unavailable()
    }
}
