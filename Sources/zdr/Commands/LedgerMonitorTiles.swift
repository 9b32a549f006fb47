#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger

// `zdr ledger monitor --tiles DIR|URL` and `--fleet FILE`: the monitor over C2SP tlog-tiles. The
// served checkpoint is verified with TileReader (signature along the key chain, tiles hashing to
// its root); the checkpoint kept from last time must be a prefix of it, shown by an RFC 9162
// consistency proof built from the tiles and verified against both roots; witnesses' cosignatures
// on the served note are counted against a quorum. The state advances only when all of that holds.

/// What the monitor found for one log.
struct TilesLogCheck {
    enum Status: String {
        /// Extends the checkpoint kept last time (and the quorum, if any, is met).
        case consistent
        /// No checkpoint kept yet: the served one is trusted (trust on first use).
        case firstRun = "first_run"
        /// Rollback, fork, quorum not met, or tiles that do not verify: exit 1.
        case finding
        /// The log could not be checked (unreachable, unreadable state): exit 2.
        case failure
    }

    var status: Status = .consistent
    /// The served checkpoint, verified (nil when it did not verify or could not be read).
    var served: SignedCheckpoint?
    /// The checkpoint kept last time (parsed from the state file, which the monitor wrote).
    var trusted: SignedCheckpoint?
    /// `rollback`, `fork`, `quorum`, `verification`, `unavailable` or `state`.
    var problemKind: String?
    var problem: String?
    /// The pinned witnesses whose cosignatures on the served note verify.
    var cosigners: [CosignerKey] = []
    /// `recordedAt` of the newest record the served checkpoint covers.
    var newestRecordAt: Timestamp?
    /// With `--fleet`: what the verified entries of the served tree hold (nil when not counted).
    var tally: FleetTally?
    /// With `--fleet`: the entries read to count them this run (the new ones, with a tally kept).
    var entriesRead: UInt64?

    var exitCode: ExitCode {
        switch status {
        case .consistent, .firstRun: .ok
        case .finding: .finding
        case .failure: .failure
        }
    }

    mutating func fail(_ status: Status, _ kind: String, _ message: String) {
        self.status = status
        problemKind = kind
        problem = message
    }

    /// A tiles error reading `location`: tiles that do not verify are a finding, a log that
    /// cannot be read a failure.
    mutating func fail(_ error: TileError, location: String) {
        switch LedgerCommands.cliError(error, ledger: nil, tiles: location) {
        case .finding(let message): fail(.finding, "verification", message)
        case .failure(let message), .usage(let message, _): fail(.failure, "unavailable", message)
        }
    }
}

extension LedgerMonitorCommand {
    /// A reader of the log at `location`: an http(s) URL prefix or a directory.
    static func tileReader(_ location: String, verifierKey: VerifierKey) -> TileReader {
        HTTPTileFetch.isURL(location)
            ? HTTPTileFetch.reader(prefix: location, verifierKey: verifierKey)
            : TileReader(directory: location, verifierKey: verifierKey)
    }

    /// Checks the log `reader` reads against `trustedNote` (the state file's contents, nil on the
    /// first run) and the witness quorum. Nothing is written here.
    static func check(
        reader: TileReader, location: String, trustedNote: String?, witnesses: [CosignerKey], quorum: Int, newestRecord: Bool
    ) -> TilesLogCheck {
        var result = TilesLogCheck()
        let origin = reader.verifierKey.name
        if let trustedNote {
            guard let trusted = try? SignedCheckpoint.parseUnverified(note: trustedNote), trusted.origin == origin else {
                result.fail(.failure, "state", "the state file does not hold a checkpoint of \(origin)")
                return result
            }
            result.trusted = trusted
        }
        func record(_ error: TileError) { result.fail(error, location: location) }
        let cosigned: CosignedCheckpoint
        do { cosigned = try reader.cosignedCheckpoint() } catch {
            record(error)
            return result
        }
        let served = cosigned.checkpoint
        result.served = served
        if !witnesses.isEmpty { result.cosigners = (try? cosigned.validCosigners(among: witnesses)) ?? [] }
        // Before the consistency check: the served checkpoint is verified, so its age is worth
        // showing even when it does not extend the trusted one.
        if newestRecord && served.treeSize > 0 {
            do throws(TileError) {
                // The entry comes with its inclusion proof checked against the served root.
                let (entry, _) = try reader.inclusionProof(leafIndex: served.treeSize - 1, checkpoint: served)
                do { result.newestRecordAt = try LedgerRecord(canonicalBytes: entry).recordedAt } catch { throw .ledger(error) }
            } catch {
                record(error)
                return result
            }
        }
        if let trusted = result.trusted {
            do throws(TileError) {
                try reader.requireConsistency(from: trusted, to: served)
            } catch .ledger(.notConsistent) {
                let kind = served.treeSize < trusted.treeSize ? "rollback" : "fork"
                result.fail(.finding, kind, kind == "rollback"
                    ? "rolled back: the log serves \(served.treeSize) records, fewer than the \(trusted.treeSize) of the checkpoint seen last time"
                    : "forked: the log's tree of \(served.treeSize) records does not extend the checkpoint of \(trusted.treeSize) seen last time")
                return result
            } catch {
                record(error)
                return result
            }
        }
        if !witnesses.isEmpty {
            do throws(LedgerError) {
                result.cosigners = try cosigned.requireQuorum(quorum, of: witnesses)
            } catch {
                result.cosigners = (try? cosigned.validCosigners(among: witnesses)) ?? []
                result.fail(.finding, "quorum", "witness quorum not met: \(result.cosigners.count) of \(quorum) required valid cosignatures (\(error))")
                return result
            }
        }
        result.status = result.trusted == nil ? .firstRun : .consistent
        return result
    }

    /// The note as this ledger writes it: the checkpoint body and the log's own signature
    /// line(s), without the cosignatures a served note may carry. That is what the state keeps.
    static func logNote(_ note: String, origin: String) -> String {
        let parts = note.components(separatedBy: "\n\n")
        guard parts.count == 2 else { return note }
        let own = parts[1].split(separator: "\n").filter { $0.hasPrefix("\u{2014} \(origin) ") }
        return parts[0] + "\n\n" + own.map { $0 + "\n" }.joined()
    }

    /// Writes the served checkpoint as the new state when the check passed and it changed.
    static func advance(_ result: TilesLogCheck, statePath: String, previous: String?, origin: String) throws(CLIError) {
        guard result.exitCode == .ok, let served = result.served else { return }
        let note = logNote(served.noteText, origin: origin)
        if note != previous { try LedgerCommands.writeFile(note, to: statePath, mode: 0o644) }
    }

    /// `zdr ledger monitor --tiles DIR|URL --state FILE --key VKEY [--witness VKEY … --quorum K]`.
    static func runTiles(
        location: String, statePath: String, keyText: String, witnesses: [CosignerKey], quorum: Int, json: Bool, console: Console
    ) throws(CLIError) -> ExitCode {
        let verifier: VerifierKey
        do { verifier = try VerifierKey(keyText) } catch { throw LedgerCommands.cliError(error, path: statePath) }
        let previous: String? = ProcFS.exists(statePath) ? try readNote(statePath) : nil
        let result = check(reader: tileReader(location, verifierKey: verifier), location: location, trustedNote: previous,
                           witnesses: witnesses, quorum: quorum, newestRecord: false)
        if result.status == .failure { throw .failure(result.problem ?? "cannot check \(location)") }
        try advance(result, statePath: statePath, previous: previous, origin: verifier.name)
        if json {
            console.out(JSON.object([("tiles", .string(location))] + jsonMembers(result, origin: verifier.name, witnesses: witnesses.count, quorum: quorum)).rendered())
            return result.exitCode
        }
        let served = result.served
        switch result.status {
        case .firstRun:
            console.out("tiles \(location): " + console.paint("first run", .yellow)
                        + ": trusting the checkpoint of size \(served?.treeSize ?? 0) (trust on first use), kept in \(statePath)")
        case .consistent:
            console.out("tiles \(location): " + console.paint("consistent", .green)
                        + " with the checkpoint seen last time (size \(result.trusted?.treeSize ?? 0) → \(served?.treeSize ?? 0))")
        case .finding, .failure:
            console.out("tiles \(location): " + console.paint("NOT CONSISTENT", .red))
            console.out("  \(result.problem ?? "")")
            printCheckpoints(result, origin: verifier.name, previous: previous, console: console, indent: "  ")
        }
        if !witnesses.isEmpty {
            console.out("  cosigned by \(result.cosigners.count) of \(witnesses.count) pinned witnesses (quorum \(quorum))"
                        + (result.cosigners.isEmpty ? "" : ": " + result.cosigners.map(\.name).joined(separator: ", ")))
        }
        return result.exitCode
    }

    /// Both checkpoints, for a log that failed: the state file is unchanged.
    static func printCheckpoints(_ result: TilesLogCheck, origin: String, previous: String?, console: Console, indent: String) {
        if let previous {
            console.out("\(indent)checkpoint seen last time (kept in the state file, unchanged):")
            if let note = checkpointNote(previous, origin: origin) {
                for line in note.split(separator: "\n") { console.out("\(indent)  \(line)") }
            } else {
                console.out("\(indent)  (the state file does not hold a checkpoint of this log; not shown)")
            }
        }
        if let served = result.served {
            console.out("\(indent)the checkpoint the log serves now:")
            for line in logNote(served.noteText, origin: origin).split(separator: "\n") { console.out("\(indent)  \(line)") }
        }
    }

    static func jsonMembers(_ result: TilesLogCheck, origin: String, witnesses: Int, quorum: Int) -> [(String, JSON)] {
        var members: [(String, JSON)] = [
            ("status", .string(result.status.rawValue)),
            ("consistent", .bool(result.exitCode == .ok)),
            ("firstRun", .bool(result.status == .firstRun)),
            ("previousTreeSize", result.trusted.map { .uint($0.treeSize) } ?? .null),
            ("treeSize", result.served.map { .uint($0.treeSize) } ?? .null),
            ("rootHash", result.served.map { .string(LedgerCommands.hexBytes($0.rootHash)) } ?? .null),
        ]
        if witnesses > 0 {
            members.append(("witnessQuorum", .int(quorum)))
            members.append(("cosigners", .array(result.cosigners.map { .string($0.name) })))
        }
        members.append(("problem", result.problem.map { message in
            .object([("kind", .string(result.problemKind ?? "")), ("message", .string(message))])
        } ?? .null))
        if result.exitCode != .ok {
            members.append(("trustedCheckpoint", .optional(result.trusted.flatMap { checkpointNote($0.noteText, origin: origin) })))
            members.append(("servedCheckpoint", .optional(result.served.map { logNote($0.noteText, origin: origin) })))
        }
        return members
    }
}
