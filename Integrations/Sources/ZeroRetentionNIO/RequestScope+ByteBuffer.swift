public import ContentVault
public import NIOCore
public import RetentionVocabulary

extension RequestScope {
    /// Seals the readable bytes of `buffer` into `dataClass`, zeroes them where NIO keeps them,
    /// and moves the reader index past them.
    ///
    /// The zeroing reaches the storage every copy and slice of `buffer` shares, on purpose: a
    /// body part is usually a slice of the socket's read buffer or of the HTTP decoder's
    /// cumulation buffer, and a mutable access (`withUnsafeMutableReadableBytes`) would first
    /// copy shared storage and zero only the copy, leaving the request in NIO's buffer (where an
    /// idle keep-alive connection keeps it). Other views of those bytes read zeros afterwards;
    /// NIO has already consumed them when it hands a body part on.
    ///
    /// The bytes are zeroed when sealing fails too (nothing of the content is left behind); the
    /// reader index then stays where it was.
    ///
    /// ```swift
    /// for try await var part in request.body {
    ///     try scope.append(to: .audioInput, ingesting: &part)
    /// }
    /// ```
    public func append(to dataClass: DataClass, ingesting buffer: inout ByteBuffer, final: Bool = false) throws(VaultError) {
        let count = buffer.readableBytes
        try buffer.withUnsafeReadableBytes { (bytes) throws(VaultError) in
            // Read-only access never copies shared storage, so the wipe below lands on NIO's bytes.
            try self.append(to: dataClass, ingesting: UnsafeMutableRawBufferPointer(mutating: bytes), final: final)
        }
        buffer.moveReaderIndex(forwardBy: count)
    }
}
