#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger

/// `zdr ledger keygen`: a new checkpoint signing key.
enum LedgerKeygenCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["ledger", "keygen"],
        summary: "Create a signing key (mode 0600) and print its verifier key.",
        discussion: """
            The signing key stays with the ledger writer; give auditors the verifier key \
            (printed on standard output) to pin. The key name becomes the ledger's origin.
            Exit status: 0 key written, 2 failure (file exists, permissions), 64 usage error.
            """,
        options: [
            .required("out", "PATH", "Where to write the signing key (mode 0600)."),
            .value("name", "NAME", "Key and ledger origin name, printable ASCII without '+' or spaces (default zdr-ledger)."),
            .value("verifier-out", "PATH", "Also write the verifier key to this file."),
            .flag("force", "Replace an existing key file."),
            .flag("json", "Print the result as JSON."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = try arguments.required("out")
        let name = arguments.value("name") ?? "zdr-ledger"
        let key: SigningKey
        do {
            key = try SigningKey.generate(name: name)
        } catch {
            throw arguments.usage("--name must be 1-255 printable ASCII characters without '+' or spaces")
        }
        do {
            try key.save(to: path, overwrite: arguments.flag("force"))
        } catch {
            if case .io(_, let code) = error, code == EEXIST {
                throw .failure("\(path) exists; pass --force to replace it")
            }
            throw LedgerCommands.cliError(error, path: path)
        }
        let verifier = key.verifierKey
        if let verifierPath = arguments.value("verifier-out") {
            try LedgerCommands.writeFile(verifier + "\n", to: verifierPath, mode: 0o644)
        }
        if arguments.flag("json") {
            console.out(JSON.object([
                ("name", .string(key.name)),
                ("signingKeyPath", .string(path)),
                ("verifierKey", .string(verifier)),
                ("verifierKeyPath", .optional(arguments.value("verifier-out"))),
            ]).rendered())
        } else {
            console.out(verifier)
            console.error("zdr: signing key written to \(path) (mode 0600); the line above is its verifier key")
        }
        return .ok
    }
}
