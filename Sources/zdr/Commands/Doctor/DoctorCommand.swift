import ZeroRetention

/// `zdr doctor`: checks this host for what the vault needs and says how to fix what is missing.
enum DoctorCommand: ZDRCommand {
    /// The mlock budget doctor compares RLIMIT_MEMLOCK with when `--memlock-budget` is not given:
    /// the pool budget the vault uses when locking is not limited.
    static let defaultMemlockBudget = UInt64(MemoryLimits.unlimitedDefaultBudget)

    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let memlockBudget = OptionSpec.value("memlock-budget", "BYTES", "Locked memory the vault is configured to use (default 64M).")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["doctor"],
        summary: "Check this host for what zero data retention needs (pass/warn/fail with a fix each).",
        discussion: """
            Checks: memfd_secret, RLIMIT_MEMLOCK against the vault's budget, core dumps, swap and \
            its encryption, transparent huge pages, ptrace restrictions (Yama), the dumpable \
            flag, and the kernel version.
            Exit status: 0 ready, 1 degraded (a warning), 2 unsafe (a failure), 64 usage error.
            """,
        options: [memlockBudget, json]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let budget = try arguments.byteSize(Self.memlockBudget, default: defaultMemlockBudget)
        let report = HostDoctor(memlockBudget: budget).run()
        if arguments.flag(Self.json) {
            console.out(report.json.rendered())
        } else {
            render(report, console: console)
        }
        return report.exitCode
    }

    private static func render(_ report: DoctorReport, console: Console) {
        console.out("zdr doctor: kernel \(report.kernel) (\(report.machine))")
        let width = report.checks.map(\.id.count).max() ?? 0
        for check in report.checks {
            let label: String
            switch check.status {
            case .pass: label = console.paint("PASS", .green)
            case .warn: label = console.paint("WARN", .yellow)
            case .fail: label = console.paint("FAIL", .red)
            }
            console.out("\(label)  \(check.id.padding(toLength: width))  \(check.detail)")
            if let fix = check.fix {
                console.out("      \(String(repeating: " ", count: width))  " + console.paint("fix: \(fix)", .dim))
            }
        }
        let verdict: String
        switch report.exitCode {
        case .ok: verdict = console.paint("ready", .green)
        case .finding: verdict = console.paint("degraded", .yellow)
        default: verdict = console.paint("unsafe", .red)
        }
        console.out("result: \(verdict) (\(report.count(.pass)) pass, \(report.count(.warn)) warn, \(report.count(.fail)) fail)")
    }
}
