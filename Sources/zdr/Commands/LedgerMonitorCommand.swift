import ZeroRetention
import RetentionLedger

/// `zdr ledger monitor`: what an auditor runs from cron. Keeps the newest checkpoint it verified
/// in a state file and, on every run, requires the ledger to extend it, so a rollback,
/// truncation or fork between two runs is caught even though each version of the file verifies
/// on its own.
enum LedgerMonitorCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let state = OptionSpec.required("state", "FILE", "Where the newest verified checkpoint is kept between runs.")
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "monitor"],
        summary: "Check a ledger against the checkpoint seen last time; keep the newest one.",
        discussion: """
            Verifies the whole ledger, then requires it to extend the checkpoint in --state (an \
            RFC 9162 consistency proof) and to still hold a signed checkpoint at least that new; \
            then stores the ledger's newest checkpoint there. The first run trusts what it finds \
            (trust on first use) and says so. A rollback or fork leaves the state file as it \
            was and prints both checkpoints.
            Exit status: 0 consistent, 1 rollback, fork or verification failure, 2 failure, \
            64 usage error.
            """,
        options: [state, key, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let statePath = try arguments.required(Self.state)
        let json = arguments.flag(Self.json)
        let keyText = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let previous: String? = ProcFS.exists(statePath)
            ? try readNote(statePath)
            : nil

        let latest: SignedCheckpoint?
        do throws(LedgerError) {
            let verifier = try VerifierKey(keyText)
            if let previous {
                _ = try LedgerVerifier.verify(path: path, verifierKey: verifier, extending: previous)
            }
            latest = try LedgerVerifier.latestCheckpoint(path: path, verifierKey: verifier)
        } catch {
            guard LedgerCommands.isVerificationFailure(error) else { throw LedgerCommands.cliError(error, path: path) }
            report(problem: error, previous: previous, keyText: keyText, path: path, json: json, console: console)
            return .finding
        }
        guard let latest else {
            if json {
                console.out(JSON.object([("ledger", .string(path)), ("consistent", .bool(true)), ("checkpoint", .null)]).rendered())
            } else {
                console.out("ledger \(path): no signed checkpoint yet; nothing to keep")
            }
            return .ok
        }
        if latest.noteText != previous {
            try LedgerCommands.writeFile(latest.noteText, to: statePath, mode: 0o644)
        }
        // The previous note's size line (it verified against the ledger's key chain above).
        let previousSize = previous.flatMap { $0.split(separator: "\n").dropFirst().first.flatMap { UInt64($0) } }
        if json {
            console.out(JSON.object([
                ("ledger", .string(path)), ("consistent", .bool(true)),
                ("previousTreeSize", previousSize.map { .uint($0) } ?? .null),
                ("treeSize", .uint(latest.treeSize)), ("rootHash", .string(LedgerCommands.hexBytes(latest.rootHash))),
                ("firstRun", .bool(previous == nil)),
            ]).rendered())
        } else if previous == nil {
            console.out("ledger \(path): " + console.paint("first run", .yellow)
                        + ": trusting the checkpoint of size \(latest.treeSize) (trust on first use), kept in \(statePath)")
        } else {
            console.out("ledger \(path): " + console.paint("consistent", .green)
                        + " with the checkpoint seen last time (size \(previousSize.map(String.init) ?? "?") → \(latest.treeSize))")
        }
        return .ok
    }

    /// The log's origin: the verifier key's name (`name+keyid+base64`).
    private static func origin(of keyText: String) -> String {
        String(keyText.split(separator: "+", maxSplits: 1).first ?? "")
    }

    /// `note` when it has exactly the shape of a checkpoint of `origin` (origin, decimal size,
    /// 44-character base64 root, a blank line, signature lines of that key): only then is it
    /// printed. A `--state` pointed at some other file must not have its contents echoed.
    static func checkpointNote(_ note: String, origin: String) -> String? {
        let parts = note.components(separatedBy: "\n\n")
        guard parts.count == 2, note.hasSuffix("\n") else { return nil }
        let body = parts[0].split(separator: "\n", omittingEmptySubsequences: false)
        let base64 = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
        guard body.count == 3, body[0] == origin, !body[1].isEmpty, body[1].allSatisfy(\.isASCII), UInt64(body[1]) != nil,
              body[2].count == 44, body[2].allSatisfy({ base64.contains($0) })
        else { return nil }
        let signatures = parts[1].split(separator: "\n")
        guard !signatures.isEmpty, signatures.allSatisfy({ line in
            let fields = line.split(separator: " ")
            return fields.count == 3 && fields[0] == "\u{2014}" && fields[1] == origin && fields[2].allSatisfy { base64.contains($0) }
        }) else { return nil }
        return note
    }

    private static func readNote(_ path: String) throws(CLIError) -> String {
        guard case .success(let bytes) = ProcFS.readBytes(path, limit: 64 << 10) else {
            throw .failure("cannot read monitor state \(path)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func report(
        problem: LedgerError, previous: String?, keyText: String, path: String, json: Bool, console: Console
    ) {
        let current = (try? LedgerVerifier.entries(path: path).count).map(UInt64.init)
        // The ledger's own newest checkpoint, when the file verifies on its own.
        let newest = (try? VerifierKey(keyText)).flatMap { try? LedgerVerifier.latestCheckpoint(path: path, verifierKey: $0) }
        if json {
            console.out(JSON.object([
                ("ledger", .string(path)), ("consistent", .bool(false)), ("error", LedgerCommands.errorJSON(problem)),
                ("trustedCheckpoint", .optional(previous.flatMap { checkpointNote($0, origin: origin(of: keyText)) })),
                ("ledgerCheckpoint", .optional(newest?.noteText)),
                ("ledgerRecords", current.map { .uint($0) } ?? .null),
            ]).rendered())
            return
        }
        console.out("ledger \(path): " + console.paint("NOT CONSISTENT", .red))
        console.out("  \(problem)")
        if let previous {
            console.out("  checkpoint seen last time (kept in the state file, unchanged):")
            if let note = checkpointNote(previous, origin: origin(of: keyText)) {
                for line in note.split(separator: "\n") { console.out("    \(line)") }
            } else {
                // Whatever else the file holds is not echoed: it could be anything.
                console.out("    (the state file does not hold a checkpoint of this log; not shown)")
            }
        }
        if let newest {
            console.out("  the ledger's newest checkpoint now:")
            for line in newest.noteText.split(separator: "\n") { console.out("    \(line)") }
        }
        if let current { console.out("  the ledger now holds \(current) records") }
    }
}
