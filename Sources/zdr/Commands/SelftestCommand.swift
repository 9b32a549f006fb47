#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention

/// `zdr selftest`: synthetic requests through the vault, then a scan of this process for residue.
enum SelftestCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let requests = OptionSpec.value("requests", "N", "Synthetic requests of each kind (default 32).")
    static let backend = OptionSpec.value("backend", "auto|secretmem|locked", "Vault memory backend (default auto).")
    static let ledger = OptionSpec.value("ledger", "PATH", "Write the ledger here and keep it (default: a temporary ledger, removed).")
    static let signingKey = OptionSpec.value("signing-key", "PATH", "Sign with this key (from `zdr ledger keygen`); default: a fresh key.")
    static let positiveControl = OptionSpec.flag("positive-control", "Leave one copy of content in the heap to prove the scan finds it.")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["selftest"],
        summary: "Run synthetic requests through the vault and scan this process's memory for residue.",
        discussion: """
            Runs N requests of each kind (TTS sync, STT streaming, LLM with tool calls) with \
            random content, discards them, then scans every readable mapping of this process for \
            any 256-byte stretch of that content (the scanner holds only keyed digests). \
            memfd_secret regions cannot be read by the scan; the vault verifies their wipe itself. \
            --positive-control deliberately leaves one copy in the ordinary heap to show that the \
            scan finds residue (the run then exits 1).
            Exit status: 0 no residue and every check passed, 1 residue or a verification \
            failure, 2 failure (the vault could not start), 64 usage error.
            """,
        options: [requests, backend, ledger, signingKey, positiveControl, json]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let requests = try arguments.integer(Self.requests, default: 32, in: 1...100_000)
        let backend: BackendPreference = switch try arguments.choice(Self.backend, default: "auto", from: ["auto", "secretmem", "locked"]) {
        case "secretmem": .secretmem
        case "locked": .locked
        default: .automatic
        }
        let positiveControl = arguments.flag(Self.positiveControl)
        let report = try Selftest(
            requestsPerKind: requests, backend: backend, positiveControl: positiveControl,
            ledgerPath: arguments.value(Self.ledger), signingKeyPath: arguments.value(Self.signingKey)
        ).run(arguments: arguments)
        if arguments.flag(Self.json) {
            console.out(report.json.rendered())
        } else {
            render(report, console: console)
        }
        return report.exitCode
    }

    static func render(_ report: SelftestReport, console: Console) {
        let kinds = SyntheticKind.allCases.map { "\($0.rawValue) \(report.counters.requests[$0, default: 0])" }
        console.out("zdr selftest: backend \(report.backend)")
        console.out("requests:  \(report.totalRequests) (\(kinds.joined(separator: ", ")))")
        console.out("content:   \(report.pieces) pieces, \(formatBytes(UInt64(report.pieceBytes))) through the vault, \(report.needles) needles")
        let counters = report.counters
        console.out("discarded: \(formatBytes(counters.bytesHeld)) held, \(formatBytes(counters.bytesVerifiedZero)) verified zero, \(counters.chunksWiped) chunks, keys destroyed \(counters.keysDestroyed)/\(report.totalRequests)")
        console.out("pool:      \(formatBytes(counters.bytesWiped)) wiped, \(formatBytes(counters.poolBytesVerifiedZero)) verified zero, quarantined slots \(counters.quarantinedSlots), open scopes \(counters.openScopes)")
        var scanLine = "scanned:   \(formatBytes(report.scan.bytesScanned)) in \(report.scan.count(.scanned)) regions"
        if report.scan.count(.secretmem) > 0 {
            scanLine += "; \(report.scan.count(.secretmem)) secretmem region(s), \(formatBytes(report.scan.bytesSecretMemory)), unreadable by design"
        }
        console.out(scanLine)
        let audit = report.audit
        console.out("ledger:    \(audit.ledgerValid ? "valid" : "INVALID"), \(audit.records) records, \(audit.checkpoints) checkpoint(s); receipts verified \(audit.receiptsVerified)/\(audit.receiptsChecked)")
        if let error = audit.ledgerError { console.out("  " + console.paint(error, .red)) }
        for (request, problem) in audit.problems { console.out("  request \(request): " + console.paint(problem.description, .red)) }
        if let path = report.keptLedger { console.out("           kept at \(path); verifier key \(report.verifierKey)") }
        let residueText = report.residueMatches == 0
            ? console.paint("0", .green)
            : console.paint("\(report.residueMatches) match(es), \(report.scan.bytesMatched) bytes", .red)
        console.out("residue:   \(residueText)\(report.positiveControl ? " (positive control: one copy planted in the heap)" : "")")
        for match in report.scan.matches.prefix(10) {
            console.out("  \(match.region.path.isEmpty ? "[anonymous]" : match.region.path) \(match.region.permissions) offset \(hex(match.offset)), \(match.length) bytes")
        }
        let time = report.seconds
        console.out("time:      \(seconds(time.total)) (requests \(seconds(time.requests)), scan \(seconds(time.scan)), ledger \(seconds(time.ledger)))")
        let verdict = report.exitCode == .ok ? console.paint("PASS", .green) : console.paint("FAIL", .red)
        console.out("result:    \(verdict)")
    }
}

/// `1.23 s`
func seconds(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) s"
}

/// One selftest run.
struct Selftest {
    let requestsPerKind: Int
    let backend: BackendPreference
    let positiveControl: Bool
    let ledgerPath: String?
    let signingKeyPath: String?

    func run(arguments: ParsedArguments) throws(CLIError) -> SelftestReport {
        let start = Clock.now
        let window = NeedleScanner.preferredWindow
        let windowsPerRound = SyntheticKind.allCases.flatMap(\.pieces)
            .reduce(0) { $0 + CanarySource.windows(forPieceOf: $1.length, window: window) }
        guard let scanner = NeedleScanner(window: window, expectedWindows: windowsPerRound * requestsPerKind),
              let canaries = CanarySource(scanner: scanner)
        else { throw .failure("cannot map the scanner's tables (ENOMEM)") }
        let ledger = try LedgerSession.open(
            path: ledgerPath, signingKeyPath: signingKeyPath, keyName: "zdr-selftest",
            registry: SelftestEngine.registry, arguments: arguments)
        defer { ledger.removeTemporary() }
        let engine = try SelftestEngine(backend: backend, canaries: canaries, ledger: ledger)
        defer { engine.releasePlantedResidue() }
        for index in 0..<requestsPerKind {
            for kind in SyntheticKind.allCases {
                try engine.runRequest(kind, plantResidue: positiveControl && index == 0 && kind == .tts)
            }
        }
        engine.finish()
        let bundles = try ledger.finish(bundlesFor: engine.requestIDs)
        let requestsDone = Clock.now
        guard canaries.unregisteredNeedles == 0 else {
            throw .failure("the scanner could not hold \(canaries.unregisteredNeedles) needles (ENOMEM); residue could go unseen")
        }

        // The vault stays alive through the scan: its wiped slots are part of what is scanned.
        let scan: ScanReport
        do {
            scan = try ProcessMemoryScanner(scanner: scanner).scan(pid: nil, excluding: [canaries.addressRange])
        } catch {
            throw .failure(error.message)
        }
        let scanDone = Clock.now

        let audit = LedgerAudit.run(path: ledger.path, verifierKey: ledger.verifierKey, bundles: bundles)
        let auditDone = Clock.now
        withExtendedLifetime(engine) {}

        return SelftestReport(
            backend: engine.backendDescription, backendName: engine.backendName, counters: engine.counters,
            pieces: canaries.pieceCount, pieceBytes: canaries.pieceBytes, needles: scanner.needleCount, scan: scan,
            audit: audit, keptLedger: ledger.keptPath, verifierKey: ledger.verifierKey, positiveControl: positiveControl,
            seconds: .init(requests: requestsDone - start, scan: scanDone - requestsDone, ledger: auditDone - scanDone,
                           total: auditDone - start))
    }
}

/// What a selftest found.
struct SelftestReport: Sendable {
    struct Seconds: Sendable { let requests, scan, ledger, total: Double }

    let backend: String
    let backendName: String
    let counters: SelftestEngine.Counters
    let pieces: Int
    let pieceBytes: Int
    let needles: Int
    let scan: ScanReport
    let audit: LedgerAudit
    let keptLedger: String?
    let verifierKey: String
    let positiveControl: Bool
    let seconds: Seconds

    var totalRequests: Int { counters.requests.values.reduce(0, +) }
    var residueMatches: Int { scan.matches.count }

    /// Residue, a failed audit, a key not destroyed, a quarantined slot, an unverified wipe or a
    /// scope left open is a finding.
    var exitCode: ExitCode {
        if residueMatches > 0 || !audit.passed { return .finding }
        if counters.keysDestroyed < totalRequests || counters.bytesVerifiedZero < counters.bytesHeld { return .finding }
        if counters.quarantinedSlots > 0 || counters.poolBytesVerifiedZero < counters.bytesWiped { return .finding }
        if counters.openScopes > 0 || counters.unrecordedReceipts > 0 { return .finding }
        return .ok
    }

    var result: String {
        if residueMatches > 0 { return "residue" }
        return exitCode == .ok ? "pass" : "verification-failed"
    }

    var json: JSON {
        .object([
            ("zdr", .string(CLI.version)),
            ("result", .string(result)),
            ("exitCode", .int(Int(exitCode.rawValue))),
            ("backend", .string(backendName)),
            ("backendDetail", .string(backend)),
            ("requests", .object(SyntheticKind.allCases.map { ($0.rawValue, .int(counters.requests[$0, default: 0])) }
                + [("total", .int(totalRequests))])),
            ("content", .object([("pieces", .int(pieces)), ("bytes", .int(pieceBytes)), ("needles", .int(needles))])),
            ("vault", .object([
                ("bytesIn", .uint(counters.bytesIn)),
                ("bytesHeld", .uint(counters.bytesHeld)),
                ("bytesVerifiedZero", .uint(counters.bytesVerifiedZero)),
                ("chunksWiped", .uint(counters.chunksWiped)),
                ("keysDestroyed", .int(counters.keysDestroyed)),
                ("poolBytesWiped", .uint(counters.bytesWiped)),
                ("poolBytesVerifiedZero", .uint(counters.poolBytesVerifiedZero)),
                ("quarantinedSlots", .int(counters.quarantinedSlots)),
                ("openScopes", .int(counters.openScopes)),
                ("unrecordedReceipts", .int(counters.unrecordedReceipts)),
            ])),
            ("scan", .object([
                ("regionsScanned", .int(scan.count(.scanned))),
                ("regionsUnreadable", .int(scan.count(.unreadable))),
                ("regionsSecretmem", .int(scan.count(.secretmem))),
                ("bytesScanned", .uint(scan.bytesScanned)),
                ("bytesNotWritten", .uint(scan.bytesNotWritten)),
                ("bytesSecretMemory", .uint(scan.bytesSecretMemory)),
            ])),
            ("residue", .object([
                ("matches", .int(residueMatches)),
                ("bytes", .int(scan.bytesMatched)),
                ("locations", .array(scan.matches.prefix(10).map { match in
                    .object([
                        ("path", .string(match.region.path)),
                        ("permissions", .string(match.region.permissions)),
                        ("offset", .uint(match.offset)),
                        ("length", .int(match.length)),
                    ])
                })),
            ])),
            ("positiveControl", .bool(positiveControl)),
            ("ledger", audit.json),
            ("ledgerPath", .optional(keptLedger)),
            ("verifierKey", .string(verifierKey)),
            ("seconds", .object([
                ("requests", .double(seconds.requests)), ("scan", .double(seconds.scan)),
                ("ledger", .double(seconds.ledger)), ("total", .double(seconds.total)),
            ])),
        ])
    }
}
