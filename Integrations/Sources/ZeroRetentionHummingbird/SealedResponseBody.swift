public import ContentVault
public import HummingbirdCore
import NIOCore
public import RetentionVocabulary
import ZeroRetentionNIO

extension ResponseBody {
    /// A body that writes `dataClass`'s content from `scope`, one sealed chunk at a time, and
    /// discards the scope when it ends: `.completed` after the last byte is written, `.failed`
    /// when a write fails (the client went away) or a chunk does not open, `.cancelled` when the
    /// task is cancelled.
    ///
    /// Each chunk is decrypted into locked scratch, copied into a ``ZeroRetentionNIO/WipingAllocator``
    /// `ByteBuffer` (zeroed when NIO has written and freed it) and written before the next chunk
    /// is opened, so at most one chunk's plaintext is outside the vault at a time. The scope must
    /// stay open until then: do not discard it in the handler (a `defer { discard }` there ends
    /// the scope before Hummingbird writes the body, and the client gets an empty 200).
    ///
    /// ```swift
    /// router.post("/v1/text-to-speech") { request, context in
    ///     let scope = try vault.openScope()
    ///     // … synthesize into scope's .audioOutput slot …
    ///     return Response(status: .ok, body: .sealedContent(of: .audioOutput, in: scope))
    /// }
    /// ```
    ///
    /// - Parameter onDiscard: called once with the receipt, however the body ended (record it).
    public static func sealedContent(
        of dataClass: DataClass, in scope: RequestScope,
        onDiscard: @escaping @Sendable (DiscardReceipt) -> Void = { _ in }
    ) -> ResponseBody {
        ResponseBody(contentLength: try? scope.byteCount(of: dataClass)) { writer in
            var index = 0
            do {
                while let chunk = try scope.withChunk(of: dataClass, at: index, thrownErrors: .passThrough, { plaintext in
                    var buffer = WipingAllocator.byteBufferAllocator.buffer(capacity: plaintext.byteCount)
                    plaintext.withUnsafeBytes { _ = buffer.writeBytes($0) }
                    return buffer
                }) {
                    try await writer.write(chunk)
                    index += 1
                }
                try await writer.finish(nil)
            } catch {
                onDiscard(scope.discard(reason: Task.isCancelled ? .cancelled : .failed))
                throw error
            }
            onDiscard(scope.discard(reason: .completed))
        }
    }
}

extension ResponseBody {
    /// A body that `produce` writes while it reads the request (full duplex: partial
    /// transcripts out while audio comes in), and that discards `scope` when it ends, as
    /// ``sealedContent(of:in:onDiscard:)`` does: `.completed` after `produce` returns and the
    /// body is finished, `.failed` when it throws (the client went away, a chunk did not open),
    /// `.cancelled` on task cancellation.
    ///
    /// Write only ``ZeroRetentionNIO/WipingAllocator`` buffers (`WipingAllocator.buffer(copying:)`,
    /// `WipingAllocator.buffer(capacity:filling:)`), so that what went out is zeroed when freed.
    public static func streaming(
        in scope: RequestScope,
        onDiscard: @escaping @Sendable (DiscardReceipt) -> Void = { _ in },
        _ produce: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> ResponseBody {
        ResponseBody { writer in
            do {
                try await produce(&writer)
                try await writer.finish(nil)
            } catch {
                onDiscard(scope.discard(reason: Task.isCancelled ? .cancelled : .failed))
                throw error
            }
            onDiscard(scope.discard(reason: .completed))
        }
    }
}
