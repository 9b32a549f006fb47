// An independent C2SP tlog-tiles client, written from the spec's text (c2sp.org/tlog-tiles)
// and RFC 6962 §2.1, not from the writer: its own SHA-256, its own path encoding, its own tile
// fetches and hashing. Nothing from RetentionLedger is called but the Ed25519 check of the
// checkpoint's signature (libsodium, behind `VerifierKey`), which is not what is under test.

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RetentionLedger

/// FIPS 180-4 SHA-256, plainly.
enum SpecSHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var data = message
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        for block in stride(from: 0, to: data.count, by: 64) {
            for t in 0..<16 {
                let i = block + 4 * t
                w[t] = UInt32(data[i]) << 24 | UInt32(data[i + 1]) << 16 | UInt32(data[i + 2]) << 8 | UInt32(data[i + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for t in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, value) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ value }
        }
        return h.flatMap { word in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: word >> UInt32($0)) } }
    }

    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
}

struct SpecReaderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The client. `prefix` is the tiles directory, or an `http://127.0.0.1:PORT/…` URL prefix it
/// GETs from with its own HTTP/1.0 client (`SpecHTTP`), as the spec's clients fetch a log.
struct SpecTileClient {
    let prefix: String

    // "<N> ... encoded into zero-padded 3-digit path elements. All but the last path element
    // MUST begin with an x."
    static func encode(_ n: UInt64) -> String {
        var elements: [String] = []
        var rest = n
        while true {
            elements.insert(String(format: "%03d", Int(rest % 1000)), at: 0)
            rest /= 1000
            if rest == 0 { break }
        }
        for i in 0..<(elements.count - 1) { elements[i] = "x" + elements[i] }
        return elements.joined(separator: "/")
    }

    // "<prefix>/tile/<L>/<N>[.p/<W>]"; "The .p/<W> suffix is only present for partial tiles."
    static func tilePath(level: Int, index: UInt64, width: Int) -> String {
        "tile/\(level)/\(encode(index))" + (width == 256 ? "" : ".p/\(width)")
    }

    static func entriesPath(index: UInt64, width: Int) -> String {
        "tile/entries/\(encode(index))" + (width == 256 ? "" : ".p/\(width)")
    }

    /// "The partial tile at level l for a tree of size s has floor(s / 256**l) mod 256 entries."
    static func pow256(_ l: Int) -> UInt64 { l == 0 ? 1 : (0..<l).reduce(UInt64(1)) { r, _ in r * 256 } }

    /// The width of tile `n` at level `l` for tree size `s`.
    static func width(level l: Int, index n: UInt64, treeSize s: UInt64) -> Int {
        let hashesAtLevel = s / pow256(l)
        return n < hashesAtLevel / 256 ? 256 : Int(hashesAtLevel % 256)
    }

    /// Every resource a log of size `s` serves (besides partials kept for older checkpoints).
    static func expectedFiles(treeSize s: UInt64) -> Set<String> {
        var files: Set<String> = ["checkpoint"]
        var level = 0
        while level <= 5, s / pow256(level) > 0 {
            let hashes = s / pow256(level)
            for n in 0..<(hashes / 256) {
                files.insert(tilePath(level: level, index: n, width: 256))
                if level == 0 { files.insert(entriesPath(index: n, width: 256)) }
            }
            if hashes % 256 > 0 {
                files.insert(tilePath(level: level, index: hashes / 256, width: Int(hashes % 256)))
                if level == 0 { files.insert(entriesPath(index: hashes / 256, width: Int(hashes % 256))) }
            }
            level += 1
        }
        return files
    }

    func fetch(_ path: String) throws -> [UInt8] {
        if prefix.hasPrefix("http://") { return try SpecHTTP.get(prefix + (prefix.hasSuffix("/") ? "" : "/") + path) }
        guard let data = FileManager.default.contents(atPath: prefix + "/" + path) else { throw SpecReaderError("missing \(path)") }
        return Array(data)
    }

    /// The checkpoint's size and root, its signature checked under `key`.
    func checkpoint(key: VerifierKey) throws -> (origin: String, size: UInt64, root: [UInt8]) {
        let text = String(decoding: try fetch("checkpoint"), as: UTF8.self)
        let parts = text.components(separatedBy: "\n\n")
        guard parts.count == 2 else { throw SpecReaderError("checkpoint is not a note") }
        let body = parts[0] + "\n"
        let lines = parts[0].components(separatedBy: "\n")
        guard lines.count >= 3, let size = UInt64(lines[1]), let root = Data(base64Encoded: lines[2]), root.count == 32 else {
            throw SpecReaderError("malformed checkpoint body")
        }
        let signatureLine = parts[1].components(separatedBy: "\n")[0].components(separatedBy: " ")
        guard signatureLine.count == 3, signatureLine[0] == "\u{2014}", signatureLine[1] == key.name,
              let blob = Data(base64Encoded: signatureLine[2]), blob.count == 68,
              key.isValidSignature(Array(blob.dropFirst(4)), of: Array(body.utf8))
        else { throw SpecReaderError("checkpoint signature does not verify") }
        return (lines[0], size, Array(root))
    }

    /// Hash `i` of tile level `l` (MTH(D[i·256^l : (i+1)·256^l])) for tree size `s`.
    func levelHash(level l: Int, index i: UInt64, treeSize s: UInt64) throws -> [UInt8] {
        let n = i / 256
        let w = Self.width(level: l, index: n, treeSize: s)
        let path = Self.tilePath(level: l, index: n, width: w)
        let tile = try fetch(path)
        guard tile.count == w * 32 else { throw SpecReaderError("\(path): \(tile.count) bytes, not \(w * 32)") }
        let offset = Int(i % 256) * 32
        return Array(tile[offset..<(offset + 32)])
    }

    static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { SpecSHA256.hash([0x01] + left + right) }

    static func largestPowerOfTwoBelow(_ n: UInt64) -> UInt64 {
        var k: UInt64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH(D[a:b]) (RFC 6962 §2.1), taking a tile hash wherever [a, b) is exactly one:
    /// aligned and 256^l long.
    func mth(_ a: UInt64, _ b: UInt64, treeSize s: UInt64) throws -> [UInt8] {
        var level = 5
        while level >= 0 {
            let span = Self.pow256(level)
            if b - a == span && a % span == 0 { return try levelHash(level: level, index: a / span, treeSize: s) }
            level -= 1
        }
        let k = Self.largestPowerOfTwoBelow(b - a)
        return Self.node(try mth(a, a + k, treeSize: s), try mth(a + k, b, treeSize: s))
    }

    /// RFC 6962 §2.1.1 PATH(m, D[a:b]).
    func path(_ m: UInt64, _ a: UInt64, _ b: UInt64, treeSize s: UInt64) throws -> [[UInt8]] {
        let n = b - a
        guard n > 1 else { return [] }
        let k = Self.largestPowerOfTwoBelow(n)
        if m < k { return try path(m, a, a + k, treeSize: s) + [try mth(a + k, b, treeSize: s)] }
        return try path(m - k, a + k, b, treeSize: s) + [try mth(a, a + k, treeSize: s)]
    }

    /// The root a PATH implies for leaf `m` of a tree of `n` leaves, following the same split.
    static func root(fromPath proof: [[UInt8]], leaf m: UInt64, size n: UInt64, leafHash: [UInt8]) -> [UInt8]? {
        guard n > 1 else { return proof.isEmpty ? leafHash : nil }
        guard let last = proof.last else { return nil }
        let k = largestPowerOfTwoBelow(n)
        if m < k {
            return root(fromPath: Array(proof.dropLast()), leaf: m, size: k, leafHash: leafHash).map { node($0, last) }
        }
        return root(fromPath: Array(proof.dropLast()), leaf: m - k, size: n - k, leafHash: leafHash).map { node(last, $0) }
    }

    /// The entry at `index`: "Entry bundles are sequences of big-endian uint16 length-prefixed
    /// log entries."
    func entry(_ index: UInt64, treeSize s: UInt64) throws -> [UInt8] {
        let n = index / 256
        let w = Self.width(level: 0, index: n, treeSize: s)
        let bytes = try fetch(Self.entriesPath(index: n, width: w))
        var offset = 0
        var entries: [[UInt8]] = []
        while offset < bytes.count {
            guard offset + 2 <= bytes.count else { throw SpecReaderError("truncated length") }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            guard offset + 2 + length <= bytes.count else { throw SpecReaderError("truncated entry") }
            entries.append(Array(bytes[(offset + 2)..<(offset + 2 + length)]))
            offset += 2 + length
        }
        guard entries.count == w else { throw SpecReaderError("bundle has \(entries.count) entries, not \(w)") }
        return entries[Int(index % 256)]
    }

    /// Verifies that `record` is entry `index` of the log whose checkpoint is signed by `key`:
    /// the entry is there, it hashes to its level-0 tile hash, and the inclusion path built
    /// from the tiles leads to the signed root. Returns the checkpoint's size.
    @discardableResult
    func verifyInclusion(of record: [UInt8], at index: UInt64, key: VerifierKey) throws -> UInt64 {
        let checkpoint = try checkpoint(key: key)
        let s = checkpoint.size
        guard index < s else { throw SpecReaderError("leaf outside the tree") }
        guard try entry(index, treeSize: s) == record else { throw SpecReaderError("entry differs from the record") }
        let leafHash = SpecSHA256.hash([0x00] + record)
        guard try levelHash(level: 0, index: index, treeSize: s) == leafHash else { throw SpecReaderError("leaf hash differs") }
        let proof = try path(index, 0, s, treeSize: s)
        guard Self.root(fromPath: proof, leaf: index, size: s, leafHash: leafHash) == checkpoint.root else {
            throw SpecReaderError("inclusion path does not reach the checkpoint root")
        }
        return s
    }

    /// The root of the whole tree from the tiles, for comparison with the checkpoint.
    func treeRoot(treeSize s: UInt64) throws -> [UInt8] {
        s == 0 ? SpecSHA256.hash([]) : try mth(0, s, treeSize: s)
    }
}

/// GET over HTTP/1.0 on a plain socket, for the spec client: nothing of zdr's or Foundation's
/// HTTP stack, so the tiles are read the way any other client would read them. Loopback only.
enum SpecHTTP {
    static func get(_ url: String) throws -> [UInt8] {
        // http://127.0.0.1:PORT/path
        let rest = url.dropFirst("http://".count)
        guard let slash = rest.firstIndex(of: "/"), let colon = rest[..<slash].lastIndex(of: ":"),
              rest[..<colon] == "127.0.0.1", let port = UInt16(rest[rest.index(after: colon)..<slash])
        else { throw SpecReaderError("not a loopback URL") }
        let path = String(rest[slash...])
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SpecReaderError("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw SpecReaderError("connect") }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw SpecReaderError("send") }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }   // HTTP/1.0: the server closes after the body
            response += buffer[..<count]
        }
        guard let end = (0..<max(0, response.count - 3)).first(where: { response[$0..<($0 + 4)] == [13, 10, 13, 10] }) else {
            throw SpecReaderError("no header end")
        }
        let statusLine = String(decoding: response[..<(response.firstIndex(of: 13) ?? end)], as: UTF8.self)
        guard statusLine.split(separator: " ").dropFirst().first == "200" else { throw SpecReaderError("missing \(path): \(statusLine)") }
        return Array(response[(end + 4)...])
    }
}
