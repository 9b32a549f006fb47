import ZeroRetention
import RetentionLedger

/// `zdr ledger verify`: the whole file, offline, against a pinned verifier key.
enum LedgerVerifyCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let trusted = OptionSpec.value(
        "trusted", "CHECKPOINT", "A signed checkpoint of this log seen before (a file): fail unless the ledger extends it.")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "verify"],
        summary: "Verify a ledger file's chain, checkpoints and signatures; name the first bad record.",
        discussion: """
            Checks every frame checksum and record encoding, every checkpoint's tree size, root \
            hash and signature, and every key rotation, following the key chain from the pinned key. \
            A log is tamper-evident only against a checkpoint someone kept: with --trusted, the \
            ledger must also extend that checkpoint (RFC 9162 consistency proof), so a truncated, \
            rolled-back or forked file fails.
            Exit status: 0 valid, 1 verification failed (the first bad record is named), \
            2 failure (cannot read the file, malformed key), 64 usage error.
            """,
        options: [key, trusted, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let json = arguments.flag(Self.json)
        let trustedNote = try arguments.value(Self.trusted).map { file throws(CLIError) in
            guard case .success(let bytes) = ProcFS.readBytes(file, limit: 64 << 10) else {
                throw .failure("cannot read trusted checkpoint \(file)")
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        let report: LedgerVerificationReport
        do throws(LedgerError) {
            let verifier = try VerifierKey(key)
            if let trustedNote {
                report = try LedgerVerifier.verify(path: path, verifierKey: verifier, extending: trustedNote)
            } else {
                report = try LedgerVerifier.verify(path: path, verifierKey: verifier)
            }
        } catch {
            guard LedgerCommands.isVerificationFailure(error) else { throw LedgerCommands.cliError(error, path: path) }
            if json {
                console.out(JSON.object([
                    ("ledger", .string(path)), ("valid", .bool(false)), ("error", LedgerCommands.errorJSON(error)),
                ]).rendered())
            } else {
                console.out("ledger \(path): " + console.paint("INVALID", .red))
                console.out("  \(error)")
            }
            return .finding
        }
        if json {
            console.out(JSON.object([
                ("ledger", .string(path)),
                ("valid", .bool(true)),
                ("records", .uint(report.recordCount)),
                ("checkpoints", .int(report.checkpointCount)),
                ("lastCheckpointTreeSize", .uint(report.lastCheckpointTreeSize)),
                ("uncheckpointedRecords", .uint(report.uncheckpointedRecords)),
                // The same two numbers under the names the text output uses.
                ("signedRecords", .uint(report.lastCheckpointTreeSize)),
                ("unsignedRecords", .uint(report.uncheckpointedRecords)),
                ("keyEpoch", .int(Int(report.keyEpoch))),
                ("tornTailBytes", .int(report.tornTailBytes)),
                ("rootHash", .string(LedgerCommands.hexBytes(report.rootHash))),
            ]).rendered())
        } else {
            console.out("ledger \(path): " + console.paint("valid", .green)
                        + (trustedNote == nil ? "" : ", extends the trusted checkpoint"))
            console.out("  records \(report.recordCount), checkpoints \(report.checkpointCount), last checkpoint covers \(report.lastCheckpointTreeSize), key epoch \(report.keyEpoch)")
            console.out("  root \(LedgerCommands.hexBytes(report.rootHash))")
            // What the signatures cover, exactly: records [0, n) under the last checkpoint (itself
            // record n), and how many follow it uncovered.
            if report.checkpointCount == 0 {
                console.out("  signed: none of the \(report.recordCount) record(s): no checkpoint yet")
            } else {
                console.out("  signed: records 0..<\(report.lastCheckpointTreeSize) by the last checkpoint (record \(report.lastCheckpointTreeSize)); \(report.uncheckpointedRecords) after it")
            }
            if report.uncheckpointedRecords > 0 {
                console.out("  note: \(report.uncheckpointedRecords) record(s) after the last checkpoint are chained but not covered by a signature")
            }
            if report.tornTailBytes > 0 {
                console.out("  note: \(report.tornTailBytes) byte(s) of an interrupted final write follow the last record (the writer truncates them)")
            }
        }
        return .ok
    }
}
