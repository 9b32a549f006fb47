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

extension WipingAllocator {
    /// A `ByteBuffer` from this allocator holding a copy of `bytes`: how a chunk decrypted from
    /// a scope goes out to a writer (zeroed when NIO has written and freed it).
    public static func buffer(copying bytes: RawSpan) -> ByteBuffer {
        var buffer = byteBufferAllocator.buffer(capacity: bytes.byteCount)
        bytes.withUnsafeBytes { _ = buffer.writeBytes($0) }
        return buffer
    }
}

extension WipingAllocator {
    /// A `ByteBuffer` from this allocator of up to `capacity` bytes, filled by `body` through a
    /// `MutableRawSpan` (it returns how many bytes it wrote): how a response is built from a
    /// scope's plaintext (escaped, transformed) without an intermediate copy.
    ///
    /// - Throws: what `body` throws; a count outside `0...capacity` is a programming error.
    public static func buffer<E: Error>(
        capacity: Int, filling body: (inout MutableRawSpan) throws(E) -> Int
    ) throws(E) -> ByteBuffer {
        var buffer = byteBufferAllocator.buffer(capacity: capacity)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { (bytes) throws(E) -> Int in
            // The span covers exactly the writable bytes and does not outlive this closure.
            var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(rebasing: bytes[..<capacity]))
            let written = try body(&span)
            precondition((0...capacity).contains(written), "WipingAllocator.buffer: written count out of range")
            return written
        }
        return buffer
    }
}

extension ByteBuffer {
    /// Zeroes the readable bytes where they are stored, in the storage every copy and slice of
    /// this buffer shares (a mutable access would copy shared storage and zero only the copy).
    /// For a body part refused before it could be sealed (over a limit, say).
    public func zeroReadableBytes() {
        withUnsafeReadableBytes { bytes in
            // Read-only access never copies; the memory is NIO's heap storage, writable.
            if let base = bytes.baseAddress { UnsafeMutableRawPointer(mutating: base).initializeMemory(as: UInt8.self, repeating: 0, count: bytes.count) }
        }
    }
}
