import Foundation
import ZeroRetention

/// The command line: `inference-server [--host H] [--port N] [--policy FILE] [--ledger FILE]
/// [--signing-key FILE] [--data DIR] [--budget-mib N] [--plain-routes]`.
struct ServerConfiguration {
    var host = "127.0.0.1"
    var port = 8080
    var policyPath: String?
    var dataDirectory = "inference-server-data"
    var ledgerPath: String?
    var signingKeyPath: String?
    var budgetMiB = 256
    /// Also serve `/plain/…`: the same engines without the vault, for the throughput comparison.
    var plainRoutes = false

    /// The reference server's version, recorded in the ledger's software-identity records.
    static let version = SoftwareVersion(major: 0, minor: 1, patch: 0)

    var ledger: String { ledgerPath ?? dataDirectory + "/ledger.zdr" }
    var signingKey: String { signingKeyPath ?? dataDirectory + "/ledger.key" }

    static let usage = """
        usage: inference-server [--host ADDRESS] [--port N] [--policy FILE] [--ledger FILE]
                                [--signing-key FILE] [--data DIR] [--budget-mib N] [--plain-routes]
          --host         address to listen on (default 127.0.0.1)
          --port         port (default 8080; 0 picks a free one, printed at start)
          --policy       retention policy JSON (default: the embedded demo policy)
          --ledger       ledger file (default DIR/ledger.zdr)
          --signing-key  ledger signing key, mode 0600 (default DIR/ledger.key, generated if absent)
          --data         folder for the defaults (default ./inference-server-data)
          --budget-mib   locked memory for content (default 256)
          --plain-routes also serve /plain/v1/…: the same engines without the vault (benchmarks only)
        """

    /// Parses `arguments` (without the program name); `nil` after printing usage.
    init?(arguments: [String]) {
        var rest = arguments[...]
        func value(_ flag: String) -> String? {
            guard let next = rest.popFirst() else {
                FileHandle.standardError.write(Data("inference-server: \(flag) needs a value\n".utf8))
                return nil
            }
            return next
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--host": guard let v = value(flag) else { return nil }; host = v
            case "--port": guard let v = value(flag), let n = Int(v), (0...65535).contains(n) else { return nil }; port = n
            case "--policy": guard let v = value(flag) else { return nil }; policyPath = v
            case "--ledger": guard let v = value(flag) else { return nil }; ledgerPath = v
            case "--signing-key": guard let v = value(flag) else { return nil }; signingKeyPath = v
            case "--data": guard let v = value(flag) else { return nil }; dataDirectory = v
            case "--budget-mib": guard let v = value(flag), let n = Int(v), n > 0 else { return nil }; budgetMiB = n
            case "--plain-routes": plainRoutes = true
            case "--help", "-h":
                print(Self.usage)
                return nil
            default:
                FileHandle.standardError.write(Data("inference-server: unknown option (see --help)\n".utf8))
                return nil
            }
        }
    }
}
