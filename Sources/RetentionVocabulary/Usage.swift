/// The unit a usage count is measured in.
public enum UsageUnit: UInt8, Sendable, Hashable, CaseIterable {
    case characters = 1
    case tokensIn = 2
    case tokensOut = 3
    case audioMillisecondsIn = 4
    case audioMillisecondsOut = 5
    case bytes = 6
}

/// One usage measurement: how much of a unit a request used (billing metadata, never content).
public struct UsageCount: Sendable, Hashable {
    /// What is counted.
    public var unit: UsageUnit
    /// How many.
    public var count: UInt64

    /// A count of `count` in `unit`.
    public init(unit: UsageUnit, count: UInt64) {
        self.unit = unit
        self.count = count
    }
}
