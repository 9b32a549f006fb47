public import RetentionVocabulary

/// Pool counters at one moment.
public struct PoolStatistics: Hashable, Sendable, CustomStringConvertible {
    public var backend: MemoryBackend
    public var byteBudget: Int
    /// Bytes of locked memory mapped now (guard pages excluded). Counted against the budget.
    public var mappedBytes: Int
    /// Of ``mappedBytes``, the bytes of packed regions with no live buffer: the warm reserve,
    /// unmapped when the budget needs them. `mappedBytes - idleBytes` is what buffers hold.
    public var idleBytes = 0
    public var regions = 0
    /// Buffers handed out and not yet released.
    public var liveBuffers = 0
    /// Slots wiped since the pool was created.
    public var wipes: UInt64 = 0
    /// Bytes written with zeroes: a buffer's used bytes (the rest of its slot was already zero).
    public var bytesWiped: UInt64 = 0
    /// Bytes read back as zero after their wipe: whole slots.
    public var bytesVerifiedZero: UInt64 = 0
    /// Slots never reused because of an overrun or a failed verification.
    public var quarantinedSlots = 0
    /// Releases that found memory corruption (an overwritten canary, bytes written past a
    /// buffer's length, a wipe that did not read back as zero). Non-zero only under
    /// ``MemoryCorruptionPolicy/quarantineAndReport``: by default the process ends at the first.
    public var corruptionEvents = 0
    /// The most recent of those (sizes only, never content).
    public var lastCorruption: LockedMemoryError?

    public var description: String {
        "PoolStatistics(backend: \(backend), mapped: \(mappedBytes)/\(byteBudget) B, idle: \(idleBytes) B, regions: \(regions), live: \(liveBuffers), wipes: \(wipes), wiped: \(bytesWiped) B, verified zero: \(bytesVerifiedZero) B, quarantined: \(quarantinedSlots), corruption events: \(corruptionEvents)\(lastCorruption.map { " (last: \($0))" } ?? ""))"
    }
}
