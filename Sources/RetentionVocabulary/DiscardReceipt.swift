// The discard receipt: defined once, here, so that the vault that produces it and the ledger
// that encodes it (record kind `discard_receipt`) share every field.

/// Proof of one discard, with no content: what was held, how it ended and what was wiped.
///
/// The vault produces exactly one receipt per scope, at its discard, and hands it to the
/// vault's receipt handler (see `Vault.setReceiptHandler(_:)`) for the ledger.
public struct DiscardReceipt: Sendable, Hashable, CustomStringConvertible {
    /// The vault-generated request id.
    public var requestID: RequestID
    /// How the request ended.
    public var reason: DiscardReason
    /// When the scope was opened (`CLOCK_REALTIME`).
    public var openedAt: Timestamp
    /// When the first content was sealed into the scope, if any.
    public var firstContentAt: Timestamp?
    /// When the discard completed.
    public var discardedAt: Timestamp
    /// Most plaintext bytes the scope held sealed at one time.
    public var peakBytesHeld: UInt64
    /// Plaintext bytes sealed over the scope's life.
    public var totalBytesHeld: UInt64
    /// Sealed chunks wiped at discard.
    public var chunksWiped: UInt64
    /// Content slots (data classes with content) and transfer slots wiped at discard.
    public var slotsWiped: UInt64
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
    /// Each registered external holder and what its wipe reported, in registration order; at
    /// most ``maximumExternalHolders``.
    public var externalHolders: [ExternalHolderReport]
    /// Whether releasing one of the scope's buffers found memory corruption (a write past a
    /// buffer, or a wipe that did not hold); only possible under
    /// `MemoryCorruptionPolicy.quarantineAndReport`, since by default the process ends there.
    /// The ledger records it (discard-receipt field `memory_corruption`).
    public var memoryCorruptionDetected: Bool

    /// Most external holders one receipt may list (the ledger record's bound).
    public static let maximumExternalHolders = 32

    /// A receipt. The vault makes these at discard and the ledger's decoder reads them back;
    /// public so that an auditor's tools and tests can build one to check against (every field
    /// is metadata, so a hand-built receipt carries no content either).
    public init(
        requestID: RequestID, reason: DiscardReason, openedAt: Timestamp, firstContentAt: Timestamp?,
        discardedAt: Timestamp, peakBytesHeld: UInt64, totalBytesHeld: UInt64, chunksWiped: UInt64,
        slotsWiped: UInt64, bytesVerifiedZero: UInt64, keyDestroyed: Bool, backend: MemoryBackend,
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
        return "DiscardReceipt(\(requestID), \(reason), opened \(openedAt), first content \(firstContentAt.map(\.description) ?? "none"), discarded \(discardedAt), peak \(peakBytesHeld) B, total \(totalBytesHeld) B, chunks \(chunksWiped), slots \(slotsWiped), verified zero \(bytesVerifiedZero) B, key destroyed \(keyDestroyed), \(backend), \(aead), holders [\(holders)]\(memoryCorruptionDetected ? ", MEMORY CORRUPTION DETECTED" : ""))"
    }
}

/// One external holder's wipe outcome.
public struct ExternalHolderReport: Sendable, Hashable {
    /// What kind of holder it was.
    public var kind: ExternalHolderKind
    /// What its wipe reported.
    public var outcome: ExternalHolderOutcome

    /// A report of one holder's wipe.
    public init(kind: ExternalHolderKind, outcome: ExternalHolderOutcome) {
        self.kind = kind
        self.outcome = outcome
    }
}
