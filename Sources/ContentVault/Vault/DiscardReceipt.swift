import RetentionLedger

/// Why a scope was discarded.
public enum DiscardReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The request finished normally.
    case completed = 1
    /// The request's task was cancelled (client went away, timeout upstream).
    case cancelled = 2
    /// The scope outlived its time-to-live and the reaper discarded it.
    case expired = 3
    /// The vault purged every open scope (shutdown, operator action).
    case purged = 4
    /// The request failed (the body threw).
    case failed = 5

    public var description: String {
        switch self {
        case .completed: return "completed"
        case .cancelled: return "cancelled"
        case .expired: return "expired"
        case .purged: return "purged"
        case .failed: return "failed"
        }
    }
}

/// What an external holder's wipe reported.
public enum ExternalHolderOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The holder wiped (or released to a wiping allocator) what it held.
    case wiped
    /// The holder held nothing for this request by the time of discard.
    case nothingHeld
    /// The wipe failed; `code` is a host-defined number (an errno, a CUDA error), never text.
    case failed(code: Int32)

    public var description: String {
        switch self {
        case .wiped: return "wiped"
        case .nothingHeld: return "nothing held"
        case .failed(let code): return "failed(\(code))"
        }
    }
}

/// The kind of a copy the vault cannot see, registered by the host so discard can reach it.
public enum ExternalHolderKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Attention key/value cache blocks.
    case kvCache = 1
    /// A device (GPU) buffer.
    case gpuBuffer = 2
    /// Pinned host memory used for DMA.
    case pinnedHostBuffer = 3
    /// A framework allocator's cache (PyTorch's caching allocator and the like).
    case frameworkCache = 4
    /// An application cache entry.
    case cacheEntry = 5
    /// Anything else the host holds.
    case other = 255

    public var description: String {
        switch self {
        case .kvCache: return "kv-cache"
        case .gpuBuffer: return "gpu-buffer"
        case .pinnedHostBuffer: return "pinned-host-buffer"
        case .frameworkCache: return "framework-cache"
        case .cacheEntry: return "cache-entry"
        case .other: return "other"
        }
    }
}

/// One external holder's line in a receipt.
public struct ExternalHolderRecord: Sendable, Hashable, CustomStringConvertible {
    /// What the holder held.
    public var kind: ExternalHolderKind
    /// What its wipe callback reported.
    public var outcome: ExternalHolderOutcome

    /// A record; the vault makes these at discard (public for tests and ledger mapping).
    public init(kind: ExternalHolderKind, outcome: ExternalHolderOutcome) {
        self.kind = kind
        self.outcome = outcome
    }

    public var description: String { "\(kind): \(outcome)" }
}

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
    /// Whether every key of the scope (master and per-slot) was wiped and verified zero.
    /// When `true`, any copy of the ciphertext that escaped is unrecoverable.
    public var keyDestroyed: Bool
    /// The memory backend that held the scope's keys and chunks.
    public var backend: MemoryBackend
    /// The AEAD that sealed the chunks.
    public var aead: AEADAlgorithm
    /// Each registered external holder and what its wipe reported, in registration order.
    public var externalHolders: [ExternalHolderRecord]

    /// A receipt; the vault makes these at discard (public so the ledger and tests can build
    /// them).
    public init(
        requestID: RequestID, reason: DiscardReason, openedAt: UInt64, firstContentAt: UInt64?,
        discardedAt: UInt64, peakBytesHeld: UInt64, totalBytesHeld: UInt64, chunksWiped: Int,
        slotsWiped: Int, bytesVerifiedZero: UInt64, keyDestroyed: Bool, backend: MemoryBackend,
        aead: AEADAlgorithm, externalHolders: [ExternalHolderRecord]
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
    }

    /// Every field is metadata, so the description shows them all.
    public var description: String {
        let holders = externalHolders.map(\.description).joined(separator: ", ")
        return "DiscardReceipt(\(requestID), \(reason), opened \(openedAt), first content \(firstContentAt.map(String.init) ?? "none"), discarded \(discardedAt), peak \(peakBytesHeld) B, total \(totalBytesHeld) B, chunks \(chunksWiped), slots \(slotsWiped), verified zero \(bytesVerifiedZero) B, key destroyed \(keyDestroyed), \(backend), \(aead), holders [\(holders)])"
    }
}
