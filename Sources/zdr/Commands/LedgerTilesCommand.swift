import ZeroRetention
import RetentionLedger

/// `zdr ledger tiles`: publishes the ledger as a C2SP tlog-tiles log, a directory any static
/// file server (or object store, or CDN) can serve.
enum LedgerTilesCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let out = OptionSpec.required("out", "DIR", "The tiles directory (created if needed): serve it as the log's URL prefix.")
    static let key = OptionSpec.value(
        "key", "VKEY", LedgerCommands.keyHelp + " With it the whole ledger is verified first; without it the newest "
            + "checkpoint's key must be known from the rotation chain or from DIR/checkpoint of an earlier run.")

    static let spec = CommandSpec(
        path: ["ledger", "tiles"],
        summary: "Write or update the ledger's C2SP tlog-tiles: checkpoint, hash tiles, entry bundles.",
        discussion: """
            Writes, for the tree size of the newest signed checkpoint, the hash tiles \
            tile/<L>/<N> at every level, the entry bundles tile/entries/<N> (the record bytes), \
            partial tiles .p/<W> for the right edge, and then the checkpoint. Incremental: full \
            tiles already there are checked and left alone (one that differs is refused, never \
            overwritten); partial tiles stay until their full tile exists. Every file is written \
            to a temporary name and renamed. Prints each path written or removed.
            Exit status: 0 written (or nothing to publish yet), 1 the ledger is invalid or DIR holds \
            other tiles, 2 failure, 64 usage error.
            """,
        options: [out, key],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let directory = try arguments.required(Self.out)
        let keyText = try arguments.value(Self.key).map { text throws(CLIError) in try LedgerCommands.verifierKey(text) }
        let report: TileWriteReport
        do throws(TileError) {
            let key: VerifierKey?
            do { key = try keyText.map { text throws(LedgerError) in try VerifierKey(text) } } catch { throw .ledger(error) }
            report = try LedgerTiles.write(ledgerPath: path, to: directory, verifierKey: key)
        } catch .noCheckpoint {
            console.out("ledger \(path): no signed checkpoint yet; nothing to publish")
            return .ok
        } catch .verifierKeyRequired {
            throw arguments.usage("the newest checkpoint's key is not known from the ledger or \(directory)/checkpoint: pass --key")
        } catch {
            throw LedgerCommands.cliError(error, ledger: path, tiles: directory)
        }
        for written in report.written { console.out("wrote \(written)") }
        for removed in report.removed { console.out("removed \(removed)") }
        console.out("tiles \(directory): tree size \(report.treeSize); \(report.written.count) file(s) written, "
                    + "\(report.unchanged) full tile(s) and bundle(s) already there, \(report.removed.count) partial(s) removed")
        return .ok
    }
}
