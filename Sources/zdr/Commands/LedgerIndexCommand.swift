import ZeroRetention
import RetentionLedger

/// `zdr ledger index`: builds the index beside a ledger (`LEDGER.index/`), the cache `prove`
/// answers from in milliseconds.
enum LedgerIndexCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)

    static let spec = CommandSpec(
        path: ["ledger", "index"],
        summary: "Verify a ledger and write its index (LEDGER.index/) for fast proofs.",
        discussion: """
            Verifies the whole file as `zdr ledger verify` does and writes, beside it, the tree's \
            hashes and a request id table: `zdr ledger prove` then reads a few pages instead of \
            the file. The index is a cache, never trusted: every bundle built from it is checked \
            against the signed checkpoint in the ledger, and an index that is stale, damaged or \
            another ledger's is ignored (prove scans as without one). Records appended after it \
            are read from the ledger's tail. Any index already there is replaced.
            Exit status: 0 written, 1 verification failed, 2 failure, 64 usage error.
            """,
        options: [key],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let report: LedgerVerificationReport
        do throws(LedgerError) {
            report = try LedgerVerifier.buildIndex(path: path, verifierKey: try VerifierKey(key))
        } catch {
            guard LedgerCommands.isVerificationFailure(error) else { throw LedgerCommands.cliError(error, path: path) }
            console.out("ledger \(path): " + console.paint("INVALID", .red))
            console.out("  \(error)")
            return .finding
        }
        console.error("zdr: index of \(report.recordCount) records written to \(path).index")
        return .ok
    }
}
