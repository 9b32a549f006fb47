// What the integration tests share: a server on a free loopback port, and plain-socket clients
// (no client library: its buffers are not under test).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
public import Hummingbird
public import HummingbirdCore
import Logging
import ZeroRetentionHummingbird

/// Why a loopback client could not talk to the server.
public enum LoopbackError: Error {
    case socket, connect, send
}

/// A TCP socket connected to 127.0.0.1:`port`; the caller closes it.
public func connectLoopback(port: Int) throws(LoopbackError) -> Int32 {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw .socket }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(socket)
        throw .connect
    }
    return socket
}

/// Sends all of `bytes` on `socket`.
public func sendAll(_ bytes: [UInt8], on socket: Int32) throws(LoopbackError) {
    var sent = 0
    while sent < bytes.count {
        let count = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + sent, $0.count - sent, 0) }
        guard count > 0 else { throw .send }
        sent += count
    }
}

/// Runs `router`'s application (by default with `.zeroRetentionHTTP1()`) on a free loopback port, calls `client` with the port on a
/// thread of its own (its socket calls block, and on a cooperative thread they would starve the
/// server's handlers when tests run in parallel), then stops the server and returns what
/// `client` returned.
public func withServer<Context: RequestContext, Answer: Sendable>(
    _ router: Router<Context>, server: HTTPServerBuilder = .zeroRetentionHTTP1(),
    _ client: @escaping @Sendable (Int) throws -> Answer
) async throws -> Answer where Context.Source == ApplicationRequestContextSource {
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    // Quiet: cancelling the server at the end logs the connection's cancellation as an error.
    var logger = Logger(label: "integration-test-server")
    logger.logLevel = .critical
    let app = Application(
        router: router, server: server,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger)
    return try await withThrowingTaskGroup(of: Answer?.self) { group in
        group.addTask {
            try await app.runService(gracefulShutdownSignals: [])
            return nil
        }
        group.addTask {
            var ports = portStream.makeAsyncIterator()
            let port = await ports.next() ?? 0
            return try await withCheckedThrowingContinuation { continuation in
                Thread { continuation.resume(with: Result { try client(port) }) }.start()
            }
        }
        var answer: Answer?
        while let result = try await group.next() {
            if let result {
                answer = result
                group.cancelAll()
            }
        }
        guard let answer else { throw CancellationError() }
        return answer
    }
}
