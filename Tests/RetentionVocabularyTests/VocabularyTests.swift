import Testing
import RetentionVocabulary

@Suite("Vocabulary: ids, names and receipts carry metadata only")
struct VocabularyTests {
    @Test("a request id prints as 32 lowercase hex digits and parses back; nothing else parses")
    func requestIDText() {
        let id = RequestID(high: 0x0123_4567_89ab_cdef, low: 0x0000_0000_0000_00ff)
        #expect(id.description == "0123456789abcdef00000000000000ff")
        #expect(RequestID(id.description) == id)
        #expect(id.bytes == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0xff])
        for bad in ["", "0123456789ABCDEF00000000000000ff", "0123456789abcdef00000000000000f",
                    "0123456789abcdef00000000000000fff", "0123456789abcdef00000000000000fg"] {
            #expect(RequestID(bad) == nil, "\(bad.count) characters")
        }
    }

    @Test("identifiers are 1–64 characters of a-z 0-9 . _ -", arguments: [
        ("acme", true), ("tts-1.v2_b", true), (String(repeating: "a", count: 64), true),
        ("", false), (String(repeating: "a", count: 65), false), ("Acme", false), ("a b", false),
        ("é", false), ("a/b", false),
    ])
    func identifierShape(text: String, valid: Bool) {
        #expect((Identifier(text) != nil) == valid)
    }

    @Test("raw values are the on-disk format: existing cases keep their numbers")
    func stableRawValues() {
        #expect(Product.textToSpeech.rawValue == 1 && Product.video.rawValue == 11)
        #expect(DataClass.textInput.rawValue == 1 && DataClass.hostDefined.rawValue == 64)
        #expect(DiscardReason.completed.rawValue == 1 && DiscardReason.failed.rawValue == 5)
        #expect(MemoryBackend.secretmem.rawValue == 1 && MemoryBackend.unprotected.rawValue == 3)
        #expect(ExternalHolderKind.pinnedHostBuffer.rawValue == 7)
        #expect(UsageUnit.bytes.rawValue == 6)
    }

    @Test("a receipt's description names every field and no more")
    func receiptDescription() {
        let receipt = DiscardReceipt(
            requestID: RequestID(high: 1, low: 2), reason: .cancelled,
            openedAt: Timestamp(nanosecondsSinceEpoch: 10), firstContentAt: nil,
            discardedAt: Timestamp(nanosecondsSinceEpoch: 30), peakBytesHeld: 4, totalBytesHeld: 5,
            chunksWiped: 6, slotsWiped: 7, bytesVerifiedZero: 8, keyDestroyed: true, backend: .locked,
            aead: .aes256gcm, externalHolders: [ExternalHolderReport(kind: .kvCache, outcome: .timedOut)])
        #expect(receipt.description == "DiscardReceipt(00000000000000010000000000000002, cancelled, opened 10, first content none, discarded 30, peak 4 B, total 5 B, chunks 6, slots 7, verified zero 8 B, key destroyed true, locked, aes256gcm, holders [kv_cache: timed_out])")
    }
}
