import RetentionVocabulary

/// Coarsening applied before encoding when configured: exact sizes and durations can leak what
/// a request contained (a 3-character prompt versus a 3,000-character one).
enum Coarsening {
    /// Rounds up to the next power of two (0 stays 0).
    static func bucket(_ value: UInt64) -> UInt64 {
        guard value > 1 else { return value }
        let leading = (value - 1).leadingZeroBitCount
        guard leading > 0 else { return UInt64.max }
        return UInt64(1) << UInt64(64 - leading)
    }

    /// Whether every bucketed field of `record` holds a bucket value (what a bucketing writer
    /// would have produced).
    static func isBucketed(_ record: LedgerRecord) -> Bool {
        func ok(_ value: UInt64) -> Bool { bucket(value) == value }
        switch record.body {
        case .usage(let usage): return usage.counts.allSatisfy { ok($0.count) }
        case .discardReceipt(let r): return ok(r.peakBytesHeld) && ok(r.totalBytesHeld) && ok(r.bytesVerifiedZero)
        case .serviceHealth(let health): return ok(health.bytesHeld)
        case .requestOpened, .upstreamEgress, .policyDecision, .keyRotation, .checkpoint, .softwareIdentity, .witnessHealth: return true
        }
    }

    static func floor(_ timestamp: Timestamp, resolution: UInt64) -> Timestamp {
        guard resolution > 1 else { return timestamp }
        return Timestamp(nanosecondsSinceEpoch: timestamp.nanosecondsSinceEpoch / resolution * resolution)
    }

    static func apply(to record: inout LedgerRecord, bucketSizes: Bool, timestampResolution: UInt64) {
        // The default (exact sizes, nanosecond timestamps) changes nothing: skip the copies.
        guard bucketSizes || timestampResolution > 1 else { return }
        record.recordedAt = floor(record.recordedAt, resolution: timestampResolution)
        switch record.body {
        case .usage(var usage):
            if bucketSizes { usage.counts = usage.counts.map { UsageCount(unit: $0.unit, count: bucket($0.count)) } }
            record.body = .usage(usage)
        case .discardReceipt(var receipt):
            receipt.openedAt = floor(receipt.openedAt, resolution: timestampResolution)
            receipt.firstContentAt = receipt.firstContentAt.map { floor($0, resolution: timestampResolution) }
            receipt.discardedAt = floor(receipt.discardedAt, resolution: timestampResolution)
            if bucketSizes {
                receipt.peakBytesHeld = bucket(receipt.peakBytesHeld)
                receipt.totalBytesHeld = bucket(receipt.totalBytesHeld)
                receipt.bytesVerifiedZero = bucket(receipt.bytesVerifiedZero)
            }
            record.body = .discardReceipt(receipt)
        case .serviceHealth(var health):
            health.windowStart = floor(health.windowStart, resolution: timestampResolution)
            health.windowEnd = floor(health.windowEnd, resolution: timestampResolution)
            if bucketSizes { health.bytesHeld = bucket(health.bytesHeld) }
            record.body = .serviceHealth(health)
        case .requestOpened, .upstreamEgress, .policyDecision, .keyRotation, .checkpoint, .softwareIdentity, .witnessHealth:
            break
        }
    }
}
