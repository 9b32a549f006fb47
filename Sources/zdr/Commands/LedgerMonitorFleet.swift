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
    static let countNote = "receipts: discard receipts (kind 5); identities: distinct executable SHA-256s of software-identity records (kind 9); counted from entries checked against the verified checkpoint's root"

    /// The tally file name beside `stateFileName(origin)`.
    static func tallyFileName(_ origin: String) -> String {
        String(stateFileName(origin).dropLast(".checkpoint".count)) + ".tally"
    }

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
            let tallyPath = stateDirectory.map { $0 + "/" + tallyFileName(log.origin) }
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
            let reader = tileReader(log.location, verifierKey: log.verifierKey)
            result = check(reader: reader, location: log.location,
                           trustedNote: previous, witnesses: log.witnesses, quorum: log.quorum, newestRecord: true)
            var kept: FleetTally?
            if result.exitCode == .ok, let served = result.served {
                count(&result, served: served, reader: reader, location: log.location, origin: log.origin, tallyPath: tallyPath, kept: &kept)
            }
            if let statePath {
                do throws(CLIError) {
                    try advance(result, statePath: statePath, previous: previous, origin: log.origin)
                    // After the checkpoint: a tally never runs ahead of the state's checkpoint.
                    if result.exitCode == .ok, let tallyPath, let tally = result.tally, tally != kept {
                        try LedgerCommands.writeFile(tally.text, to: tallyPath, mode: 0o644)
                    }
                } catch {
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
                ("counts", .string(countNote)),
                ("logs", .array(rows.map { row in
                    .object([
                        ("origin", .string(row.log.origin)), ("line", .int(row.log.line)), ("location", .string(row.log.location)),
                    ] + jsonMembers(row.result, origin: row.log.origin, witnesses: row.log.witnesses.count, quorum: row.log.quorum) + [
                        ("newestRecordAt", .optional(row.result.newestRecordAt.map(LedgerCommands.isoTime))),
                        ("ageSeconds", ageSeconds(row.result).map { .uint($0) } ?? .null),
                        ("receipts", row.result.tally.map { .uint($0.receipts) } ?? .null),
                        ("identitiesSeen", row.result.tally.map { .int(Int64($0.identities.count)) } ?? .null),
                        ("identities", row.result.tally.map { .array($0.identities.map { .string(LedgerCommands.hexBytes($0)) }) } ?? .null),
                        ("entriesRead", row.result.entriesRead.map { .uint($0) } ?? .null),
                    ])
                })),
            ]).rendered())
            return exit
        }
        let header = ["ORIGIN", "SIZE", "AGE", "RECEIPTS", "IDENTITIES", "WITNESSES", "STATUS", "PROBLEMS"]
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
                result.tally.map { String($0.receipts) } ?? "-",
                result.tally.map { String($0.identities.count) } ?? "-",
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
        console.out(countNote)
        let read = rows.compactMap(\.result.entriesRead).reduce(0, +)
        if stateDirectory == nil {
            console.out("entries read: \(read) (no --state-dir: every entry bundle of every log)")
            console.out(console.paint("no --state-dir: each log was verified alone, not against an earlier checkpoint", .yellow))
        } else {
            console.out("entries read: \(read) (those added since the tallies kept under \(stateDirectory ?? ""))")
        }
        for row in rows where row.result.status == .finding {
            console.out("\(row.log.origin) (line \(row.log.line)):")
            printCheckpoints(row.result, origin: row.log.origin, previous: row.previous, console: console, indent: "  ")
        }
        return exit
    }
}

extension LedgerMonitorCommand {
    /// Brings the log's tally up to `served` (verified): from the tally kept at `tallyPath`
    /// (read into `kept`), or from the first entry without one. A tally that cannot be read or
    /// parsed, or counts more entries than the log serves, fails the row (`state`) and nothing
    /// is counted; entries that do not verify fail it as the check does.
    static func count(
        _ result: inout TilesLogCheck, served: SignedCheckpoint, reader: TileReader, location: String, origin: String,
        tallyPath: String?, kept: inout FleetTally?
    ) {
        var start = FleetTally(origin: origin)
        if let tallyPath, ProcFS.exists(tallyPath) {
            guard case .success(let bytes) = ProcFS.readBytes(tallyPath, limit: FleetTally.maximumBytes) else {
                result.fail(.failure, "state", "cannot read tally file \(tallyPath)")
                return
            }
            do throws(FleetTallyError) { start = try FleetTally(parsing: String(decoding: bytes, as: UTF8.self), origin: origin) } catch {
                result.fail(.failure, "state", "the tally file \(tallyPath) is not valid: \(error)")
                return
            }
            kept = start
        }
        guard start.size <= served.treeSize else {
            result.fail(.failure, "state", "the tally file \(tallyPath ?? "") counts \(start.size) entries, more than the \(served.treeSize) the log serves")
            return
        }
        do throws(TileError) {
            result.tally = try start.advanced(to: served, reader: reader)
            result.entriesRead = served.treeSize - start.size
        } catch .ledger(.notConsistent) {
            result.fail(.finding, "fork", "forked: the first \(start.size) entries counted last time are not the served tree's")
        } catch {
            result.fail(error, location: location)
        }
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}

/// What the fleet monitor counted in one log's first `size` entries, kept under `--state-dir`
/// beside the checkpoint (`<name>.tally`) so that the next run reads only the entry bundles
/// added since. Version 1 is exactly these lines, each ending in a newline:
///
///     zdr fleet tally v1
///     origin <origin>
///     size <decimal>
///     root <64 lowercase hex: the root of those entries' tree>
///     receipts <decimal: kind-5 discard receipts>
///     identities <decimal k>
///     <64 lowercase hex>            (k lines: distinct executable SHA-256s of kind-9 records, first seen first)
///
/// Decimals without leading zeros, nothing else; anything else is a ``FleetTallyError``, and
/// the row fails rather than counting again from zero (a damaged file is worth a look).
struct FleetTally: Equatable {
    static let versionLine = "zdr fleet tally v1"
    /// Most bytes a tally file may have (over 16,000 identities).
    static let maximumBytes = 1 << 20

    var origin: String
    var size: UInt64 = 0
    var root: [UInt8] = FleetTally.emptyRoot
    var receipts: UInt64 = 0
    var identities: [[UInt8]] = []

    /// MTH of no leaves, SHA-256 of the empty string (RFC 6962): the root before any entry.
    static let emptyRoot = hexHash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ?? []

    init(origin: String) { self.origin = origin }

    var text: String {
        ([Self.versionLine, "origin \(origin)", "size \(size)", "root \(LedgerCommands.hexBytes(root))",
          "receipts \(receipts)", "identities \(identities.count)"] + identities.map(LedgerCommands.hexBytes))
            .map { $0 + "\n" }.joined()
    }

    /// Parses version 1 strictly; the origin must be `origin`.
    init(parsing text: String, origin: String) throws(FleetTallyError) {
        guard text.hasSuffix("\n") else { throw .malformed(line: 0, "it does not end in a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first == Self.versionLine else { throw .unknownVersion }
        func field(_ number: Int, _ name: String) throws(FleetTallyError) -> String {
            guard number < lines.count, lines[number].hasPrefix(name + " ") else { throw .malformed(line: number + 1, "expected `\(name) …`") }
            return String(lines[number].dropFirst(name.count + 1))
        }
        func decimal(_ number: Int, _ name: String) throws(FleetTallyError) -> UInt64 {
            let digits = try field(number, name)
            guard let value = UInt64(digits), String(value) == digits else { throw .malformed(line: number + 1, "\(name) is not a decimal") }
            return value
        }
        func hash(_ number: Int, _ text: String) throws(FleetTallyError) -> [UInt8] {
            guard let bytes = Self.hexHash(text) else { throw .malformed(line: number + 1, "not 64 lowercase hex digits") }
            return bytes
        }
        guard try field(1, "origin") == origin else { throw .otherOrigin }
        self.origin = origin
        size = try decimal(2, "size")
        root = try hash(3, try field(3, "root"))
        receipts = try decimal(4, "receipts")
        let count = try decimal(5, "identities")
        guard UInt64(lines.count - 6) == count else { throw .malformed(line: 6, "identities \(count) but \(lines.count - 6) lines follow") }
        for number in 6..<lines.count {
            let identity = try hash(number, lines[number])
            guard !identities.contains(identity) else { throw .malformed(line: number + 1, "an identity is listed twice") }
            identities.append(identity)
        }
        guard receipts <= size else { throw .malformed(line: 5, "more receipts than entries") }
    }

    private static func hexHash(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// Counts the entries [size, checkpoint's size) from `reader` into a copy: every one is
    /// checked to be the verified tree's (``TileReader/reduceEntries(from:rootAtStart:to:into:_:)``),
    /// and nothing is counted unless all are.
    func advanced(to checkpoint: SignedCheckpoint, reader: TileReader) throws(TileError) -> FleetTally {
        var next = try reader.reduceEntries(from: size, rootAtStart: root, to: checkpoint, into: self) {
            (tally: inout FleetTally, _: UInt64, entry: [UInt8]) throws(TileError) in
            // The kind byte follows the version byte; only identities need decoding.
            guard entry.count > 2 else { return }
            if entry[1] == LedgerRecordKind.discardReceipt.rawValue {
                tally.receipts += 1
            } else if entry[1] == LedgerRecordKind.softwareIdentity.rawValue {
                let record: LedgerRecord
                do throws(LedgerError) { record = try LedgerRecord(canonicalBytes: entry) } catch { throw .ledger(error) }
                if case .softwareIdentity(let identity) = record.body, !tally.identities.contains(identity.executableSHA256) {
                    tally.identities.append(identity.executableSHA256)
                }
            }
        }
        next.size = checkpoint.treeSize
        next.root = checkpoint.rootHash
        return next
    }
}

/// A tally file that is not version 1 of ``FleetTally``: a failure of its row, never a reset.
enum FleetTallyError: Error, CustomStringConvertible {
    case unknownVersion
    case otherOrigin
    case malformed(line: Int, String)

    var description: String {
        switch self {
        case .unknownVersion: "it is not a `\(FleetTally.versionLine)` file"
        case .otherOrigin: "it is another log's"
        case .malformed(let line, let why): line == 0 ? why : "line \(line): \(why)"
        }
    }
}
