#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `zdr scan`: looks for needles in another process's memory and reports where, never what.
enum ScanCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let pid = OptionSpec.required("pid", "PID", "Process to scan.")
    static let needleFile = OptionSpec.value("needle-file", "PATH", "File holding the needle (8 bytes to 1 MiB).")
    static let needles = OptionSpec.value(
        "needles", "PATH", "File with many needles, one per line (each 8 bytes to 1 MiB), all looked for in one pass.")
    static let keepNewline = OptionSpec.flag("keep-newline", "Treat a trailing newline in the needle file as part of the needle.")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["scan"],
        summary: "Scan another process's readable memory for needles; report region and offset, never bytes.",
        discussion: """
            Reads /proc/PID/maps and /proc/PID/mem (needs ptrace access to PID). The needle is held \
            only as keyed digests of its 32-byte windows (or of the whole needle when shorter), so \
            fragments of at least that length are found too. memfd_secret regions cannot be read \
            and are reported as unreadable, not clean. One trailing newline in the needle file is \
            ignored unless --keep-newline is given. Give exactly one of --needle-file and --needles; \
            with --needles (a residue test's canaries, say) the result also says how many different \
            needles were found.
            Exit status: 0 no match, 1 a match, 2 failure (no such process, permission), 64 usage error.
            """,
        options: [pid, needleFile, needles, keepNewline, json]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let pid = try arguments.parseInteger(try arguments.required(Self.pid), option: Self.pid, in: 1...Int(Int32.max))
        let single = arguments.value(Self.needleFile)
        let list = arguments.value(Self.needles)
        guard (single == nil) != (list == nil) else {
            throw arguments.usage("give exactly one of --needle-file and --needles")
        }
        let report: ScanReport
        do {
            let scanner: NeedleScanner
            if let single {
                scanner = try loadScanner(path: single, keepNewline: arguments.flag(Self.keepNewline))
            } else {
                scanner = try loadListScanner(path: list!)
            }
            report = try ProcessMemoryScanner(scanner: scanner).scan(pid: Int32(pid))
        } catch {
            throw .failure(error.message)
        }
        if arguments.flag(Self.json) {
            console.out(report.json.rendered())
        } else {
            render(report, console: console)
        }
        return report.matches.isEmpty ? .ok : .finding
    }

    /// Hashes the needle file's windows, then wipes the bytes (the scratch buffer's deinit).
    static func loadScanner(path: String, keepNewline: Bool) throws(ScanError) -> NeedleScanner {
        let (buffer, length) = try NeedleFile.read(path, keepNewline: keepNewline)
        defer { buffer.wipe() }
        guard let scanner = NeedleScanner(window: NeedleFile.window(forShortest: length), expectedWindows: length),
              buffer.withBytes(0..<length, { scanner.add(needle: $0) }) != nil
        else { throw .outOfMemory }
        return scanner
    }

    /// Hashes every needle of a `--needles` file, then wipes the file's bytes.
    static func loadListScanner(path: String) throws(ScanError) -> NeedleScanner {
        let (buffer, ranges) = try NeedleFile.readList(path)
        defer { buffer.wipe() }
        let shortest = ranges.map(\.count).min() ?? NeedleScanner.minimumWindow
        guard let scanner = NeedleScanner(window: NeedleFile.window(forShortest: shortest), expectedWindows: ranges.reduce(0) { $0 + $1.count }) else {
            throw .outOfMemory
        }
        for range in ranges {
            guard buffer.withBytes(range, { scanner.add(needle: $0) }) != nil else { throw .outOfMemory }
        }
        return scanner
    }

    static func render(_ report: ScanReport, console: Console) {
        let name = ProcFS.readText("/proc/\(report.pid)/comm").map { " (\($0))" } ?? ""
        let needles = report.needleLengths.count == 1
            ? "needle \(report.needleLengths[0]) bytes"
            : "\(report.needleLengths.count) needles, \(report.needleLengths.min() ?? 0) to \(report.needleLengths.max() ?? 0) bytes"
        console.out("zdr scan: pid \(report.pid)\(name), \(needles), window \(report.window) bytes")
        console.out("regions: \(report.count(.scanned)) scanned, \(report.count(.unreadable)) unreadable, \(report.count(.secretmem)) secretmem (unreadable, not checked), \(report.count(.skipped)) skipped")
        var bytesLine = "bytes: \(formatBytes(report.bytesScanned)) scanned"
        if report.bytesUnreadable > 0 { bytesLine += ", \(formatBytes(report.bytesUnreadable)) unreadable" }
        if report.bytesNotWritten > 0 { bytesLine += ", \(formatBytes(report.bytesNotWritten)) never written (not read)" }
        if report.bytesSecretMemory > 0 { bytesLine += ", \(formatBytes(report.bytesSecretMemory)) secret memory not checked" }
        console.out(bytesLine)
        if !report.matches.isEmpty {
            console.table(
                ["REGION", "PERMS", "PATH", "OFFSET", "BYTES", "NEEDLE BYTES"],
                report.matches.map { match in
                    let needleLength = match.needle < report.needleLengths.count ? report.needleLengths[match.needle] : 0
                    return [
                        "\(hex(match.region.start))-\(hex(match.region.end))",
                        match.region.permissions,
                        match.region.path.isEmpty ? "[anonymous]" : match.region.path,
                        hex(match.offset),
                        "\(match.length)",
                        "\(match.needleOffset)..<\(match.needleOffset + match.length) of \(needleLength)",
                    ]
                })
        }
        if report.matches.isEmpty {
            let caveat = report.count(.secretmem) > 0 ? " in readable memory (secret memory was not checked)" : ""
            console.out("result: " + console.paint("no match", .green) + caveat)
        } else {
            let found = report.needleLengths.count > 1 ? ", \(report.needlesFound) of \(report.needleLengths.count) needles found" : ""
            console.out("result: " + console.paint("\(report.matches.count) match(es), \(report.bytesMatched) bytes\(found)", .red))
        }
    }
}
