import ZeroRetention
import RetentionLedger

/// `zdr ledger prove`: the receipt bundle for one request, for the customer or an auditor.
enum LedgerProveCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let request = OptionSpec.required("request", "ID", "The request id (32 hex digits).")
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let out = OptionSpec.value("out", "PATH", "Write the bundle here instead of standard output.")

    static let spec = CommandSpec(
        path: ["ledger", "prove"],
        summary: "Write the receipt bundle proving one request's discard.",
        discussion: """
            The bundle holds the discard receipt, its inclusion proof and a signed checkpoint \
            covering it; `zdr ledger check-receipt` (or any RFC 6962 and signed-note code) checks \
            it offline with only the verifier key. The ledger is verified first.
            Exit status: 0 written, 1 no checkpointed receipt for the request or the ledger is \
            invalid, 2 failure, 64 usage error.
            """,
        options: [request, key, out],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let request = try LedgerCommands.requestID(try arguments.required(Self.request), arguments: arguments)
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let bundle: ReceiptBundle
        do {
            bundle = try LedgerVerifier.receiptBundle(path: path, request: request, verifierKey: key)
        } catch {
            if case .requestNotFound = error {
                throw .finding("no discard receipt covered by a signed checkpoint for request \(request)")
            }
            throw LedgerCommands.cliError(error, path: path)
        }
        if let out = arguments.value(Self.out) {
            try LedgerCommands.writeFile(bundle.json + "\n", to: out, mode: 0o644)
            console.error("zdr: receipt bundle for \(request) written to \(out) (leaf \(bundle.leafIndex) of \(bundle.treeSize))")
        } else {
            console.out(bundle.json)
        }
        return .ok
    }
}
