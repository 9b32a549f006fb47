import ZeroRetention
import RetentionLedger

/// `zdr ledger consistency`: the RFC 9162 consistency proof between two sizes of a ledger, for
/// an auditor who holds a checkpoint of the smaller size.
enum LedgerConsistencyCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let from = OptionSpec.required("from", "N", "The smaller tree size (a checkpoint the auditor holds).")
    static let to = OptionSpec.required("to", "M", "The larger tree size, at most the ledger's size.")
    static let json = OptionSpec.flag("json", "Print the proof and both roots as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "consistency"],
        summary: "Print the RFC 9162 consistency proof from tree size N to M of a ledger.",
        discussion: """
            One hash per line (64 hex digits), leaf side first; with --json, the proof with both \
            roots. The proof shows the first N records are unchanged in the first \
            M: checked against a checkpoint of size N, it proves no rollback or fork since.
            Exit status: 0 printed, 1 the file is damaged, 2 failure, 64 usage error.
            """,
        options: [from, to, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let first = try arguments.parseInteger(try arguments.required(Self.from), option: Self.from, in: 0...Int.max)
        let second = try arguments.parseInteger(try arguments.required(Self.to), option: Self.to, in: 0...Int.max)
        guard first <= second else { throw arguments.usage("--from must not exceed --to") }
        let proof: [[UInt8]]
        let roots: (first: [UInt8], second: [UInt8])
        do {
            // One streaming pass, memory O(log² n): the tree is never held whole.
            let result = try LedgerVerifier.consistency(path: path, firstSize: UInt64(first), secondSize: UInt64(second))
            proof = result.proof
            roots = (result.firstRoot, result.secondRoot)
        } catch .invalidField("tree size") {
            throw arguments.usage("--to \(second) exceeds the ledger's size")
        } catch {
            throw LedgerCommands.cliError(error, path: path)
        }
        if arguments.flag(Self.json) {
            console.out(JSON.object([
                ("ledger", .string(path)), ("from", .int(first)), ("to", .int(second)),
                ("fromRoot", .string(LedgerCommands.hexBytes(roots.first))), ("toRoot", .string(LedgerCommands.hexBytes(roots.second))),
                ("proof", .array(proof.map { .string(LedgerCommands.hexBytes($0)) })),
            ]).rendered())
        } else {
            for hash in proof { console.out(LedgerCommands.hexBytes(hash)) }
        }
        return .ok
    }
}
