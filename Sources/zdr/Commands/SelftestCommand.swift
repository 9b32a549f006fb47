/// `zdr selftest`: synthetic requests through the vault, then a scan of this process for residue.
enum SelftestCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["selftest"],
        summary: "Run synthetic requests through the vault and scan this process's memory for residue.",
        discussion: "Exit status: 0 no residue and every receipt verified, 1 residue or a verification failure, 2 failure, 64 usage error.",
        options: [
            .value("requests", "N", "Synthetic requests of each kind (default 32)."),
            .value("backend", "auto|secretmem|locked", "Vault memory backend (default auto)."),
            .value("ledger", "PATH", "Append receipts to this ledger file (default: a temporary ledger)."),
            .flag("json", "Print the result as JSON."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        _ = try arguments.integer("requests", default: 32, in: 1...100_000)
        _ = try arguments.choice("backend", default: "auto", from: ["auto", "secretmem", "locked"])
        throw .unavailable("selftest needs the ContentVault and RetentionLedger engines")
    }
}
