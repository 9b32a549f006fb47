#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ContentVault

/// `zdr selftest`: synthetic requests through the vault, then a scan of this process for residue.
enum SelftestCommand: ZDRCommand {
    static let spec = CommandSpec(
        path: ["selftest"],
        summary: "Run synthetic requests through the vault and scan this process's memory for residue.",
        discussion: "Exit status: 0 no residue and every receipt verified, 1 residue or a verification failure, 2 failure, 64 usage error.",
        options: [
            .value("requests", "N", "Synthetic requests of each kind (default 32)."),
            .value("backend", "auto|secretmem|locked", "Vault memory backend (default auto)."),
            .value("ledger", "PATH", "Append receipts to this ledger file (default: a temporary ledger)."),
            .flag("json", "Print the result as JSON."),
        ]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let requests = try arguments.integer("requests", default: 32, in: 1...100_000)
        let backendName = try arguments.choice("backend", default: "auto", from: ["auto", "secretmem", "locked"])
        let backend: BackendPreference = switch backendName {
        case "secretmem": .secretmem
        case "locked": .locked
        default: .automatic
        }
        let started = Clock.now
        let scanner = NeedleScanner(window: NeedleScanner.preferredWindow)
        guard let canaries = CanarySource(scanner: scanner) else { throw .failure("cannot map a scratch buffer (ENOMEM)") }
        let pool: SecureMemoryPool
        do { pool = try SecureMemoryPool(configuration: .init(backend: backend)) } catch { throw .failure("vault: \(error)") }
        var processed = 0
        for _ in 0..<(requests * 3) {
            for _ in 0..<4 {
                let buffer: LockedBuffer
                do {
                    buffer = try canaries.withCanary(length: 256) { bytes throws(LockedMemoryError) in
                        try pool.ingest(wiping: bytes)
                    }
                } catch { throw .failure("vault: \(error)") }
                processed += buffer.count
                do { try buffer.release() } catch { throw .failure("vault: \(error)") }
            }
        }
        let workDone = Clock.now
        let report: ScanReport
        do {
            report = try ProcessMemoryScanner(scanner: scanner).scan(pid: nil, excluding: [canaries.addressRange])
        } catch { throw .failure(error.message) }
        let scanned = Clock.now
        let stats = pool.statistics
        console.out("backend \(pool.selection), canaries \(canaries.canaryCount), processed \(processed), wiped \(stats.bytesWiped) verified \(stats.bytesVerifiedZero)")
        console.out("scan: \(formatBytes(report.bytesScanned)) scanned, \(formatBytes(report.bytesNotWritten)) not written, \(report.count(.secretmem)) secretmem regions, residue \(report.matches.count)")
        console.out("time: work \(workDone - started), scan \(scanned - workDone)")
        for match in report.matches.prefix(10) {
            console.out("  \(match.region.path) \(match.region.permissions) +\(hex(match.offset)) \(match.length)")
        }
        return report.matches.isEmpty ? .ok : .finding
    }
}

/// Monotonic seconds, for the time a command took (reported, never asserted on in tests).
enum Clock {
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
