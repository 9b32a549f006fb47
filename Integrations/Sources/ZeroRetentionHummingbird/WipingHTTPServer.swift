public import HummingbirdCore
public import Logging
public import NIOCore
import ZeroRetentionNIO

/// A child channel that installs ``ZeroRetentionNIO/WipingAllocator`` on each connection before
/// `Base` sets it up, so every `ByteBuffer` the connection reads into, decodes into or writes
/// from is zeroed before `malloc` gets it back.
///
/// Hummingbird has no allocator option; this wraps its child channel instead. Use
/// ``HummingbirdCore/HTTPServerBuilder/zeroRetentionHTTP1(configuration:)`` rather than this
/// type directly.
public struct WipingChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value

    /// The child channel that does the work.
    public let base: Base

    /// Wraps `base`.
    public init(base: Base) {
        self.base = base
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Before the base pipeline exists and before the first read: the socket's bytes land in
        // buffers from this allocator from the start.
        channel.setOption(ChannelOptions.allocator, value: WipingAllocator.byteBufferAllocator).flatMap {
            self.base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1.1 server whose connections use ``ZeroRetentionNIO/WipingAllocator``: the
    /// zero-retention replacement for `.http1(configuration:)`.
    ///
    /// ```swift
    /// let app = Application(router: router, server: .zeroRetentionHTTP1())
    /// ```
    public static func zeroRetentionHTTP1(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            WipingChildChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
