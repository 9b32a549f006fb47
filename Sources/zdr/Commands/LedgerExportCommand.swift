import ZeroRetention
import RetentionLedger
import VaultSystem
#if canImport(Glibc)
import Glibc
#endif

/// `zdr ledger export`: JSON Lines for log shippers and SIEMs.
enum LedgerExportCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let out = OptionSpec.value("out", "PATH", "Write to this file (mode 0600) instead of standard output.")

    static let spec = CommandSpec(
        path: ["ledger", "export"],
        summary: "Export ledger records as JSON Lines.",
        discussion: """
            One JSON object per record, in ledger order. Every value is a number, an enum name, a \
            declared identifier, hex or base64: no field can hold free text.
            Exit status: 0 exported, 1 the file is damaged, 2 failure, 64 usage error.
            """,
        options: [out],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let files = FileSystem.live
        let out = arguments.value(Self.out)
        // Streamed: lines are written in 64 KiB batches as the ledger is read, never held whole.
        let fd: Int32
        let temporary = out.map { $0 + ".tmp-\(getpid())" }
        if let temporary {
            do { fd = try files.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600) } catch {
                throw .failure("cannot create \(temporary): \(error)")
            }
        } else {
            fd = STDOUT_FILENO
        }
        var batch = ""
        /// Writes the batch out; a failure is the ledger error the export reports.
        func drain() throws(LedgerError) {
            do { try files.writeAll(fd, Array(batch.utf8)) } catch { throw .io(.write, errno: error.rawValue) }
            batch.removeAll(keepingCapacity: true)
        }
        var failure: CLIError?
        do throws(LedgerError) {
            try LedgerVerifier.exportJSONLines(path: path) { (line) throws(LedgerError) in
                batch += line
                if batch.utf8.count >= 64 << 10 { try drain() }
            }
            try drain()
            if out != nil {
                do { try files.fsync(fd) } catch { throw .io(.sync, errno: error.rawValue) }
            }
        } catch {
            failure = LedgerCommands.cliError(error, path: path)
        }
        if let out, let temporary {
            files.close(fd)
            if failure == nil {
                do { try files.rename(temporary, to: out) } catch { failure = .failure("cannot write \(out): \(error)") }
            }
            if failure != nil { unlink(temporary) }
        }
        if let failure { throw failure }
        return .ok
    }
}
