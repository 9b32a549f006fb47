import ZeroRetention
import RetentionLedger

/// `zdr ledger monitor`: what an auditor runs from cron. Keeps the newest checkpoint it verified
/// in a state file and, on every run, requires the ledger to extend it, so a rollback,
/// truncation or fork between two runs is caught even though each version of the file verifies
/// on its own.
enum LedgerMonitorCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let state = OptionSpec.value("state", "FILE", "Where the newest verified checkpoint is kept between runs (LEDGER or --tiles).")
    static let key = OptionSpec.value("key", "VKEY", LedgerCommands.keyHelp + " Not with --fleet.")
    static let tiles = OptionSpec.value(
        "tiles", "DIR|URL", "Monitor a C2SP tlog-tiles log (zdr ledger tiles), a directory or an http(s) URL prefix, instead of a ledger file.")
    static let witness = OptionSpec.repeatable(
        "witness", "VKEY",
        "With --tiles: a witness's cosigner key (type 0x04) whose cosignature the served checkpoint must carry, or a file holding it.")
    static let quorum = OptionSpec.value(
        "quorum", "K", "With --tiles: valid cosignatures required from distinct --witness keys (default: all of them).")
    static let fleet = OptionSpec.value(
        "fleet", "FILE",
        "Monitor every log of a fleet file (lines: origin verifier-key tiles-location [witness-vkey ...] [quorum=K]) and print one table.")
    static let stateDirectory = OptionSpec.value(
        "state-dir", "DIR",
        "With --fleet: the directory keeping each log's newest checkpoint and its tally of receipts and identities (two files per origin; created if missing), so that only new entries are read. Without it every entry bundle of every log is read.")
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
            With --tiles instead of LEDGER, the log's served checkpoint is verified from its \
            tiles (signature along the key chain, tiles hashing to its root) and must extend the \
            one in --state by a consistency proof built from the tiles; with --witness, it must \
            also carry --quorum valid cosignatures. With --fleet, every log of the file is checked \
            so, each against its own state under --state-dir, and one table is printed (origin, \
            size, age of the newest record, receipts, identities seen, witnesses, problems); \
            receipts and identities are counted from entries checked against the checkpoint's \
            root, with --state-dir only those added since the last run, without it all of them.
            Exit status: 0 consistent, 1 rollback, fork, quorum not met or verification failure \
            (for --fleet: of any log), 2 failure (for --fleet: some log could not be checked and \
            none has a problem), 64 usage error (a malformed fleet line is named by its number).
            """,
        options: [state, key, tiles, witness, quorum, fleet, stateDirectory, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file (or pass --tiles or --fleet).", isOptional: true)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let json = arguments.flag(Self.json)
        let witnessTexts = arguments.values(Self.witness)
        if let fleetPath = arguments.value(Self.fleet) {
            guard arguments.positional(0) == nil, arguments.value(Self.tiles) == nil, arguments.value(Self.state) == nil,
                  arguments.value(Self.key) == nil, witnessTexts.isEmpty, arguments.value(Self.quorum) == nil
            else { throw arguments.usage("--fleet takes the logs, keys and witnesses from its file: pass only --state-dir and --json with it") }
            return try runFleet(path: fleetPath, stateDirectory: arguments.value(Self.stateDirectory), json: json,
                                arguments: arguments, console: console)
        }
        guard arguments.value(Self.stateDirectory) == nil else { throw arguments.usage("--state-dir goes with --fleet (use --state otherwise)") }
        let tilesLocation = arguments.value(Self.tiles)
        guard (arguments.positional(0) == nil) != (tilesLocation == nil) else {
            throw arguments.usage("pass either a LEDGER file, --tiles DIR|URL or --fleet FILE")
        }
        let statePath = try arguments.required(Self.state)
        let keyText = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        if let tilesLocation {
            let witnesses = try witnessTexts.map { text throws(CLIError) in try LedgerCommands.cosignerKey(text) }
            let distinct = witnesses.reduce(into: [CosignerKey]()) { if !$0.contains($1) { $0.append($1) } }
            var quorum = distinct.count
            if let text = arguments.value(Self.quorum) {
                guard !distinct.isEmpty else { throw arguments.usage("--quorum needs at least one --witness") }
                quorum = try arguments.parseInteger(text, option: Self.quorum, in: 1...distinct.count)
            }
            return try runTiles(location: tilesLocation, statePath: statePath, keyText: keyText, witnesses: distinct,
                                quorum: quorum, json: json, console: console)
        }
        guard witnessTexts.isEmpty, arguments.value(Self.quorum) == nil else {
            throw arguments.usage("--witness and --quorum go with --tiles (a ledger file holds no cosignatures)")
        }
        let path = arguments.positional(0)!
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

    static func readNote(_ path: String) throws(CLIError) -> String {
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
