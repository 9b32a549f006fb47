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
@Suite("zdr ledger prove --tiles URL: tiles served by nginx", .enabled(if: NginxServer.isAvailable || NginxServer.isRequired))
struct TilesOverHTTPTests {
    @Test("over HTTP: the same bundle as from the directory; the log grows while served; damage and absence are typed")
    func proveOverHTTP() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let server = try NginxServer(root: tiles, scratch: fixture.path("nginx"))
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/"

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
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        let server = try NginxServer(root: tiles, scratch: fixture.path("nginx"))
        defer { server.stop() }
        let client = SpecTileClient(prefix: "http://127.0.0.1:\(server.port)/")
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
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let tiles = fixture.path("tiles")
        #expect(try ZDR.run(["ledger", "tiles", "--out", tiles, "--key", fixture.verifierKey, fixture.ledgerPath]).status == 0)
        // nginx told to refuse the checkpoint: 403.
        let server = try NginxServer(root: tiles, scratch: fixture.path("nginx"), extraLocations: "location = /checkpoint { return 403; }")
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
