import Foundation
import RetentionLedger
import RetentionVocabulary
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A tiles log served by a real static web server: nginx on 127.0.0.1, started here with a
/// configuration of its own (the CI installs nginx and sets ZDR_REQUIRE_NGINX, so there this
/// suite runs; on a machine without nginx it is skipped).
/// A fixture ledger with its tiles written to `tiles` and nginx serving that directory at `url`.
final class ServedLog {
    let fixture: LedgerFixture
    let tiles: String
    let server: NginxServer
    var url: String { "http://127.0.0.1:\(server.port)/" }

    init(extraLocations: String = "", beforeServing: (LedgerFixture, String) throws -> Void = { _, _ in }) throws {
        fixture = try LedgerFixture()
        tiles = fixture.path("tiles")
        do {
            let written = try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath])
            try #require(written.status == 0, "\(written.err)")
            try beforeServing(fixture, tiles)
            server = try NginxServer(root: tiles, scratch: fixture.path("nginx"), extraLocations: extraLocations)
        } catch {
            fixture.cleanup()
            throw error
        }
    }

    /// Stops nginx and removes the fixture.
    func cleanup() {
        server.stop()
        fixture.cleanup()
    }
}

@Suite("zdr ledger prove --tiles URL: tiles served by nginx", .enabled(if: NginxServer.isAvailable || NginxServer.isRequired))
struct TilesOverHTTPTests {
    @Test("over HTTP: the same bundle as from the directory; the log grows while served; damage and absence are typed")
    func proveOverHTTP() throws {
        let served = try ServedLog()
        defer { served.cleanup() }
        let (fixture, tiles, url) = (served.fixture, served.tiles, served.url)

        let id = fixture.requests[1].description
        let overHTTP = try ZDR.run(["ledger", "prove", "--tiles", url, "--request", id, "--key", fixture.verifierKey])
        #expect(overHTTP.status == 0, "\(overHTTP.err)")
        let fromDirectory = try ZDR.run(["ledger", "prove", "--tiles", tiles, "--request", id, "--key", fixture.verifierKey])
        #expect(overHTTP.out == fromDirectory.out)
        let bundle = fixture.path("bundle.json")
        try Data(overHTTP.stdout).write(to: URL(fileURLWithPath: bundle))
        let check = try ZDR.run(["ledger", "check-receipt", bundle, "--key", fixture.verifierKey, "--request", id, "--json"])
        #expect(try check.json()["valid"] as? Bool == true)

        // The log grows while nginx serves it: the new checkpoint and tiles are read at once,
        // partials it no longer needs are gone (404), and a receipt past the old size proves.
        let grown = try LedgerFixture.append(requests: 90, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, fixture.ledgerPath]).status == 0)
        let later = grown.requests[80].description
        let afterGrowth = try ZDR.run(["ledger", "prove", "--tiles", url, "--request", later, "--key", fixture.verifierKey])
        #expect(afterGrowth.status == 0, "\(afterGrowth.err)")
        #expect(try ZDR.run(["ledger", "prove", "--tiles", url, "--request", id, "--key", fixture.verifierKey]).status == 0)

        // A truncated tile served as it is: a finding naming the tile.
        let tile = tiles + "/tile/0/001.p/24"
        let saved = try Data(contentsOf: URL(fileURLWithPath: tile))
        try saved.dropLast(5).write(to: URL(fileURLWithPath: tile))
        let damaged = try ZDR.run(["ledger", "prove", "--tiles", url, "--request", later, "--key", fixture.verifierKey])
        #expect(damaged.status == 1)
        #expect(damaged.err.contains("tile/0/001.p/24"))
        #expect(damaged.out.isEmpty)
        try saved.write(to: URL(fileURLWithPath: tile))

        // No log under this prefix (nginx answers 404 for its checkpoint): a failure, exit 2.
        let nowhere = try ZDR.run(["ledger", "prove", "--tiles", url + "no-such-log/", "--request", id, "--key", fixture.verifierKey])
        #expect(nowhere.status == 2)
        #expect(nowhere.err.contains("no checkpoint"))
    }

    @Test("a client written from the spec alone (Support/TileSpecReader.swift) GETs the tiles from nginx and verifies a receipt's inclusion")
    func independentClientOverHTTP() throws {
        let served = try ServedLog()
        defer { served.cleanup() }
        let (fixture, tiles) = (served.fixture, served.tiles)
        let client = SpecTileClient(prefix: served.url)
        let key = try VerifierKey(fixture.verifierKey)
        // The receipt as the customer has it: the record bytes of its bundle.
        let id = fixture.requests[2].description
        let bundle = try ReceiptBundle(json: try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", id, "--key", fixture.verifierKey]).out)
        #expect(try client.verifyInclusion(of: bundle.record, at: bundle.leafIndex, key: key) == bundle.treeSize)
        // A different record at that index is refused, and so is one past the tree.
        var forged = bundle.record
        forged[forged.count - 1] ^= 1
        #expect(throws: SpecReaderError.self) { try client.verifyInclusion(of: forged, at: bundle.leafIndex, key: key) }
        #expect(throws: SpecReaderError.self) { try client.verifyInclusion(of: bundle.record, at: bundle.treeSize, key: key) }
        // The log grows while served: the client follows the new checkpoint.
        let grown = try LedgerFixture.append(requests: 90, to: fixture.ledgerPath, keyPath: fixture.keyPath)
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, fixture.ledgerPath]).status == 0)
        let later = try ReceiptBundle(json: try ZDR.run(["ledger", "prove", fixture.ledgerPath, "--request", grown.requests[80].description,
                                                          "--key", fixture.verifierKey]).out)
        #expect(try client.verifyInclusion(of: later.record, at: later.leafIndex, key: key) == later.treeSize)
        #expect(try client.verifyInclusion(of: bundle.record, at: bundle.leafIndex, key: key) == later.treeSize)
    }

    @Test("a server that answers neither 200 nor 404, or none at all, is a failure naming the status")
    func unavailable() throws {
        // nginx told to refuse the checkpoint: 403.
        let served = try ServedLog(extraLocations: "location = /checkpoint { return 403; }")
        defer { served.cleanup() }
        let (fixture, server) = (served.fixture, served.server)
        let id = fixture.requests[1].description
        let forbidden = try ZDR.run(["ledger", "prove", "--tiles", "http://127.0.0.1:\(server.port)", "--request", id, "--key", fixture.verifierKey])
        #expect(forbidden.status == 2)
        #expect(forbidden.err.contains("answered 403"), "\(forbidden.err)")
        let port = server.port
        server.stop()
        let refused = try ZDR.run(["ledger", "prove", "--tiles", "http://127.0.0.1:\(port)", "--request", id, "--key", fixture.verifierKey])
        #expect(refused.status == 2)
        #expect(refused.err.contains("could not be reached"), "\(refused.err)")
    }

    @Test("a server that goes silent mid-body is given up after the 15 s idle timeout, not waited for")
    func silentServerTimesOut() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let server = try StallingServer(scratch: fixture.path("python"))
        defer { server.stop() }
        let started = ContinuousClock.now
        let run = try ZDR.run(["ledger", "prove", "--tiles", "http://127.0.0.1:\(server.port)/", "--request",
                               fixture.requests[1].description, "--key", fixture.verifierKey])
        let waited = ContinuousClock.now - started
        #expect(run.status == 2, "\(run.err)")
        #expect(run.err.contains("checkpoint"), "\(run.err)")
        // It waited for the idle timeout (the server holds the connection open for 120 s).
        #expect(waited >= .seconds(14) && waited < .seconds(60), "gave up after \(waited)")
    }

    @Test("a redirect is refused, not followed: a failure naming only the path and the status")
    func redirectRefused() throws {
        // The checkpoint moved by a 302 to a copy of the same log: following it would succeed.
        let served = try ServedLog(extraLocations: "location = /checkpoint { return 302 /moved/checkpoint; }") { _, tiles in
            let copy = NSTemporaryDirectory() + "zdr-moved-\(UUID().uuidString)"
            try FileManager.default.copyItem(atPath: tiles, toPath: copy)
            try FileManager.default.moveItem(atPath: copy, toPath: tiles + "/moved")
        }
        defer { served.cleanup() }
        let fixture = served.fixture
        let direct = try ZDR.run(["ledger", "prove", "--tiles", served.url + "moved/", "--request", fixture.requests[1].description,
                                  "--key", fixture.verifierKey])
        #expect(direct.status == 0, "\(direct.err)")
        let redirected = try ZDR.run(["ledger", "prove", "--tiles", served.url, "--request", fixture.requests[1].description,
                                      "--key", fixture.verifierKey])
        #expect(redirected.status == 2, "\(redirected.out)\(redirected.err)")
        #expect(redirected.err.contains("checkpoint: the server answered 302"), "\(redirected.err)")
        #expect(!redirected.err.contains("moved"))
        #expect(redirected.out.isEmpty)
    }

    @Test("a 64 MiB tile is refused as soon as it passes 8,192 bytes: the server could not send it all, zdr's peak RSS stays small",
          arguments: [false, true])
    func oversizedTileRefusedEarly(declared: Bool) throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let server = try OversizedTileServer(root: tiles, scratch: fixture.path("python"), declared: declared)
        defer { server.stop() }
        func prove(_ prefix: String) throws -> PeakRSSRun {
            try PeakRSSRun([ZDR.executable.path, "ledger", "prove", "--tiles", "http://127.0.0.1:\(server.port)/" + prefix,
                            "--request", fixture.requests[1].description, "--key", fixture.verifierKey], scratch: fixture.path("rss"))
        }
        // The same log served as it is, for zdr's own peak RSS with a fetch or two behind it.
        let baseline = try prove("real/")
        #expect(baseline.status == 0, "\(baseline.err)")
        let run = try prove("")
        // A tile over its size is a finding naming the tile (the checkpoint was served as it is).
        #expect(run.status == 1, "\(run.err)")
        #expect(run.err.contains("tile/0/"), "\(run.err)")
        let sent = try server.bytesSent()
        // What the kernel's socket buffers took before the client closed, not the 64 MiB body.
        #expect(sent < OversizedTileServer.bodyBytes / 4, "the server sent \(sent) bytes")
        // zdr did not hold the body: its peak RSS is within 16 MiB of a good run's.
        #expect(run.maxRSSKiB < baseline.maxRSSKiB + 16 << 10, "peak RSS \(run.maxRSSKiB) KiB, \(baseline.maxRSSKiB) KiB for the good log")
        print("oversized tile (Content-Length \(declared ? "declared" : "absent")): server sent \(sent) bytes, zdr peak RSS \(run.maxRSSKiB) KiB (\(baseline.maxRSSKiB) KiB for the good log)")
    }
}

/// Starts `process` as `python3 ARGUMENTS…` and returns the port the script prints on its first
/// line; a script that prints none is killed and recorded as an issue.
private func startPythonServer(_ process: Process, arguments: [String], name: String) throws -> Int {
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
        let byte = output.fileHandleForReading.readData(ofLength: 1)
        if byte.isEmpty { break }
        line.append(byte)
    }
    guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        Issue.record("\(name) did not start")
        throw CancellationError()
    }
    return port
}

/// A server that answers every request with a 200 declaring 100 bytes, sends 10, then holds the
/// connection open and silent for 120 s: a client must give up on its own.
final class StallingServer {
    static let script = """
        import socket, sys, threading, time
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        print(listener.getsockname()[1], flush=True)
        def stall(connection):
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n0123456789")
                time.sleep(120)
            except OSError:
                pass
            connection.close()
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=stall, args=(connection,), daemon=True).start()
        """

    let port: Int
    private let process = Process()

    init(scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try Self.script.write(toFile: scratch + "/stall.py", atomically: true, encoding: .utf8)
        port = try startPythonServer(process, arguments: [scratch + "/stall.py"], name: "the stalling server")
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Python's http.server serving `root` (as it is under `/real/`), except that every level-0 tile
/// is 64 MiB of zeros, ignoring any Range, streamed in 16 KiB writes a millisecond apart (at most
/// 16 MB/s, a network's pace rather than loopback's: FoundationNetworking's delegate sees the
/// data asynchronously, and at memory speed the cancellation can lag a whole body behind; at this
/// pace the 16 MiB the test allows take over a second, so a loaded machine does not fail it), with or
/// without a Content-Length; it appends, per such request, the bytes it managed to hand to the
/// socket before the client went away.
final class OversizedTileServer {
    static let bodyBytes = 64 << 20
    static let script = """
        import http.server, sys, time
        root, log_path, declared, total = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=root, **kwargs)
            def log_message(self, *args):
                pass
            def do_GET(self):
                if self.path.startswith("/real/"):
                    self.path = self.path[len("/real"):]
                    return super().do_GET()
                if not self.path.startswith("/tile/0/"):
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if declared:
                    self.send_header("Content-Length", str(total))
                self.end_headers()
                sent, chunk = 0, bytes(16384)
                try:
                    while sent < total:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        time.sleep(0.001)
                except OSError:
                    pass
                with open(log_path, "a") as log:
                    log.write("%s %d\\n" % (self.path, sent))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    let port: Int
    private let log: String
    private let process = Process()

    init(root: String, scratch: String, declared: Bool) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        log = scratch + "/sent.log"
        try Self.script.write(toFile: scratch + "/server.py", atomically: true, encoding: .utf8)
        port = try startPythonServer(
            process, arguments: [scratch + "/server.py", root, log, declared ? "1" : "0", String(Self.bodyBytes)], name: "python3 http.server")
    }

    /// The most bytes sent for one oversized tile, waiting (a bounded while) for the server to
    /// notice that the client closed.
    func bytesSent() throws -> Int {
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: log, encoding: .utf8), !text.isEmpty {
                return text.split(separator: "\n").compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.max() ?? 0
            }
            usleep(10_000)
        }
        Issue.record("the server logged no oversized tile request")
        return Int.max
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A child run under python3, which reports its status, standard error and peak resident set
/// (getrusage RUSAGE_CHILDREN ru_maxrss, KiB): the only child the wrapper has.
struct PeakRSSRun {
    let status: Int32
    let err: String
    let maxRSSKiB: Int

    init(_ arguments: [String], scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let report = scratch + "/report"
        let wrapper = """
            import resource, subprocess, sys
            run = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            with open(sys.argv[1], "w") as out:
                out.write("%d\\n%d\\n" % (run.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
                out.write(run.stderr.decode("utf-8", "replace"))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", wrapper, report] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = try String(contentsOfFile: report, encoding: .utf8)
        let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        status = Int32(lines.first ?? "") ?? -1
        maxRSSKiB = lines.count > 1 ? Int(lines[1]) ?? Int.max : Int.max
        err = lines.count > 2 ? String(lines[2]) : ""
    }
}

/// nginx serving `root` read-only on 127.0.0.1 at a free port, in the foreground of a child
/// process, with every file it writes under `scratch`.
final class NginxServer {
    static let executable = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isAvailable: Bool { executable != nil }
    /// Set by .ci/run: there a missing nginx fails the suite instead of skipping it.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["ZDR_REQUIRE_NGINX"] == "1" }

    let port: Int
    private let process = Process()

    init(root: String, scratch: String, extraLocations: String = "") throws {
        let binary = try #require(Self.executable, "nginx is not installed (Debian: apt-get install nginx-light)")
        try FileManager.default.createDirectory(atPath: scratch + "/temp", withIntermediateDirectories: true)
        port = try Self.freePort()
        // One process, in the foreground, as whoever runs the tests.
        let configuration = """
            daemon off;
            master_process off;
            pid \(scratch)/nginx.pid;
            error_log \(scratch)/error.log;
            events { worker_connections 64; }
            http {
                access_log off;
                client_body_temp_path \(scratch)/temp/body;
                proxy_temp_path \(scratch)/temp/proxy;
                fastcgi_temp_path \(scratch)/temp/fastcgi;
                uwsgi_temp_path \(scratch)/temp/uwsgi;
                scgi_temp_path \(scratch)/temp/scgi;
                default_type application/octet-stream;
                server {
                    listen 127.0.0.1:\(port);
                    root \(root);
                    location / { try_files $uri =404; }
                    \(extraLocations)
                }
            }
            """
        try configuration.write(toFile: scratch + "/nginx.conf", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", scratch, "-e", scratch + "/error.log", "-c", scratch + "/nginx.conf"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once it accepts a connection (a generous bound, not a timing assertion).
        for _ in 0..<500 {
            if Self.accepts(port: port) { return }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        let log = (try? String(contentsOfFile: scratch + "/error.log", encoding: .utf8)) ?? ""
        stop()
        Issue.record("nginx did not start: \(log)")
        throw CancellationError()
    }

    func stop() {
        guard process.isRunning else { return }
        // SIGKILL: the child inherits the test runner's blocked signals, and nginx without a
        // master process never unblocks them, so SIGTERM would wait forever. One process, no
        // state worth a clean shutdown.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }

    /// A port the kernel had free a moment ago (nginx cannot bind port 0 and report it).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound, "no free port on 127.0.0.1")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
