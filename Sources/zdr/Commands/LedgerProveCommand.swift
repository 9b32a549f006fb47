import ZeroRetention
import RetentionLedger

/// `zdr ledger prove`: the receipt bundle for one request, for the customer or an auditor.
enum LedgerProveCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let request = OptionSpec.required("request", "ID", "The request id (32 hex digits).")
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let out = OptionSpec.value("out", "PATH", "Write the bundle here instead of standard output.")
    static let tiles = OptionSpec.value(
        "tiles", "DIR|URL",
        "Build the bundle from a C2SP tlog-tiles log (zdr ledger tiles), a directory or an http(s) URL prefix, instead of a ledger file.")
    static let cosigned = OptionSpec.value(
        "cosigned", "FILE",
        "A cosigned checkpoint note (zdr ledger witness-request --out): the bundle carries its cosignatures. It must be the checkpoint covering the receipt.")

    static let spec = CommandSpec(
        path: ["ledger", "prove"],
        summary: "Write the receipt bundle proving one request's discard.",
        discussion: """
            The bundle holds the discard receipt, its inclusion proof and a signed checkpoint \
            covering it; `zdr ledger check-receipt` (or any RFC 6962 and signed-note code) checks \
            it offline with only the verifier key. The ledger is verified first, unless its \
            index (`zdr ledger index`, LEDGER.index/) is beside it: then the bundle is built from \
            the index in a few reads and checked against the ledger's signed checkpoint, and an \
            index that does not check out is ignored. With --tiles \
            instead of LEDGER (a directory, or a URL prefix any static web server, object store or \
            CDN serves), the bundle comes from the tiles alone: the checkpoint is verified \
            (following the key chain in the entries), every entry bundle is read and must hash to \
            its root, and the inclusion proof is built from the hash tiles.
            Exit status: 0 written, 1 no checkpointed receipt for the request or the ledger (or \
            tiles) invalid, 2 failure, 64 usage error.
            """,
        options: [request, key, out, tiles, cosigned],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file (or pass --tiles).", isOptional: true)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let tilesDirectory = arguments.value(Self.tiles)
        guard (arguments.positional(0) == nil) != (tilesDirectory == nil) else {
            throw arguments.usage("pass either a LEDGER file or --tiles DIR|URL")
        }
        let request = try LedgerCommands.requestID(try arguments.required(Self.request), arguments: arguments)
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        var bundle: ReceiptBundle
        if let tilesDirectory {
            do throws(TileError) {
                let verifier: VerifierKey
                do { verifier = try VerifierKey(key) } catch { throw .ledger(error) }
                let reader = HTTPTileFetch.isURL(tilesDirectory)
                    ? HTTPTileFetch.reader(prefix: tilesDirectory, verifierKey: verifier)
                    : TileReader(directory: tilesDirectory, verifierKey: verifier)
                bundle = try reader.receiptBundle(request: request)
            } catch .requestNotFound {
                throw .finding("no discard receipt for request \(request) under the tiles' checkpoint")
            } catch {
                throw LedgerCommands.cliError(error, ledger: nil, tiles: tilesDirectory)
            }
        } else {
            let path = arguments.positional(0)!
            do {
                bundle = try LedgerVerifier.receiptBundle(path: path, request: request, verifierKey: key)
            } catch {
                if case .requestNotFound = error {
                    throw .finding("no discard receipt covered by a signed checkpoint for request \(request)")
                }
                throw LedgerCommands.cliError(error, path: path)
            }
        }
        if let cosignedPath = arguments.value(Self.cosigned) {
            guard case .success(let bytes) = ProcFS.readBytes(cosignedPath, limit: 64 * 1024) else {
                throw .failure("cannot read cosigned checkpoint \(cosignedPath)")
            }
            let note = String(decoding: bytes, as: UTF8.self)
            // The ledger's own note, then signature lines only (check-receipt admits cosignatures).
            guard note.hasPrefix(bundle.checkpoint) else {
                throw .finding("\(cosignedPath) is not the checkpoint covering the receipt (size \(bundle.treeSize)): ask the witnesses again after this checkpoint")
            }
            bundle.checkpoint = note
        }
        if let out = arguments.value(Self.out) {
            try LedgerCommands.writeFile(bundle.json + "\n", to: out, mode: 0o644)
            console.error("zdr: receipt bundle for \(request) written to \(out) (leaf \(bundle.leafIndex) of \(bundle.treeSize))")
        } else {
            console.out(bundle.json)
        }
        return .ok
    }
}
