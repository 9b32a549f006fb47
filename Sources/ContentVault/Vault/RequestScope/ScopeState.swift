#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RetentionVocabulary

struct ExternalHolder: Sendable {
    let kind: ExternalHolderKind
    let wipe: @Sendable () -> ExternalHolderOutcome
}

struct ScopeState: Sendable {
    var slots = SlotTable()
    var transferSlots: [TransferSlot] = []
    var holders: [ExternalHolder] = []
    /// Set with `isDiscarded` by the one discard that ran.
    var receipt: DiscardReceipt?
    /// A flag beside the receipt: the open check runs on every operation, and testing the large
    /// optional receipt for nil went through a generic value witness.
    var isDiscarded = false

    var firstContentAt: UInt64?
    var bytesHeld: UInt64 = 0
    var peakBytesHeld: UInt64 = 0
    var totalBytesHeld: UInt64 = 0
    var chunksWiped = 0
    var slotsWiped = 0
    var bytesVerifiedZero: UInt64 = 0
    var keysVerified = true
    /// A release of one of the scope's buffers found memory corruption (quarantine-and-report).
    var memoryCorrupted = false

    init() {}

    mutating func recordSealed(_ count: Int) {
        if firstContentAt == nil { firstContentAt = realtimeNanoseconds() }
        bytesHeld += UInt64(count)
        totalBytesHeld += UInt64(count)
        peakBytesHeld = max(peakBytesHeld, bytesHeld)
    }

    /// Draws the slot's next key generation (the first on first use) into locked memory; the
    /// previous key is retired (it still opens the stream's older chunks).
    static func rotateKey(
        _ slot: inout SlotState, dataClass: DataClass, pool: SecureMemoryPool
    ) throws(VaultError) {
        var next = slot.generation
        if slot.everKeyed {
            guard slot.generation < UInt32.max else { throw .keyLimitReached(slot: dataClass) }
            next = slot.generation + 1
        }
        var key: LockedBuffer
        key = try allocateLocked(pool, byteCount: AEADAlgorithm.keyByteCount, purpose: .key)
        try key.withUnsafeMutableBytes { (output) throws(VaultError) in try KeyGenerator.fill(output) }
        if slot.chunks.isEmpty {
            // A fresh stream (first use or after a slot wipe). Nonces need to be unique per key,
            // not random: every generation is a new random key, and the chunk index counts
            // within it, so (key, nonce) never repeats. The prefix names the generation and
            // class.
            slot.noncePrefix = (UInt64(next), UInt64(dataClass.rawValue))
        }
        if let previous = slot.currentKey { slot.retiredKeys.append(previous) }
        slot.currentKey = KeyBox(key, generation: next)
        slot.generation = next
        slot.everKeyed = true
        slot.bytesUnderCurrentKey = 0
    }

    /// Wipes a slot's chunks and keys, counting them; generations keep counting so a new
    /// stream in this slot never reuses a key.
    mutating func wipe(_ slot: inout SlotState) {
        guard !slot.chunks.isEmpty || slot.currentKey != nil || !slot.retiredKeys.isEmpty else { return }
        for chunk in slot.chunks {
            guard let buffer = chunk.buffer.take() else { continue }
            let capacity = buffer.capacity
            do {
                try buffer.release()
                bytesVerifiedZero += UInt64(capacity)
            } catch {
                memoryCorrupted = true
            }
            chunksWiped += 1
            bytesHeld = bytesHeld > UInt64(chunk.plaintextCount) ? bytesHeld - UInt64(chunk.plaintextCount) : 0
        }
        if !slot.chunks.isEmpty { slotsWiped += 1 }
        if let key = slot.currentKey { releaseKey(key) }
        for key in slot.retiredKeys { releaseKey(key) }
        slot.chunks.removeAll()
        slot.currentKey = nil
        slot.retiredKeys.removeAll()
        slot.bytesUnderCurrentKey = 0
        slot.plaintextBytes = 0
        slot.finished = false
    }

    mutating func releaseKey(_ key: KeyBox) {
        guard let buffer = key.buffer.take() else { return }
        let capacity = buffer.capacity
        do {
            try buffer.release()
            bytesVerifiedZero += UInt64(capacity)
        } catch {
            keysVerified = false
            memoryCorrupted = true
        }
    }

    /// The discard itself: external holders first (they may still need the vault's memory to
    /// exist), then transfer slots, then chunks, then keys.
    mutating func discard(
        reason: DiscardReason, id: RequestID, openedAt: UInt64, backend: MemoryBackend, aead: AEADAlgorithm
    ) -> DiscardReceipt {
        let records = holders.map { ExternalHolderReport(kind: $0.kind, outcome: $0.wipe()) }
        holders.removeAll()
        for transfer in transferSlots {
            if let verified = transfer.release() {
                bytesVerifiedZero += verified
                slotsWiped += 1
            }
        }
        transferSlots.removeAll()
        // Moved out (not copied: a copy retains and releases every slot reference) so the wipe
        // can update this state's counters while it walks the slots.
        var table = SlotTable()
        swap(&table, &slots)
        table.forEachSlot { wipe(&$0) }
        return DiscardReceipt(
            requestID: id, reason: reason, openedAt: Timestamp(nanosecondsSinceEpoch: openedAt),
            firstContentAt: firstContentAt.map(Timestamp.init(nanosecondsSinceEpoch:)),
            discardedAt: .now(), peakBytesHeld: peakBytesHeld, totalBytesHeld: totalBytesHeld,
            chunksWiped: UInt64(chunksWiped), slotsWiped: UInt64(slotsWiped), bytesVerifiedZero: bytesVerifiedZero,
            keyDestroyed: keysVerified, backend: backend, aead: aead, externalHolders: records,
            memoryCorruptionDetected: memoryCorrupted)
    }
}

/// Nanoseconds since the Unix epoch from `CLOCK_REALTIME`.
func realtimeNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
