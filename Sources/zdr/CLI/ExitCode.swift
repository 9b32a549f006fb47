/// The process exit statuses `zdr` promises (see Docs/Diagnostics.md). Scripts and CI branch on
/// these, so they are stable.
enum ExitCode: Int32, Sendable {
    /// Everything checked out.
    case ok = 0
    /// A finding: residue, a warning-level host problem, a verification failure, a scan match.
    case finding = 1
    /// Unsafe host, or the command could not do its job (I/O error, permission, missing feature).
    case failure = 2
    /// The command line was wrong (BSD `EX_USAGE`).
    case usage = 64
}

/// Why a command stopped. Every message is content-free: paths, counts, errno names, never bytes
/// the command read.
enum CLIError: Error, Sendable {
    /// The command line was wrong. `command` names the (sub)command whose `--help` explains it.
    case usage(String, command: String)
    /// A finding the command reports as its result (a verification failure); exits 1.
    case finding(String)
    /// The command could not do its job; exits 2.
    case failure(String)

    var exitCode: ExitCode {
        switch self {
        case .usage: .usage
        case .finding: .finding
        case .failure: .failure
        }
    }
}
