#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import LoopbackTestSupport
import NIOCore
import Testing
import ZeroRetentionHummingbird

/// A request context that keeps the connection's channel, so a route can ask for its allocator.
struct ChannelRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// Reads `into.count` bytes at `address` of this process through /proc/self/mem (freed memory
/// without a fault); the destination is allocated before the memory under test is freed.
private func readProcessMemory(at address: UInt, into bytes: inout [UInt8]) -> Bool {
    let descriptor = open("/proc/self/mem", O_RDONLY)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    let count = bytes.count
    return bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(Int64(bitPattern: UInt64(address)))) } == count
}

/// Whether a buffer from `allocator`, filled with 0xA5 and dropped, left its bytes behind.
private func allocatorLeavesBytes(_ allocator: ByteBufferAllocator) -> Bool {
    let capacity = 24_000
    var after = [UInt8](repeating: 0, count: capacity)
    var address: UInt = 0
    do {
        var buffer = allocator.buffer(capacity: capacity)
        buffer.writeRepeatingByte(0xA5, count: capacity)
        address = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }
    }
    guard readProcessMemory(at: address, into: &after) else { return false }
    return after.filter { $0 == 0xA5 }.count > capacity / 2
}

/// One HTTP/1.1 GET over a plain socket (no client library: its buffers are not under test),
/// returning the response's body.
func get(_ path: String, port: Int, readingAtMost limit: Int = .max) throws -> String {
    let socket = try connectLoopback(port: port)
    defer { close(socket) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
    try sendAll(request, on: socket)
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while response.count < limit {
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += chunk[..<count]
    }
    if response.count >= limit {
        // Leave as a client that gives up would: a reset, not an orderly close.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
    let text = String(decoding: response, as: UTF8.self)
    return text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
}

/// Runs an application with one route that reports whether its connection's allocator leaves
/// bytes behind, and returns the route's answer.
private func probe(server: HTTPServerBuilder) async throws -> String {
    let router = Router(context: ChannelRequestContext.self)
    router.get("/allocator") { _, context in
        allocatorLeavesBytes(context.channel.allocator) ? "leaves bytes" : "wipes"
    }
    return try await withServer(router, server: server) { port in try get("/allocator", port: port) }
}

@Suite("Hummingbird: zeroRetentionHTTP1 puts the wiping allocator on every connection")
struct WipingHTTPServerTests {
    @Test("a route's connection allocates from the wiping allocator with .zeroRetentionHTTP1(), and from one that leaves bytes with .http1()")
    func connectionsUseTheWipingAllocator() async throws {
        #expect(try await probe(server: .zeroRetentionHTTP1()) == "wipes")
        #expect(try await probe(server: .http1()) == "leaves bytes")
    }
}
