#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Runs the built `zdr` executable as a subprocess, the way an operator would.
struct ZDRRun {
    let status: Int32
    let stdout: Data
    let stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }

    /// Parses stdout as a JSON object.
    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: stdout)
        return try #require(object as? [String: Any])
    }

    /// True when `needle` appears anywhere in what the CLI wrote.
    func wrote(_ needle: some StringProtocol) -> Bool {
        let bytes = Data(needle.utf8)
        return stdout.range(of: bytes) != nil || stderr.range(of: bytes) != nil
    }
}

enum ZDR {
    /// The `zdr` binary SwiftPM built next to the test bundle.
    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // The bundle may be a directory (`*.xctest/...`): walk up until `zdr` is beside us.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("zdr")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return testBinary.deletingLastPathComponent().appendingPathComponent("zdr")
    }()

    /// Runs `zdr arguments...` to completion, feeding `stdin` when given.
    ///
    /// Standard streams go through temporary files, not pipes: tests run in parallel and a
    /// child spawned meanwhile can inherit a pipe's write end, which would hold off EOF.
    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> ZDRRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let files = try StreamFiles(stdin: stdin ?? Data())
        defer { files.remove() }
        process.standardInput = try FileHandle(forReadingFrom: files.input)
        process.standardOutput = try FileHandle(forWritingTo: files.output)
        process.standardError = try FileHandle(forWritingTo: files.error)
        try process.run()
        process.waitUntilExit()
        return ZDRRun(status: process.terminationStatus, stdout: try Data(contentsOf: files.output),
                      stderr: try Data(contentsOf: files.error))
    }
}

/// Three temporary files standing in for a child's standard streams.
struct StreamFiles {
    let input: URL, output: URL, error: URL

    init(stdin: Data) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-io-\(UUID().uuidString)")
        input = base.appendingPathExtension("in")
        output = base.appendingPathExtension("out")
        error = base.appendingPathExtension("err")
        try stdin.write(to: input)
        try Data().write(to: output)
        try Data().write(to: error)
    }

    func remove() {
        for url in [input, output, error] { try? FileManager.default.removeItem(at: url) }
    }
}

/// A `/bin/sh` child that reads one line from its stdin into a shell variable (its heap) and then
/// blocks until stdin closes: a process holding a known canary for `zdr scan` to find.
final class CanaryHolder {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(holding line: String?) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "read -r HELD; echo ready; read -r REST"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(((line ?? "nothing-here") + "\n").utf8))
        // Wait for the handshake so the line is in the child's memory before we scan.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// Ends the child with SIGKILL: its stdin may have leaked into a sibling child, so closing
    /// our end is not enough to end its `read`, and the test runner's signal mask (inherited by
    /// children) may block SIGTERM.
    func finish() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { finish() } }
}

/// A random lowercase-hex canary, distinct per call.
func makeCanary(bytes: Int = 24) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}

/// A temporary file holding `contents`, removed by the caller.
func temporaryFile(_ contents: String, name: String = "needle") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("zdr-test-\(UUID().uuidString)-\(name)")
    try Data(contents.utf8).write(to: url)
    return url
}

/// Whether this test binary (and so the `zdr` it runs, built in the same scratch path) is built
/// with ThreadSanitizer or AddressSanitizer. Their shadow memory reserves terabytes of address
/// space, which a memory scan of such a process walks for minutes; the scanning tests run in the
/// debug and release stages instead.
let runningUnderSanitizer: Bool = dlsym(nil, "__tsan_init") != nil || dlsym(nil, "__asan_init") != nil
let sanitizerSkipReason: Comment = "a scan of a sanitizer-built process walks its shadow memory (minutes); covered by the debug and release runs"
