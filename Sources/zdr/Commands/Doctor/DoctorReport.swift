/// One check's outcome.
struct HostCheck: Sendable {
    enum Status: String, Sendable { case pass, warn, fail }
    let id: String
    let status: Status
    let detail: String
    let fix: String?
}

/// Everything doctor found.
struct DoctorReport: Sendable {
    let kernel: String
    let machine: String
    let memlockBudget: UInt64
    let checks: [HostCheck]

    func count(_ status: HostCheck.Status) -> Int { checks.filter { $0.status == status }.count }

    var exitCode: ExitCode {
        if count(.fail) > 0 { return .failure }
        if count(.warn) > 0 { return .finding }
        return .ok
    }

    var verdict: String {
        switch exitCode {
        case .ok: "ready"
        case .finding: "degraded"
        default: "unsafe"
        }
    }

    var json: JSON {
        .object([
            ("zdr", .string(CLI.version)),
            ("kernel", .string(kernel)),
            ("machine", .string(machine)),
            ("memlockBudget", .uint(memlockBudget)),
            ("status", .string(verdict)),
            ("exitCode", .int(Int(exitCode.rawValue))),
            ("checks", .array(checks.map { check in
                .object([
                    ("id", .string(check.id)),
                    ("status", .string(check.status.rawValue)),
                    ("detail", .string(check.detail)),
                    ("fix", .optional(check.fix)),
                ])
            })),
        ])
    }
}
