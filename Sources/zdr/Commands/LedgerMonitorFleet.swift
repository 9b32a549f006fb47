#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger
import VaultSystem

// `zdr ledger monitor --fleet FILE`: every log of a fleet file checked as `--tiles` checks one,
// and one table. The fleet file, one log a line:
//
//     origin verifier-key tiles-location [witness-vkey ...] [quorum=K]
//
// fields separated by spaces or tabs; a line whose first non-blank character is `#` is a comment,
// blank lines are skipped. The origin must be the verifier key's name (the log's origin); the
// location is an http(s) URL prefix or a directory (relative to the current directory); witness
// keys are cosigner vkeys (type 0x04) written out, not file names; quorum defaults to all the
// line's witnesses. Any other line is a usage error naming its number.

/// One line of a fleet file.
struct FleetLog {
    let line: Int
    let origin: String
    let verifierKey: VerifierKey
    let location: String
    let witnesses: [CosignerKey]
    let quorum: Int
}

extension LedgerMonitorCommand {
    static func parseFleet(_ text: String, path: String, arguments: ParsedArguments) throws(CLIError) -> [FleetLog] {
        var logs: [FleetLog] = []
        var stateNames: Set<String> = []
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            func malformed(_ why: String) -> CLIError { arguments.usage("\(path) line \(number): \(why)") }
            let fields = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            guard fields.count >= 3 else {
                throw malformed("expected `origin verifier-key tiles-location [witness-vkey ...] [quorum=K]`")
            }
            let origin = fields[0]
            let key: VerifierKey
            do { key = try VerifierKey(fields[1]) } catch { throw malformed("the verifier key is malformed (expected name+keyid+base64)") }
            guard key.name == origin else { throw malformed("the origin is not the verifier key's name") }
            let location = fields[2]
            var witnesses: [CosignerKey] = []
            var quorumText: String?
            for field in fields.dropFirst(3) {
                if field.hasPrefix("quorum=") {
                    guard quorumText == nil else { throw malformed("quorum= given twice") }
                    quorumText = String(field.dropFirst("quorum=".count))
                    continue
                }
                let witness: CosignerKey
                do { witness = try CosignerKey(field) } catch { throw malformed("a witness key is malformed (expected name+keyid+base64 of a cosigner key, type 0x04)") }
                if !witnesses.contains(witness) { witnesses.append(witness) }
            }
            var quorum = witnesses.count
            if let quorumText {
                guard !witnesses.isEmpty else { throw malformed("quorum= needs at least one witness key") }
                guard let value = Int(quorumText), value >= 1, value <= witnesses.count else {
                    throw malformed("quorum= expects an integer in 1...\(witnesses.count)")
                }
                quorum = value
            }
            guard !logs.contains(where: { $0.origin == origin }) else { throw malformed("the origin \(origin) is listed twice") }
            guard stateNames.insert(stateFileName(origin)).inserted else { throw malformed("two origins share a state file name") }
            logs.append(FleetLog(line: number, origin: origin, verifierKey: key, location: location, witnesses: witnesses, quorum: quorum))
        }
        guard !logs.isEmpty else { throw arguments.usage("\(path) lists no log") }
        return logs
    }

    /// The state file name for `origin`, never a path: its letters, digits, `.`, `-` and `_`
    /// (others as `_`, at most 64, no leading dot), a dash, 16 hex digits of FNV-1a-64 of the
    /// whole origin (so that origins differing only in other characters differ), `.checkpoint`.
    static func stateFileName(_ origin: String) -> String {
        var readable = String(origin.prefix(64).map { character -> Character in
            character.isASCII && (character.isLetter || character.isNumber || character == "." || character == "-" || character == "_")
                ? character : "_"
        })
        if readable.hasPrefix(".") { readable = "_" + readable.dropFirst() }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in origin.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return readable + "-" + String(repeating: "0", count: 16 - hex.count) + hex + ".checkpoint"
    }

    /// `42s`, `5m`, `3h`, `2d`.
    static func age(_ seconds: UInt64) -> String {
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 120 * 60 { return "\(seconds / 60)m" }
        if seconds < 48 * 3600 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }

    static let ageSource = "the newest record's recordedAt, read from the last entry bundle (checkpoints carry no time)"
    static let receiptsNote = "receipts are not counted: that reads every entry bundle of every log (zdr ledger prove --tiles finds one)"

    static func runFleet(path: String, stateDirectory: String?, json: Bool, arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        guard case .success(let bytes) = ProcFS.readBytes(path, limit: 1 << 20) else {
            throw .failure("cannot read fleet file \(path)")
        }
        let logs = try parseFleet(String(decoding: bytes, as: UTF8.self), path: path, arguments: arguments)
        if let stateDirectory {
            if mkdir(stateDirectory, 0o755) != 0 && errno != EEXIST {
                throw .failure("cannot create state directory \(stateDirectory): \(Errno(rawValue: errno))")
            }
        }
        let now = Timestamp.now()
        var rows: [(log: FleetLog, result: TilesLogCheck, previous: String?)] = []
        for log in logs {
            let statePath = stateDirectory.map { $0 + "/" + stateFileName(log.origin) }
            var previous: String?
            var result: TilesLogCheck
            if let statePath, ProcFS.exists(statePath) {
                guard case .success(let stateBytes) = ProcFS.readBytes(statePath, limit: 64 << 10) else {
                    var unreadable = TilesLogCheck()
                    unreadable.fail(.failure, "state", "cannot read state file \(statePath)")
                    rows.append((log, unreadable, nil))
                    continue
                }
                previous = String(decoding: stateBytes, as: UTF8.self)
            }
            result = check(reader: tileReader(log.location, verifierKey: log.verifierKey), location: log.location,
                           trustedNote: previous, witnesses: log.witnesses, quorum: log.quorum, newestRecord: true)
            if let statePath {
                do throws(CLIError) { try advance(result, statePath: statePath, previous: previous, origin: log.origin) } catch {
                    if case .failure(let message) = error { result.fail(.failure, "state", message) }
                }
            }
            rows.append((log, result, previous))
        }
        let exit: ExitCode = rows.contains { $0.result.exitCode == .finding } ? .finding
            : rows.contains { $0.result.exitCode == .failure } ? .failure : .ok
        func ageSeconds(_ result: TilesLogCheck) -> UInt64? {
            result.newestRecordAt.map { now.nanosecondsSinceEpoch > $0.nanosecondsSinceEpoch ? (now.nanosecondsSinceEpoch - $0.nanosecondsSinceEpoch) / 1_000_000_000 : 0 }
        }
        if json {
            console.out(JSON.object([
                ("fleet", .string(path)),
                ("consistent", .bool(exit == .ok)),
                ("stateDirectory", .optional(stateDirectory)),
                ("ageSource", .string(ageSource)),
                ("receipts", .null),
                ("logs", .array(rows.map { row in
                    .object([
                        ("origin", .string(row.log.origin)), ("line", .int(row.log.line)), ("location", .string(row.log.location)),
                    ] + jsonMembers(row.result, origin: row.log.origin, witnesses: row.log.witnesses.count, quorum: row.log.quorum) + [
                        ("newestRecordAt", .optional(row.result.newestRecordAt.map(LedgerCommands.isoTime))),
                        ("ageSeconds", ageSeconds(row.result).map { .uint($0) } ?? .null),
                    ])
                })),
            ]).rendered())
            return exit
        }
        let header = ["ORIGIN", "SIZE", "AGE", "WITNESSES", "STATUS", "PROBLEMS"]
        let table: [[String]] = rows.map { row in
            let result = row.result
            let status: String = switch result.status {
            case .consistent: "consistent"
            case .firstRun: "first run"
            case .finding, .failure: (result.problemKind ?? "problem").uppercased()
            }
            return [
                row.log.origin,
                result.served.map { String($0.treeSize) } ?? "-",
                ageSeconds(result).map(age) ?? "-",
                row.log.witnesses.isEmpty ? "-" : "\(result.cosigners.count)/\(row.log.quorum)",
                status,
                result.problem ?? "",
            ]
        }
        var widths = header.map(\.count)
        for cells in table { for (index, cell) in cells.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        console.out(console.paint(render(header), .bold))
        for (index, cells) in table.enumerated() {
            let line = render(cells)
            switch rows[index].result.exitCode {
            case .ok: console.out(line)
            default: console.out(console.paint(line, .red))
            }
        }
        console.out("age: since \(ageSource)")
        console.out(receiptsNote)
        if stateDirectory == nil {
            console.out(console.paint("no --state-dir: each log was verified alone, not against an earlier checkpoint", .yellow))
        }
        for row in rows where row.result.status == .finding {
            console.out("\(row.log.origin) (line \(row.log.line)):")
            printCheckpoints(row.result, origin: row.log.origin, previous: row.previous, console: console, indent: "  ")
        }
        return exit
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
