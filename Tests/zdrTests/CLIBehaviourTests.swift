import Foundation
import Testing

/// The CLI contract every subcommand shares: help, version, usage errors, colour.
@Suite("zdr CLI: help, usage errors, exit codes, colour") struct CLIBehaviourTests {
    static let commandPaths: [[String]] = [
        [], ["doctor"], ["selftest"], ["drill"], ["scan"], ["ledger"],
        ["ledger", "keygen"], ["ledger", "verify"], ["ledger", "show"], ["ledger", "export"],
        ["ledger", "prove"], ["ledger", "check-receipt"], ["ledger", "consistency"], ["ledger", "monitor"],
        ["ledger", "tiles"], ["ledger", "witness-request"],
    ]

    @Test("help exits zero and shows usage", arguments: commandPaths)
    func helpExitsZeroAndShowsUsage(path: [String]) throws {
        let run = try ZDR.run(path + ["--help"])
        #expect(run.status == 0)
        #expect(run.out.contains("Usage: " + (["zdr"] + path).joined(separator: " ")))
        #expect(run.out.contains("--help"))
        #expect(run.err.isEmpty)
        // Wrapped for an ordinary terminal.
        let widest = run.out.split(separator: "\n").map(\.count).max() ?? 0
        #expect(widest <= 100, "a help line of \(widest) columns")
    }

    @Test("short help and help subcommand match long help") func shortHelpAndHelpSubcommandMatchLongHelp() throws {
        let long = try ZDR.run(["ledger", "verify", "--help"])
        #expect(try ZDR.run(["ledger", "verify", "-h"]).out == long.out)
        #expect(try ZDR.run(["help", "ledger", "verify"]).out == long.out)
    }

    @Test("version prints version") func versionPrintsVersion() throws {
        let run = try ZDR.run(["--version"])
        #expect(run.status == 0)
        #expect(run.out.hasPrefix("zdr "))
        #expect(run.out.split(separator: "\n").count == 1)
    }

    static let usageErrors: [[String]] = [
        [],
        ["frobnicate"],
        ["--bogus"],
        ["doctor", "--jsn"],
        ["doctor", "extra"],
        ["doctor", "--json=yes"],
        ["doctor", "--memlock-budget", "lots"],
        ["doctor", "--memlock-budget"],
        ["scan"],
        ["scan", "--pid", "1"],
        ["scan", "--needle-file", "/dev/null"],
        ["scan", "--pid", "abc", "--needle-file", "/dev/null"],
        ["scan", "--pid", "0", "--needle-file", "/dev/null"],
        ["scan", "--pid", "1", "--pid", "2", "--needle-file", "/dev/null"],
        ["selftest", "--requests", "0"],
        ["selftest", "--requests", "many"],
        ["selftest", "--backend", "disk"],
        ["drill", "--product", "video"],
        ["drill", "--hold", "-1"],
        ["ledger"],
        ["ledger", "sign"],
        ["ledger", "verify"],
        ["ledger", "verify", "a", "b"],
        ["ledger", "keygen"],
        ["ledger", "prove", "ledger.bin", "--out", "x"],
        ["ledger", "check-receipt", "bundle"],
        ["ledger", "tiles", "ledger.bin"],
        ["ledger", "tiles", "--out", "dir"],
        ["ledger", "prove", "--request", "0123456789abcdef0123456789abcdef", "--key", "a+b"],
        ["ledger", "prove", "ledger.bin", "--tiles", "dir", "--request", "0123456789abcdef0123456789abcdef", "--key", "a+b"],
        ["ledger", "witness-request", "ledger.bin", "--key", "a+b"],
        ["ledger", "witness-request", "ledger.bin", "--key", "a+b", "--witness", "no-url"],
        ["ledger", "check-receipt", "bundle", "--key", "a+b", "--quorum", "1"],
        ["ledger", "monitor", "--state", "s", "--key", "a+b"],
        ["ledger", "monitor", "ledger.bin", "--tiles", "dir", "--state", "s", "--key", "a+b"],
        ["ledger", "monitor", "--tiles", "dir", "--key", "a+b"],
        ["ledger", "monitor", "--tiles", "dir", "--state", "s", "--key", "a+b", "--quorum", "1"],
        ["ledger", "monitor", "ledger.bin", "--state", "s", "--key", "a+b", "--witness", "w+1+AAAA"],
        ["ledger", "monitor", "ledger.bin", "--state", "s", "--key", "a+b", "--state-dir", "d"],
        ["ledger", "monitor", "--fleet", "fleet.txt", "--state", "s"],
        ["ledger", "monitor", "--fleet", "fleet.txt", "--tiles", "dir"],
        ["help", "nothing"],
    ]

    @Test("a usage error exits 64 with a hint", arguments: usageErrors)
    func usageErrorExits64WithHint(arguments: [String]) throws {
        let run = try ZDR.run(arguments)
        #expect(run.status == 64)
        #expect(run.out.isEmpty)
        #expect(run.err.hasPrefix("zdr: error: "))
        #expect(run.err.contains("\nUsage: zdr"))
        #expect(run.err.contains("--help' for usage."))
    }

    @Test("misspelled subcommand gets suggestion") func misspelledSubcommandGetsSuggestion() throws {
        let run = try ZDR.run(["scna"])
        #expect(run.err.contains("did you mean 'scan'?"))
    }

    @Test("no colour when stdout is not a terminal") func noColourWhenStdoutIsNotATerminal() throws {
        let run = try ZDR.run(["doctor"])
        #expect(!run.stdout.contains(0x1B))
    }

    @Test("option value may be inline") func optionValueMayBeInline() throws {
        let inline = try ZDR.run(["doctor", "--json", "--memlock-budget=1K"])
        let object = try inline.json()
        #expect(object["memlockBudget"] as? Int == 1024)
    }
}

/// Colour on a terminal, and only there: `script(1)` gives the child a pseudo-terminal.
@Suite("zdr CLI on a terminal: colour and its opt-outs", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
struct TerminalColourTests {
    static func runOnTerminal(environment: [String: String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", "\(ZDR.executable.path) doctor", "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        env["TERM"] = "xterm"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let files = try StreamFiles(stdin: Data())
        defer { files.remove() }
        process.standardOutput = try FileHandle(forWritingTo: files.output)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return try Data(contentsOf: files.output)
    }

    @Test("colour on a terminal") func colourOnATerminal() throws {
        #expect(try Self.runOnTerminal(environment: [:]).contains(0x1B))
    }

    @Test("no colour when NO_COLOR is set") func noColourWhenNO_COLORIsSet() throws {
        let data = try Self.runOnTerminal(environment: ["NO_COLOR": "1"])
        #expect(!data.isEmpty)
        #expect(!data.contains(0x1B))
    }

    @Test("no colour on a dumb terminal") func noColourOnADumbTerminal() throws {
        #expect(!(try Self.runOnTerminal(environment: ["TERM": "dumb"]).contains(0x1B)))
    }
}
