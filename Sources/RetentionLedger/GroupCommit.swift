// Leader/follower group commit: the bookkeeping, with no I/O. It lives in the writer's state, so
// the writer lock guards it, and `Ledger` does the writes.
//
// A flush notes its target: how many records had been appended when it was called. If that many
// are durable it returns at once, with no syscall. Otherwise, if no round is running, it leads
// one: it takes everything pending (its own target and every earlier caller's), writes it, makes
// one fdatasync, and releases every waiter whose target that sync covered. If a round is running,
// it waits for that round to end. A waiter the round did not cover (it appended after the batch
// was taken) is handed the lead, oldest first. So no flush syncs records that are already durable,
// and no flush waits longer than the round in progress plus one more.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A flush waiting for the round in progress: a blocked `flush()` or a suspended `flushAsync()`.
enum FlushWaiter: Sendable {
    case thread(FlushParker)
    case task(UnsafeContinuation<Result<Void, LedgerError>, Never>)

    /// Wakes the waiter with its flush's result.
    func release(_ result: Result<Void, LedgerError>) {
        switch self {
        case .thread(let parker):
            switch result {
            case .success: parker.wake(.durable)
            case .failure(let error): parker.wake(.failed(error))
            }
        case .task(let continuation):
            continuation.resume(returning: result)
        }
    }
}

/// Who leads rounds and who waits for them.
struct GroupCommit: Sendable {
    /// A round is running, or has been handed to a waiter that is about to run it.
    var roundInProgress = false
    /// Flushes waiting for the round in progress, in arrival order, each with its target.
    private(set) var waiters: [(target: UInt64, waiter: FlushWaiter)] = []
    /// fdatasync calls made by rounds (tests count them).
    var syncCount: UInt64 = 0

    mutating func wait(for target: UInt64, _ waiter: FlushWaiter) {
        waiters.append((target, waiter))
    }

    /// Ends the round in progress. Returns the waiters it releases, in arrival order: every waiter
    /// whose target is now durable, or all of them if the round failed. Also returns the oldest
    /// waiter not yet covered, which leads the next round; after a failure there is none.
    mutating func endRound(durableCount: UInt64, failed: Bool) -> RoundEnd {
        var released: [FlushWaiter] = []
        var remaining: [(target: UInt64, waiter: FlushWaiter)] = []
        for entry in waiters {
            if failed || entry.target <= durableCount {
                released.append(entry.waiter)
            } else {
                remaining.append(entry)
            }
        }
        let next = remaining.isEmpty ? nil : remaining.removeFirst()
        waiters = remaining
        roundInProgress = next != nil
        return RoundEnd(released: released, nextLeader: next?.waiter)
    }
}

/// Whom a round wakes when it ends.
struct RoundEnd: Sendable {
    /// Waiters whose flush is over, in arrival order.
    var released: [FlushWaiter]
    /// The waiter that leads the next round, if any is not yet covered.
    var nextLeader: FlushWaiter?
}

/// What a blocked `flush()` learns when the round it waited for ends.
enum FlushOutcome: Sendable {
    /// Its target is durable.
    case durable
    /// Its target is not durable yet, and it leads the next round.
    case lead
    /// The round failed, or it could not save an evolved key.
    case failed(LedgerError)
}
