#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoopbackTestSupport
import Testing

/// A response as it came off the socket.
struct RawResponse: Sendable {
    var status: Int
    /// Header names lowercased.
    var headers: [String: String]
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Sends `request` (a whole HTTP/1.1 request, `Connection: close`) to 127.0.0.1:`port` over a
/// plain socket and reads the response to the end. Blocking: call it on a thread of its own.
func exchange(_ request: [UInt8], port: Int) throws -> RawResponse {
    let socket = try connectLoopback(port: port)
    defer { close(socket) }
    try sendAll(request, on: socket)
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += chunk[..<count]
    }
    return try parse(response)
}

/// `POST`/`GET` with `headers` and `body`, as bytes.
func httpRequest(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = []) -> [UInt8] {
    var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
    if method != "GET" { head += "Content-Length: \(body.count)\r\n" }
    return Array((head + "\r\n").utf8) + body
}

private func parse(_ bytes: [UInt8]) throws -> RawResponse {
    let separator = Array("\r\n\r\n".utf8)
    guard let end = (0...max(0, bytes.count - 4)).first(where: { Array(bytes[$0..<min($0 + 4, bytes.count)]) == separator }) else {
        throw ExchangeError.noHead
    }
    let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
    let status = Int(lines[0].split(separator: " ")[1]) ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Array(bytes[(end + 4)...])
    if headers["transfer-encoding"] == "chunked" { body = try dechunk(body) }
    return RawResponse(status: status, headers: headers, body: body)
}

private func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
    var out: [UInt8] = []
    var index = 0
    while index < bytes.count {
        guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { throw ExchangeError.badChunk }
        guard let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self), radix: 16) else { throw ExchangeError.badChunk }
        if size == 0 { break }
        out += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
        index = lineEnd + 2 + size + 2
    }
    return out
}

enum ExchangeError: Error { case noHead, badChunk }
