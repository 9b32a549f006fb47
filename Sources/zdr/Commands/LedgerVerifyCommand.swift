import ZeroRetention
import RetentionLedger

/// `zdr ledger verify`: the whole file, offline, against a pinned verifier key.
enum LedgerVerifyCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let trusted = OptionSpec.value(
        "trusted", "CHECKPOINT", "A signed checkpoint of this log seen before (a file): fail unless the ledger extends it.")
    static let expectBinary = OptionSpec.value(
        "expect-binary", "SHA256", "Fail unless every discard receipt was produced under this executable (64 hex digits).")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "verify"],
        summary: "Verify a ledger file's chain, checkpoints and signatures; name the first bad record.",
        discussion: """
            Checks every frame checksum and record encoding, every checkpoint's tree size, root \
            hash and signature, and every key rotation, following the key chain from the pinned key. \
            A log is tamper-evident only against a checkpoint someone kept: with --trusted, the \
            ledger must also extend that checkpoint (RFC 9162 consistency proof), so a truncated, \
            rolled-back or forked file fails. With --expect-binary, every discard receipt must \
            follow a software-identity record naming that executable hash (the identity is \
            self-reported: Docs/ThreatModel.md).
            Exit status: 0 valid, 1 verification failed (the first bad record is named), \
            2 failure (cannot read the file, malformed key), 64 usage error.
            """,
        options: [key, trusted, expectBinary, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let json = arguments.flag(Self.json)
        let expectedBinary = try arguments.value(Self.expectBinary).map { text throws(CLIError) -> [UInt8] in
            guard text.utf8.count == 64, let bytes = LedgerCommands.hexDecode(text) else {
                throw arguments.usage("--expect-binary takes a SHA-256 as 64 hex digits")
            }
            return bytes
        }
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
        var tally: IdentityTally?
        if let expectedBinary {
            do throws(LedgerError) { tally = try LedgerVerifier.identityTally(path: path) } catch {
                throw LedgerCommands.cliError(error, path: path)
            }
            let others = tally!.receiptsNotProduced(by: expectedBinary)
            if others > 0 {
                let expected = LedgerCommands.hexBytes(expectedBinary)
                if json {
                    console.out(JSON.object([
                        ("ledger", .string(path)), ("valid", .bool(false)),
                        ("error", .object([("kind", .string("unexpectedBinary")), ("expectedBinary", .string(expected)),
                                           ("receiptsUnderOtherBinaries", .uint(others - tally!.receiptsWithoutIdentity)),
                                           ("receiptsWithoutIdentity", .uint(tally!.receiptsWithoutIdentity))])),
                    ]).rendered())
                } else {
                    console.out("ledger \(path): " + console.paint("INVALID", .red))
                    console.out("  \(others - tally!.receiptsWithoutIdentity) receipt(s) produced under another executable, \(tally!.receiptsWithoutIdentity) under no recorded identity (expected \(expected))")
                }
                return .finding
            }
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
            ] + (tally.map { [("identities", .int($0.identities.count)), ("expectedBinary", .bool(true))] } ?? [])).rendered())
        } else {
            console.out("ledger \(path): " + console.paint("valid", .green)
                        + (trustedNote == nil ? "" : ", extends the trusted checkpoint"))
            console.out("  records \(report.recordCount), checkpoints \(report.checkpointCount), last checkpoint covers \(report.lastCheckpointTreeSize), key epoch \(report.keyEpoch)")
            console.out("  root \(LedgerCommands.hexBytes(report.rootHash))")
            if let tally {
                console.out("  every discard receipt was produced under the expected executable (\(tally.identities.count) identity record(s) seen)")
            }
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
