// A tiles log read over HTTP: C2SP tlog-tiles is static files, so any web server, object store
// or CDN serves it, and a reader needs only GET. FoundationNetworking comes with the toolchain,
// so this is no package dependency; the library stays free of networking and takes this as a
// TileReader.Fetch.
//
// The server is not trusted with anything, memory included: each GET asks for at most the bytes
// its path may have (a Range), the body is streamed through a delegate that cancels the
// transfer as soon as it passes them (checked first against a declared Content-Length),
// redirects are refused rather than followed, and slow servers time out. Every one of those is
// a typed TileError naming only the path (and the status), never the body.
//
// FoundationNetworking hands the delegate each chunk asynchronously (its delegate queue) and
// does not pause libcurl meanwhile, so what arrives between a chunk over the limit and the
// cancellation is still read: the bound holds at the delegate's pace, not at the socket's.
// A reader of its own over the socket would make it exact.

import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RetentionLedger

enum HTTPTileFetch {
    /// Seconds without a byte before a request fails (URLSession's request timeout).
    static let idleTimeout: TimeInterval = 15
    /// Seconds a whole transfer may take (at most about 1 MiB: an entry bundle).
    static let transferTimeout: TimeInterval = 60

    /// The most bytes a full hash tile has: 256 hashes of 32 bytes (C2SP tlog-tiles).
    static let tileBytes = 256 * 32
    /// The most bytes an entry takes in a bundle: a u16 length and a record of at most 4,096
    /// bytes (Docs/LedgerFormat.md §3, §10).
    static let bundleEntryBytes = 2 + 4_096
    /// The most bytes a `checkpoint` may have. The signed-note spec asks readers to accept at
    /// least 16 signatures: the longest body (255-byte origin, 20-digit size, 44-character root,
    /// three newlines: 322 bytes), the blank line, and 16 lines of the longest kind this reader
    /// verifies (`— `, a 255-byte name, a space, base64 of a 4-byte key ID and a 72-byte
    /// cosignature blob, a newline: 365 bytes) come to 6,163; 16 KiB leaves room for lines of
    /// other kinds, which are ignored.
    static let checkpointBytes = 16 << 10

    /// Whether `location` (a `--tiles` argument) is a URL rather than a directory.
    static func isURL(_ location: String) -> Bool {
        location.hasPrefix("http://") || location.hasPrefix("https://")
    }

    /// A reader of the log at the URL prefix `prefix` (its `checkpoint` is `prefix/checkpoint`).
    static func reader(prefix: String, verifierKey: VerifierKey) -> TileReader {
        let base = prefix.hasSuffix("/") ? prefix : prefix + "/"
        return TileReader(verifierKey: verifierKey, fetch: { (path, limit) throws(TileError) -> [UInt8] in
            try get(base, path, limit: min(limit, sizeLimit(path)))
        })
    }

    /// The most bytes the file at `path` may have: `checkpoint`, a hash tile `tile/<L>/<N>`
    /// (`.p/<W>`: W hashes), an entry bundle `tile/entries/<N>` (`.p/<W>`: W entries). Paths
    /// come from TileReader, built from numbers; any other path gets the reader's own limit.
    static func sizeLimit(_ path: String) -> Int {
        if path == TilePath.checkpoint { return checkpointBytes }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "tile" else { return Int.max }
        var width = 256
        if parts[parts.count - 2].hasSuffix(".p"), let partial = Int(parts[parts.count - 1]), (1..<256).contains(partial) {
            width = partial
        }
        return parts[1] == "entries" ? width * bundleEntryBytes : width * (tileBytes / 256)
    }

    /// GET `base + path`, synchronously (the CLI has nothing else to do meanwhile), at most
    /// `limit` bytes: 200 is the file; 404 and 410 are `missing` (a reader then falls back from
    /// a partial tile to its full tile); a redirect (never followed: the log is what this URL
    /// serves) or any other status is `unavailable` with the status, an unreachable or timed-out
    /// server status 0; a body over `limit` is `wrongSize` with the declared length or the bytes
    /// received when the transfer was cancelled.
    private static func get(_ base: String, _ path: String, limit: Int) throws(TileError) -> [UInt8] {
        guard let url = URL(string: base + path) else { throw .unavailable(path: path, status: 0) }
        // The checkpoint changes as the log grows; tiles never do, but a stale cache must not
        // hide a rollback either.
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.timeoutIntervalForResource = transferTimeout
        let transfer = Transfer(limit: limit)
        // The session holds its delegate until it is invalidated, below.
        let session = URLSession(configuration: configuration, delegate: transfer, delegateQueue: nil)
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: idleTimeout)
        request.httpMethod = "GET"
        // A server that honours ranges (nginx, object stores, CDNs) then sends no more than one
        // byte over the limit; one that does not is cut off by the delegate.
        if limit < Int.max { request.setValue("bytes=0-\(limit)", forHTTPHeaderField: "Range") }
        session.dataTask(with: request).resume()
        transfer.done.wait()
        session.invalidateAndCancel()
        let outcome = transfer.outcome
        if outcome.redirected || (300..<400).contains(outcome.status) { throw .unavailable(path: path, status: outcome.status) }
        if let seen = outcome.oversized { throw .wrongSize(path: path, expected: limit, actual: seen) }
        switch outcome.status {
        case 200 where outcome.complete, 206 where outcome.complete: return outcome.body
        case 200, 206: throw .unavailable(path: path, status: 0)  // cut off or timed out mid-body
        case 404, 410: throw .missing(path: path)
        default: throw .unavailable(path: path, status: outcome.status)
        }
    }

    /// One transfer's delegate: keeps at most `limit` bytes and cancels past them, refuses
    /// redirects, and hands the result from URLSession's queue to the waiting thread.
    private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        struct Outcome {
            var status = 0
            var body: [UInt8] = []
            var redirected = false
            /// Bytes declared or received when the transfer was cancelled for passing the limit.
            var oversized: Int?
            /// Completed without an error (a cancelled or failed transfer is not).
            var complete = false
        }

        let limit: Int
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var state = Outcome()

        init(limit: Int) { self.limit = limit }

        var outcome: Outcome { lock.lock(); defer { lock.unlock() }; return state }

        private func update(_ change: (inout Outcome) -> Void) { lock.lock(); change(&state); lock.unlock() }

        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            update { $0.redirected = true; $0.status = response.statusCode }
            completionHandler(nil)
            task.cancel()
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            let declared = response.expectedContentLength
            var allow = status == 200 || status == 206
            update { outcome in
                outcome.status = status
                if allow && declared > Int64(limit) {
                    outcome.oversized = Int(clamping: declared)
                    allow = false
                }
            }
            completionHandler(allow ? .allow : .cancel)
            // FoundationNetworking ignores the disposition: only cancel() stops the transfer.
            // Nothing but a 200's body is read, and an oversized one is not.
            if !allow { dataTask.cancel() }
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            var cancel = false
            update { outcome in
                guard outcome.oversized == nil else { cancel = true; return }
                if outcome.body.count + data.count > limit {
                    outcome.oversized = outcome.body.count + data.count
                    outcome.body = []
                    cancel = true
                } else {
                    outcome.body.append(contentsOf: data)
                }
            }
            if cancel { dataTask.cancel() }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            update { $0.complete = error == nil }
            done.signal()
        }
    }
}
