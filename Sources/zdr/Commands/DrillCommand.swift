#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ContentVault
import RetentionLedger

/// `zdr drill`: one real request from standard input, then stay alive for outside inspection.
enum DrillCommand: ZDRCommand {
    /// The most content a drill accepts on standard input.
    static let inputLimit = 16 << 20

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
        options: [
            .value("product", "tts|stt|llm", "Kind of request to simulate (default tts)."),
            .value("backend", "auto|secretmem|locked", "Vault memory backend (default auto)."),
            .value("ledger", "PATH", "Ledger file to append the receipt to."),
            .value("hold", "SECONDS", "Stay alive this long after the discard (default 0)."),
            .flag("json", "Print the result as JSON."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let kind = SyntheticKind(rawValue: try arguments.choice("product", default: "tts", from: ["tts", "stt", "llm"]))!
        let hold = try arguments.integer("hold", default: 0, in: 0...86_400)
        let backend: BackendPreference = switch try arguments.choice("backend", default: "auto", from: ["auto", "secretmem", "locked"]) {
        case "secretmem": .secretmem
        case "locked": .locked
        default: .automatic
        }
        if arguments.value("ledger") != nil {
            throw .unavailable("--ledger needs the vault's request scopes, which write the receipts")
        }
        ProcessHardening.apply()

        let pool: SecureMemoryPool
        do {
            pool = try SecureMemoryPool(configuration: .init(backend: backend))
        } catch {
            throw .failure("cannot create the vault: \(error)")
        }
        let requestID = RequestID.random()
        let maybeContent: LockedBuffer?
        do {
            maybeContent = try pool.read(fromFileDescriptor: STDIN_FILENO, limit: inputLimit)
        } catch {
            throw .failure("cannot read the request from standard input: \(error)")
        }
        guard let content = maybeContent else {
            throw arguments.usage("standard input is empty: pipe the request content in")
        }
        let bytes = content.count
        let usage = content.withUnsafeBytes { Self.usage(of: $0, kind: kind) }
        do {
            try content.release()
        } catch {
            throw .failure("the discard failed: \(error)")
        }
        let statistics = pool.statistics

        let pid = getpid()
        if arguments.flag("json") {
            console.out(JSON.object([
                ("requestID", .string(requestID.description)),
                ("pid", .int(Int(pid))),
                ("product", .string(kind.rawValue)),
                ("backend", .string(pool.backend.rawValue)),
                ("bytesRead", .int(bytes)),
                ("usage", .object([(LedgerCommands.name(usage.unit), .uint(usage.count))])),
                ("bytesWiped", .uint(statistics.bytesWiped)),
                ("bytesVerifiedZero", .uint(statistics.bytesVerifiedZero)),
                ("receipt", .null),
                ("holdSeconds", .int(hold)),
            ]).rendered())
        } else {
            console.out("request \(requestID)  pid \(pid)  product \(kind.rawValue)  backend \(pool.selection)")
            console.out("content: \(bytes) bytes read into the vault; usage \(LedgerCommands.name(usage.unit))=\(usage.count)")
            console.out("discard: \(statistics.bytesWiped) bytes wiped, \(statistics.bytesVerifiedZero) verified zero")
            console.out("receipt: not recorded (no --ledger)")
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
