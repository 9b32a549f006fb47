#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention

/// `zdr drill`: one real request from standard input, then stay alive for outside inspection.
enum DrillCommand: ZDRCommand {
    /// The most content a drill accepts on standard input.
    static let inputLimit = 16 << 20

    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let product = OptionSpec.value("product", "tts|stt|llm", "Kind of request to simulate (default tts).")
    static let backend = OptionSpec.value("backend", "auto|secretmem|locked", "Vault memory backend (default auto).")
    static let ledger = OptionSpec.value("ledger", "PATH", "Ledger file to append the decision, usage and receipt to.")
    static let signingKey = OptionSpec.value("signing-key", "PATH", "Key that signs the ledger (needed for an existing ledger); default: a fresh key.")
    static let hold = OptionSpec.value("hold", "SECONDS", "Stay alive this long after the discard (default 0).")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["drill"],
        summary: "Read one request's content from stdin into the vault, discard it, record the receipt, then wait.",
        discussion: """
            Standard input is read with read(2) straight into locked vault memory (no heap copy), \
            used, and discarded (wiped, and the wipe read back). The process is hardened like a \
            server (not dumpable, no core file), then stays alive for --hold seconds so that \
            `zdr scan --pid PID` or gcore can look for the content; scanning a hardened process \
            needs root or CAP_SYS_PTRACE. Use --backend locked to make the vault's own pages \
            readable by the scan (secretmem pages are not readable at all).
            Exit status: 0 discarded and recorded, 2 failure, 64 usage error (including empty input).
            """,
        options: [product, backend, ledger, signingKey, hold, json]
    )

    static let workspace = Identifier("zdr-drill")!

    static func model(_ kind: SyntheticKind) -> Identifier { Identifier("drill-\(kind.rawValue)")! }

    /// The data class standard input stands for.
    static func inputClass(_ kind: SyntheticKind) -> DataClass {
        switch kind {
        case .tts: .textInput
        case .stt: .audioInput
        case .llm: .promptMessages
        }
    }

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let kind = SyntheticKind(rawValue: try arguments.choice(Self.product, default: "tts", from: ["tts", "stt", "llm"]))!
        let hold = try arguments.integer(Self.hold, default: 0, in: 0...86_400)
        let backend: BackendPreference = switch try arguments.choice(Self.backend, default: "auto", from: ["auto", "secretmem", "locked"]) {
        case "secretmem": .secretmem
        case "locked": .locked
        default: .automatic
        }
        let dataClass = inputClass(kind)
        // Like a server: not dumpable, no core file, purge on SIGTERM/SIGINT.
        ProcessHardening.apply()
        // Without --ledger the records go to a temporary ledger, removed before the hold: the
        // request still takes the server's path through the audited vault.
        let ledger = try LedgerSession.open(
            path: arguments.value(Self.ledger), signingKeyPath: arguments.value(Self.signingKey), keyName: "zdr-drill",
            registry: IdentifierRegistry(workspaces: [workspace], models: Set(SyntheticKind.allCases.map(model))),
            arguments: arguments)
        defer { ledger.removeTemporary() }
        let vault: Vault
        do {
            vault = try Vault(configuration: .init(backend: backend, reaperInterval: nil))
            try Vault.installTerminationHandlers()
        } catch {
            throw .failure("cannot create the vault: \(error)")
        }
        let audited: AuditedVault
        do {
            audited = AuditedVault(vault: vault, policy: try RetentionPolicy().workspace(workspace.value, zdr: true),
                                   ledger: ledger.ledger)
        } catch {
            throw .failure("cannot build the drill policy: \(error)")
        }

        let admitted: AdmittedRequest
        do {
            admitted = try audited.open(PolicyRequest(
                workspace: workspace, product: kind.product, dataClasses: [dataClass], model: model(kind)))
        } catch {
            throw .failure("the request was not admitted: \(error)")
        }
        let scope = admitted.scope
        let bytes: Int
        let usage: UsageCount
        do {
            bytes = try scope.appendFromFileDescriptor(STDIN_FILENO, to: dataClass, limit: inputLimit, final: true)
            usage = bytes == 0
                ? UsageCount(unit: .bytes, count: 0)
                : try scope.withUnsafePlaintext(of: dataClass) { Self.usage(of: $0, kind: kind) }
        } catch {
            scope.discard(reason: .failed)
            try ledger.finish()
            throw .failure("cannot take the request from standard input: \(error)")
        }
        guard bytes > 0 else {
            scope.discard(reason: .cancelled)
            try ledger.finish()
            throw arguments.usage("standard input is empty: pipe the request content in")
        }
        do {
            try audited.recordUsage(of: admitted, [usage])
        } catch {
            scope.discard(reason: .failed)
            throw .failure("cannot record usage: \(error)")
        }
        // The audited vault's receipt handler appends the receipt to the ledger.
        let receipt = scope.discard(reason: .completed)
        try ledger.finish()
        guard audited.unrecordedReceipts == 0 else {
            throw .failure("the ledger refused the discard receipt")
        }
        ledger.removeTemporary()

        let pid = getpid()
        if arguments.flag(Self.json) {
            console.out(JSON.object([
                ("requestID", .string(scope.id.description)),
                ("pid", .int(Int(pid))),
                ("product", .string(kind.rawValue)),
                ("backend", .string(vault.backend.description)),
                ("aead", .string(LedgerCommands.name(receipt.aead))),
                ("bytesRead", .int(bytes)),
                ("usage", .object([(LedgerCommands.name(usage.unit), .uint(usage.count))])),
                ("receipt", .object([
                    ("reason", .string(LedgerCommands.name(receipt.reason))),
                    ("totalBytesHeld", .uint(receipt.totalBytesHeld)),
                    ("bytesVerifiedZero", .uint(receipt.bytesVerifiedZero)),
                    ("chunksWiped", .uint(receipt.chunksWiped)),
                    ("slotsWiped", .uint(receipt.slotsWiped)),
                    ("keyDestroyed", .bool(receipt.keyDestroyed)),
                ])),
                ("ledger", .optional(ledger.keptPath)),
                ("verifierKey", .optional(ledger.keptPath == nil ? nil : ledger.verifierKey)),
                ("holdSeconds", .int(hold)),
            ]).rendered())
        } else {
            console.out("request \(scope.id)  pid \(pid)  product \(kind.rawValue)  backend \(vault.pool.selection)")
            console.out("content: \(bytes) bytes read into the vault (\(LedgerCommands.name(dataClass))); usage \(LedgerCommands.name(usage.unit))=\(usage.count)")
            console.out("receipt: \(LedgerCommands.summary(.discardReceipt(receipt)))")
            if let kept = ledger.keptPath {
                console.out("ledger:  appended to \(kept); verifier key \(ledger.verifierKey)")
            } else {
                console.out("ledger:  recorded in a temporary ledger, now removed (use --ledger to keep it)")
            }
            if hold > 0 {
                console.out("holding for \(hold) s: zdr scan --pid \(pid) --needle-file FILE")
            }
        }
        holdProcess(seconds: hold)
        return .ok
    }

    /// What the request would be billed for, counted in place (nothing is copied).
    static func usage(of bytes: UnsafeRawBufferPointer, kind: SyntheticKind) -> UsageCount {
        switch kind {
        case .stt:
            return UsageCount(unit: .bytes, count: UInt64(bytes.count))
        case .tts, .llm:
            // Characters: UTF-8 bytes that are not continuation bytes.
            let characters = bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
            return UsageCount(unit: .characters, count: UInt64(characters))
        }
    }

    /// Sleeps `seconds`, resuming after signals that do not end the process. SIGTERM and SIGINT
    /// are unblocked first: a drill inherits its parent's signal mask, and it must stay stoppable.
    static func holdProcess(seconds: Int) {
        guard seconds > 0 else { return }
        var stoppers = sigset_t()
        sigemptyset(&stoppers)
        sigaddset(&stoppers, SIGTERM)
        sigaddset(&stoppers, SIGINT)
        sigprocmask(SIG_UNBLOCK, &stoppers, nil)
        var request = timespec(tv_sec: seconds, tv_nsec: 0)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
