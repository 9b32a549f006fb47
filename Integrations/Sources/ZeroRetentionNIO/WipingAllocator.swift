@_spi(CustomByteBufferAllocator) public import NIOCore
internal import CWipingAllocator

/// A `ByteBufferAllocator` whose storage is zeroed before it is given back to `malloc`: when a
/// `ByteBuffer`'s last reference goes, and when its storage grows and moves.
///
/// SwiftNIO reads every socket into `ByteBuffer`s from the channel's allocator, and the HTTP
/// decoder, a collected body and a response are `ByteBuffer`s too. With the default allocator
/// their bytes stay in freed heap memory until `malloc` happens to reuse it: measured on a
/// Hummingbird server, the freed buffers of NIO's threads held as many request canaries with
/// the vault as without it. Install this allocator on every channel (server and child) so that
/// what a request brought in is gone from the heap when its buffers are:
///
/// ```swift
/// let bootstrap = ServerBootstrap(group: group)
///     .serverChannelOption(.allocator, value: WipingAllocator.byteBufferAllocator)
///     .childChannelOption(.allocator, value: WipingAllocator.byteBufferAllocator)
/// ```
///
/// The wipe covers the whole `malloc` block (`malloc_usable_size`), not only the bytes written.
/// It does not reach copies made outside `ByteBuffer` (a `String` or `Array` built from the
/// bytes): keep content in a request scope instead.
public enum WipingAllocator {
    /// The allocator; pass it as `ChannelOptions.allocator`.
    public static let byteBufferAllocator: ByteBufferAllocator = ByteBufferAllocator(
        allocate: zr_wiping_allocate,
        reallocate: zr_wiping_reallocate,
        deallocate: zr_wiping_deallocate,
        copy: zr_wiping_copy)
}
