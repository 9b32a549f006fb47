public import ContentVault
public import HummingbirdCore
import NIOCore
public import RetentionVocabulary
import ZeroRetentionNIO

extension ResponseBody {
    /// A body that writes `dataClass`'s content from `scope` and discards the scope.
    ///
    /// - Content up to 64 KiB (a TTS clip, a transcript, a completion) is opened, chunk by
    ///   chunk, into one ``ZeroRetentionNIO/WipingAllocator`` `ByteBuffer` when the body is
    ///   made, and the scope is discarded then (`.completed`): Hummingbird sends head and body
    ///   in one write, as it does for any one-buffer body, and the plaintext is only in that
    ///   buffer, which NIO zeroes when it has written and freed it. The receipt cannot tell
    ///   whether the client read the bytes; it says the content left the vault.
    /// - Larger content is written one sealed chunk at a time: each is decrypted into locked
    ///   scratch, copied into a wiping buffer and written before the next is opened, so at most
    ///   one chunk's plaintext is outside the vault at a time. The scope is discarded when the
    ///   body ends: `.completed` after the last byte is written, `.failed` when a write fails
    ///   (the client went away) or a chunk does not open, `.cancelled` when the task is cancelled.
    ///
    /// Either way, do not discard the scope in the handler yourself (a `defer { discard }`
    /// there ends a large body's scope before Hummingbird writes it, and the client gets an
    /// empty 200).
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
        let byteCount = try? scope.byteCount(of: dataClass)
        if let byteCount, byteCount <= singleWriteLimit, let whole = try? openWhole(dataClass, of: byteCount, in: scope) {
            onDiscard(scope.discard(reason: .completed))
            return ResponseBody(byteBuffer: whole)
        }
        return ResponseBody(contentLength: byteCount) { writer in
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
    /// Content up to this size goes out in the response's one write: a closure body costs
    /// Hummingbird three separate writes to the channel (head, each chunk, end).
    static let singleWriteLimit = 64 << 10

    /// Every chunk of `dataClass`, opened one at a time into one wiping buffer (zeroed when
    /// dropped, so a chunk that fails to open leaves nothing behind).
    private static func openWhole(_ dataClass: DataClass, of byteCount: Int, in scope: RequestScope) throws -> ByteBuffer {
        var buffer = WipingAllocator.byteBufferAllocator.buffer(capacity: byteCount)
        var index = 0
        while try scope.withChunk(of: dataClass, at: index, thrownErrors: .passThrough, { plaintext in
            plaintext.withUnsafeBytes { _ = buffer.writeBytes($0) }
        }) != nil {
            index += 1
        }
        return buffer
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
