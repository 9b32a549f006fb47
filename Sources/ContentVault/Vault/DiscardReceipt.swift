import RetentionLedger

// `DiscardReason`, `ExternalHolderKind`, `ExternalHolderOutcome` and `ExternalHolderReport` are
// the ledger vocabulary's (RetentionLedger), re-exported by ContentVault: one definition, so a
// receipt maps into a `DiscardReceiptRecord` field by field.

/// Proof of one discard, with no content: what was held, how it ended and what was wiped.
///
/// The vault produces exactly one receipt per scope, at its discard, and hands it to the
/// vault's receipt handler (see ``Vault/setReceiptHandler(_:)``) for the ledger.
public struct DiscardReceipt: Sendable, Hashable, CustomStringConvertible {
    /// The vault-generated request id.
    public var requestID: RequestID
    /// How the request ended.
    public var reason: DiscardReason
    /// When the scope was opened: nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
    public var openedAt: UInt64
    /// When the first content was sealed into the scope, if any.
    public var firstContentAt: UInt64?
    /// When the discard completed.
    public var discardedAt: UInt64
    /// Most plaintext bytes the scope held sealed at one time.
    public var peakBytesHeld: UInt64
    /// Plaintext bytes sealed over the scope's life.
    public var totalBytesHeld: UInt64
    /// Sealed chunks wiped at discard.
    public var chunksWiped: Int
    /// Content slots (data classes with content) and transfer slots wiped at discard.
    public var slotsWiped: Int
    /// Bytes read back as zero after their wipe: chunk memory, keys and transfer slots
    /// (slot capacities, so at least the bytes held plus the authentication tags).
    public var bytesVerifiedZero: UInt64
    /// Whether every key of the scope (one per slot and key generation) was wiped and verified zero.
    /// When `true`, any copy of the ciphertext that escaped is unrecoverable.
    public var keyDestroyed: Bool
    /// The memory backend that held the scope's keys and chunks.
    public var backend: MemoryBackend
    /// The AEAD that sealed the chunks.
    public var aead: AEADAlgorithm
    /// Each registered external holder and what its wipe reported, in registration order.
    public var externalHolders: [ExternalHolderReport]
    /// Whether releasing one of the scope's buffers found memory corruption (a write past a
    /// buffer, or a wipe that did not hold); only possible under
    /// ``MemoryCorruptionPolicy/quarantineAndReport``, since by default the process ends there.
    /// Not yet carried into ``ledgerRecord``.
    public var memoryCorruptionDetected: Bool

    /// A receipt; the vault makes these at discard (public so the ledger and tests can build
    /// them).
    public init(
        requestID: RequestID, reason: DiscardReason, openedAt: UInt64, firstContentAt: UInt64?,
        discardedAt: UInt64, peakBytesHeld: UInt64, totalBytesHeld: UInt64, chunksWiped: Int,
        slotsWiped: Int, bytesVerifiedZero: UInt64, keyDestroyed: Bool, backend: MemoryBackend,
        aead: AEADAlgorithm, externalHolders: [ExternalHolderReport], memoryCorruptionDetected: Bool = false
    ) {
        self.requestID = requestID
        self.reason = reason
        self.openedAt = openedAt
        self.firstContentAt = firstContentAt
        self.discardedAt = discardedAt
        self.peakBytesHeld = peakBytesHeld
        self.totalBytesHeld = totalBytesHeld
        self.chunksWiped = chunksWiped
        self.slotsWiped = slotsWiped
        self.bytesVerifiedZero = bytesVerifiedZero
        self.keyDestroyed = keyDestroyed
        self.backend = backend
        self.aead = aead
        self.externalHolders = externalHolders
        self.memoryCorruptionDetected = memoryCorruptionDetected
    }

    /// Every field is metadata, so the description shows them all.
    public var description: String {
        let holders = externalHolders.map { "\($0.kind): \($0.outcome)" }.joined(separator: ", ")
        return "DiscardReceipt(\(requestID), \(reason), opened \(openedAt), first content \(firstContentAt.map(String.init) ?? "none"), discarded \(discardedAt), peak \(peakBytesHeld) B, total \(totalBytesHeld) B, chunks \(chunksWiped), slots \(slotsWiped), verified zero \(bytesVerifiedZero) B, key destroyed \(keyDestroyed), \(backend), \(aead), holders [\(holders)]\(memoryCorruptionDetected ? ", MEMORY CORRUPTION DETECTED" : ""))"
    }
}

extension DiscardReceipt {
    /// The ledger's record of this receipt, field by field (timestamps as `LedgerTimestamp`).
    public var ledgerRecord: DiscardReceiptRecord {
        DiscardReceiptRecord(
            requestID: requestID, reason: reason,
            openedAt: LedgerTimestamp(nanosecondsSinceEpoch: openedAt),
            firstContentAt: firstContentAt.map { LedgerTimestamp(nanosecondsSinceEpoch: $0) },
            discardedAt: LedgerTimestamp(nanosecondsSinceEpoch: discardedAt),
            peakBytesHeld: peakBytesHeld, totalBytesHeld: totalBytesHeld,
            chunksWiped: UInt64(chunksWiped), slotsWiped: UInt64(slotsWiped),
            bytesVerifiedZero: bytesVerifiedZero, keyDestroyed: keyDestroyed,
            backend: backend, aead: aead, externalHolders: externalHolders)
    }
}
