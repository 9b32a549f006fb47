/// Why a ``DeclaredLogHandler`` removed something. The reason is all that is kept of it: the
/// dropped text itself is never stored, counted by value or shown.
public enum LogDropReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A whole record was dropped: its message is not a declared event name.
    case undeclaredEvent = "undeclared_event"
    /// A metadata entry was removed: its key is not declared.
    case undeclaredKey = "undeclared_key"
    /// A metadata entry was removed: its value does not have the key's declared shape.
    case malformedValue = "malformed_value"
    /// A metadata entry was removed: its value is a dictionary or an array, which no shape accepts.
    case nestedValue = "nested_value"
    /// The error attached to a record was removed (its description is free text).
    case attachedError = "attached_error"

    public var description: String { rawValue }
}

/// How much each ``DeclaredLogHandler`` sharing this instance dropped and forwarded, so an
/// operator can alert on drops (a drop is a code path that tried to log undeclared text).
///
/// Thread-safe; copies of a handler (every `Logger` copy holds one) share the same counters.
///
/// ```swift
/// let drops = LogDropCounters()
/// // ... bootstrap DeclaredLogHandler(wrapping:schema:drops:) with it ...
/// if drops.total > 0 {
///     print("undeclared logging: \(drops.total) drops, \(drops.count(of: .undeclaredEvent)) whole records")
/// }
/// ```
public final class LogDropCounters: @unchecked Sendable {
    private let lock = PthreadLock()
    private var drops: [LogDropReason: UInt64] = [:]
    private var forwarded: UInt64 = 0

    public init() {}

    /// Drops of one kind so far.
    public func count(of reason: LogDropReason) -> UInt64 {
        lock.withLock { drops[reason] ?? 0 }
    }

    /// Drops of every kind so far; every reason is present, with 0 if it never happened.
    public var snapshot: [LogDropReason: UInt64] {
        lock.withLock { Dictionary(uniqueKeysWithValues: LogDropReason.allCases.map { ($0, drops[$0] ?? 0) }) }
    }

    /// All drops so far, whatever the reason.
    public var total: UInt64 {
        lock.withLock { drops.values.reduce(0, &+) }
    }

    /// Records handed to the upstream handler so far.
    public var forwardedEvents: UInt64 {
        lock.withLock { forwarded }
    }

    func record(_ reason: LogDropReason) {
        lock.withLock { drops[reason, default: 0] &+= 1 }
    }

    /// Adds one record's drops, and the record itself if it was forwarded, under one lock.
    func record(_ tally: DropTally, forwardedRecord: Bool = false) {
        guard forwardedRecord || !tally.isEmpty else { return }
        lock.withLock {
            for (reason, times) in tally.counts { drops[reason, default: 0] &+= times }
            if forwardedRecord { forwarded &+= 1 }
        }
    }
}

/// Drops counted while one record is filtered, added to the shared counters under one lock.
struct DropTally {
    var counts: [LogDropReason: UInt64] = [:]
    var isEmpty: Bool { counts.isEmpty }
    mutating func add(_ reason: LogDropReason) { counts[reason, default: 0] += 1 }
}
