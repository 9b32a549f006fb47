#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A minimal HTTP/1.1 server on 127.0.0.1 for `zdr ledger witness-request` tests: every
/// `POST <anything>/add-checkpoint` body goes to `handler`, one request per connection
/// (`Connection: close`). Serves until `stop()`.
final class WitnessHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let handler: @Sendable ([UInt8]) -> TestWitness.Response
    private let stopped = NSLock()
    private var isStopped = false
    private var requested: [String] = []
    /// Paths requested, in order.
    var paths: [String] {
        stopped.lock()
        defer { stopped.unlock() }
        return requested
    }

    init(handler: @escaping @Sendable ([UInt8]) -> TestWitness.Response) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { close(listener); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        self.handler = handler
        Thread.detachNewThread { [self] in serve() }
    }

    var url: String { "http://127.0.0.1:\(port)/witness" }

    /// Stops listening; later calls do nothing (the descriptor is closed once).
    func stop() {
        stopped.lock()
        let already = isStopped
        isStopped = true
        stopped.unlock()
        if already { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                stopped.lock()
                let done = isStopped
                stopped.unlock()
                if done { return }
                continue
            }
            handle(connection)
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerEnd: Int?
        var contentLength = 0
        while true {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return }
            received += buffer[0..<count]
            if headerEnd == nil, let end = find([13, 10, 13, 10], in: received) {
                headerEnd = end + 4
                let header = String(decoding: received[0..<end], as: UTF8.self)
                for line in header.split(separator: "\r\n") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2, parts[0].lowercased() == "content-length" {
                        contentLength = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                let requestLine = header.split(separator: "\r\n").first.map(String.init) ?? ""
                stopped.lock()
                requested.append(requestLine.split(separator: " ").dropFirst().first.map(String.init) ?? "")
                stopped.unlock()
            }
            if let headerEnd, received.count >= headerEnd + contentLength { break }
        }
        let body = Array(received[headerEnd!...])
        let response = handler(body)
        var head = "HTTP/1.1 \(response.status) Status\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n"
        if let type = response.contentType { head += "Content-Type: \(type)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + response.body
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            sent += count
        }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where Array(haystack[index..<(index + needle.count)]) == needle {
            return index
        }
        return nil
    }
}
