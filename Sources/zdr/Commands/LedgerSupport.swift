#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger
import VaultSystem

/// `zdr ledger ...`: the subcommands, and what they share (key arguments, error mapping,
/// one-line record summaries). Records hold metadata only, so printing them prints no content.
enum LedgerCommands {
    static var all: [any ZDRCommand.Type] {
        [
            LedgerKeygenCommand.self, LedgerVerifyCommand.self, LedgerShowCommand.self,
            LedgerExportCommand.self, LedgerIndexCommand.self, LedgerProveCommand.self, LedgerCheckReceiptCommand.self,
            LedgerConsistencyCommand.self, LedgerMonitorCommand.self, LedgerTilesCommand.self,
            LedgerWitnessRequestCommand.self,
        ]
    }

    static let keyHelp = "Verifier key: the text name+keyid+base64 that keygen printed, or a file holding it."

    /// The verifier key text from `--key`: the argument itself, or the first line of the file
    /// it names.
    static func verifierKey(_ argument: String) throws(CLIError) -> String {
        if ProcFS.exists(argument) {
            guard let text = ProcFS.readText(argument), !text.isEmpty else {
                throw .failure("cannot read verifier key file \(argument)")
            }
            return String(text.split(separator: "\n").first ?? "")
        }
        guard argument.contains("+") else {
            throw .failure("--key is neither a verifier key (name+keyid+base64) nor a readable file: \(argument.count) characters")
        }
        return argument
    }

    /// A witness's cosigner key from `--witness`: the vkey text, or the first line of the file
    /// it names.
    static func cosignerKey(_ argument: String) throws(CLIError) -> CosignerKey {
        var text = argument
        if ProcFS.exists(argument) {
            guard let contents = ProcFS.readText(argument), !contents.isEmpty else {
                throw .failure("cannot read witness key file \(argument)")
            }
            text = String(contents.split(separator: "\n").first ?? "")
        }
        do {
            return try CosignerKey(text)
        } catch {
            throw .failure("a --witness key is malformed (expected name+keyid+base64 of a cosigner key, type 0x04)")
        }
    }

    /// A request id argument (32 lowercase hex digits).
    static func requestID(_ text: String, arguments: ParsedArguments) throws(CLIError) -> RequestID {
        guard let id = RequestID(text.lowercased()) else {
            throw arguments.usage("--request expects a request id of 32 hex digits")
        }
        return id
    }

    /// Whether `error` is a finding about the ledger or bundle (exit 1) rather than a failure to
    /// run (exit 2).
    static func isVerificationFailure(_ error: LedgerError) -> Bool {
        switch error {
        case .notALedger, .unsupportedVersion, .headerCorrupt, .invalidRecord, .signingKeyMismatch,
             .bundleInvalid, .requestNotFound, .tooLarge, .notConsistent:
            return true
        case .io, .undeclaredIdentifier, .reservedRecordKind, .invalidField, .closed, .keyFilePermissions, .malformedKey:
            return false
        }
    }

    /// The CLI error for a ledger error; `path` names the file for I/O errors.
    static func cliError(_ error: LedgerError, path: String) -> CLIError {
        if case .io(let operation, let code) = error {
            return .failure("cannot \(operation.rawValue) \(path): \(Errno(rawValue: code))")
        }
        if case .malformedKey = error {
            return .failure("the key is malformed (expected name+keyid+base64 for a verifier key)")
        }
        return isVerificationFailure(error) ? .finding("verification failed: \(error)") : .failure("\(error)")
    }

    /// The CLI error for a tiles error: the ledger's own errors as ``cliError(_:path:)``; tiles
    /// that are missing, damaged or of another tree are findings (exit 1), I/O is a failure.
    static func cliError(_ error: TileError, ledger: String?, tiles: String) -> CLIError {
        switch error {
        case .ledger(let inner):
            return cliError(inner, path: ledger ?? tiles + "/checkpoint")
        case .io(let operation, let code, let path):
            return .failure("cannot \(operation.rawValue) \(tiles)/\(path): \(Errno(rawValue: code))")
        case .missing(path: TilePath.checkpoint):
            return .failure("no checkpoint in \(tiles)")
        case .unavailable:
            return .failure("cannot read \(tiles): \(error)")
        case .missing, .wrongSize, .malformedEntryBundle, .invalidCoordinates, .rootMismatch, .entryMismatch,
             .existingTileDiffers, .requestNotFound:
            return .finding("verification failed: \(error)")
        case .noCheckpoint, .verifierKeyRequired:
            return .failure("\(error)")
        }
    }

    /// JSON for a ledger error: a machine-readable kind plus the content-free message.
    static func errorJSON(_ error: LedgerError) -> JSON {
        var members: [(String, JSON)] = [("message", .string(error.description))]
        switch error {
        case .invalidRecord(let index, let offset, let fault):
            members = [("kind", .string("invalidRecord")), ("index", .uint(index)), ("offset", .uint(offset)),
                       ("fault", .string(fault.rawValue))] + members
        case .bundleInvalid(let fault):
            members = [("kind", .string("bundleInvalid")), ("fault", .string(fault.rawValue))] + members
        case .notConsistent(let trustedSize, let currentSize):
            members = [("kind", .string("notConsistent")), ("trustedTreeSize", .uint(trustedSize)),
                       ("ledgerRecords", .uint(currentSize))] + members
        default:
            members = [("kind", .string(snakeCase(String(describing: error).split(separator: "(").first.map(String.init) ?? "")))] + members
        }
        return .object(members)
    }

    /// `2026-11-22T21:03:04.123Z`
    static func isoTime(_ timestamp: Timestamp) -> String {
        let nanoseconds = timestamp.nanosecondsSinceEpoch
        var seconds = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(nanoseconds / 1_000_000 % 1000)
        let millisText = String(repeating: "0", count: 3 - String(millis).count) + String(millis)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millisText)Z"
    }

    /// `textToSpeech` → `text_to_speech`, the spelling the JSON export uses.
    static func snakeCase(_ text: String) -> String {
        var out = ""
        for character in text {
            if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
        }
        return out
    }

    static func name(_ value: some Any) -> String { snakeCase(String(describing: value)) }

    /// A one-line, content-free summary of a record for the table view.
    static func summary(_ body: LedgerRecordBody) -> String {
        switch body {
        case .requestOpened(let r):
            return "\(name(r.product)) model=\(r.model) workspace=\(r.workspace) \(name(r.retentionMode)) classes=\(r.dataClasses.count)"
        case .usage(let r):
            return r.counts.map { "\(name($0.unit))=\($0.count)" }.joined(separator: " ")
        case .upstreamEgress(let r):
            return "provider=\(r.provider) \(name(r.mode)) zdr=\(r.coveredByZeroDataRetention ? "yes" : "no")"
        case .policyDecision(let r):
            let reason = PolicyReason(rawValue: r.reasonCode).map { name($0) } ?? String(r.reasonCode)
            return "\(name(r.outcome)) reason=\(reason) workspace=\(r.workspace)"
        case .discardReceipt(let r):
            return "\(name(r.reason)) backend=\(name(r.backend)) held=\(r.totalBytesHeld) verifiedZero=\(r.bytesVerifiedZero) slots=\(r.slotsWiped) keyDestroyed=\(r.keyDestroyed ? "yes" : "no")\(r.memoryCorruptionDetected ? " MEMORY-CORRUPTION" : "")"
        case .serviceHealth(let r):
            return "opened=\(r.requestsOpened) discarded=\(r.requestsDiscarded) failures=\(r.discardFailures) active=\(r.activeRequests)"
        case .keyRotation(let r):
            return "epoch=\(r.epoch) treeSize=\(r.treeSize)"
        case .checkpoint(let r):
            return "treeSize=\(r.treeSize)"
        case .softwareIdentity(let r):
            return "executable=\(hexBytes(r.executableSHA256)) policy=\(hexBytes(r.policySHA256)) version=\(r.version)"
        case .witnessHealth(let r):
            return "witness=\(keyID(r.witnessKeyID)) \(name(r.outcome))\(r.httpStatus == 0 ? "" : " status=\(r.httpStatus)") checkpoint=\(r.checkpointSize) cosigned=\(r.cosignedSize) failures=\(r.consecutiveFailures)"
        }
    }

    /// Lowercase or uppercase hex digits, two per byte; nil for anything else.
    /// A key ID as signed notes print it: 8 lowercase hex digits.
    static func keyID(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func hexDecode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func hexBytes(_ bytes: [UInt8]) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// Writes `text` to `path` (created with `mode`, replaced if present) through a temporary
    /// file and rename, so a reader never sees half a file.
    static func writeFile(_ text: String, to path: String, mode: mode_t) throws(CLIError) {
        let files = FileSystem.live
        let temporary = path + ".tmp-\(getpid())"
        let fd: Int32
        do { fd = try files.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode) } catch {
            throw .failure("cannot create \(temporary): \(error)")
        }
        do throws(Errno) {
            defer { files.close(fd) }
            try files.writeAll(fd, Array(text.utf8))
            try files.fsync(fd)
        } catch {
            unlink(temporary)
            throw .failure("cannot write \(path): \(error)")
        }
        do { try files.rename(temporary, to: path) } catch {
            unlink(temporary)
            throw .failure("cannot write \(path): \(error)")
        }
    }
}
