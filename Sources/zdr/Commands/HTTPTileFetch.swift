// A tiles log read over HTTP: C2SP tlog-tiles is static files, so any web server, object store
// or CDN serves it, and a reader needs only GET. FoundationNetworking comes with the toolchain,
// so this is no package dependency; the library stays free of networking and takes this as a
// TileReader.Fetch.

import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RetentionLedger

enum HTTPTileFetch {
    /// Whether `location` (a `--tiles` argument) is a URL rather than a directory.
    static func isURL(_ location: String) -> Bool {
        location.hasPrefix("http://") || location.hasPrefix("https://")
    }

    /// A reader of the log at the URL prefix `prefix` (its `checkpoint` is `prefix/checkpoint`).
    static func reader(prefix: String, verifierKey: VerifierKey) -> TileReader {
        let base = prefix.hasSuffix("/") ? prefix : prefix + "/"
        return TileReader(verifierKey: verifierKey, fetch: { (path, limit) throws(TileError) -> [UInt8] in
            try get(base, path, limit: limit)
        })
    }

    /// GET `base + path`, synchronously (the CLI has nothing else to do meanwhile): 200 is the
    /// file, 404 and 410 are `missing` (a reader then falls back from a partial tile to its full
    /// tile), anything else is `unavailable` with the status.
    private static func get(_ base: String, _ path: String, limit: Int) throws(TileError) -> [UInt8] {
        guard let url = URL(string: base + path) else { throw .unavailable(path: path, status: 0) }
        // The checkpoint changes as the log grows; tiles never do, but a stale cache must not
        // hide a rollback either.
        let request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 30)
        let reply = Reply()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            reply.set(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
            done.signal()
        }.resume()
        done.wait()
        let (status, body) = reply.value
        switch status {
        case 200:
            let bytes = [UInt8](body ?? Data())
            return bytes.count > limit ? Array(bytes.prefix(limit + 1)) : bytes
        case 404, 410:
            throw .missing(path: path)
        default:
            throw .unavailable(path: path, status: status)
        }
    }

    /// The completion handler's result, handed from URLSession's queue to the waiting thread.
    private final class Reply: @unchecked Sendable {
        private let lock = NSLock()
        private var status = 0
        private var body: Data?
        func set(status: Int, body: Data?) { lock.lock(); self.status = status; self.body = body; lock.unlock() }
        var value: (Int, Data?) { lock.lock(); defer { lock.unlock() }; return (status, body) }
    }
}
