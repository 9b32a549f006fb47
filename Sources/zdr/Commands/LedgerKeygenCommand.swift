#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger

/// `zdr ledger keygen`: a new checkpoint signing key.
enum LedgerKeygenCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let out = OptionSpec.required("out", "PATH", "Where to write the signing key (mode 0600).")
    static let name = OptionSpec.value("name", "NAME", "Key and ledger origin name, printable ASCII without '+' or spaces (default zdr-ledger).")
    static let verifierOut = OptionSpec.value("verifier-out", "PATH", "Also write the verifier key to this file.")
    static let force = OptionSpec.flag("force", "Replace an existing key file.")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "keygen"],
        summary: "Create a signing key (mode 0600) and print its verifier key.",
        discussion: """
            The signing key stays with the ledger writer; give auditors the verifier key \
            (printed on standard output) to pin. The key name becomes the ledger's origin.
            Exit status: 0 key written, 2 failure (file exists, permissions), 64 usage error.
            """,
        options: [out, name, verifierOut, force, json]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = try arguments.required(Self.out)
        let name = arguments.value(Self.name) ?? "zdr-ledger"
        let key: SigningKey
        do {
            key = try SigningKey.generate(name: name)
        } catch {
            throw arguments.usage("--name must be 1-255 printable ASCII characters without '+' or spaces")
        }
        do {
            try key.save(to: path, overwrite: arguments.flag(Self.force))
        } catch {
            if case .io(_, let code) = error, code == EEXIST {
                throw .failure("\(path) exists; pass --force to replace it")
            }
            throw LedgerCommands.cliError(error, path: path)
        }
        let verifier = key.verifierKey
        if let verifierPath = arguments.value(Self.verifierOut) {
            try LedgerCommands.writeFile(verifier + "\n", to: verifierPath, mode: 0o644)
        }
        if arguments.flag(Self.json) {
            console.out(JSON.object([
                ("name", .string(key.name)),
                ("signingKeyPath", .string(path)),
                ("verifierKey", .string(verifier)),
                ("verifierKeyPath", .optional(arguments.value(Self.verifierOut))),
            ]).rendered())
        } else {
            console.out(verifier)
            console.error("zdr: signing key written to \(path) (mode 0600); the line above is its verifier key")
        }
        return .ok
    }
}
