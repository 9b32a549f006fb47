import Synchronization

/// The system calls a test can make fail. One name per call the modules make through this seam.
public enum SystemOperation: Hashable, Sendable {
    case open, read, write, fsync, fdatasync, ftruncate, flock, fstat, close, rename
}

/// Test hook: makes chosen system calls fail with a chosen `errno`, always or for the next N
/// attempts (swift-system's `ForceErrno.counted`). Armed per object that uses it, not per
/// process, so parallel tests do not interfere. Production code passes `nil`.
public final class FaultInjection: Sendable {
    /// How a forced failure repeats.
    public enum Plan: Hashable, Sendable {
        /// Every attempt fails.
        case always(Errno)
        /// The next `count` attempts fail, then the real call runs.
        case counted(Errno, count: Int)
    }

    private struct State {
        var plans: [SystemOperation: Plan] = [:]
        var forced: [SystemOperation: Int] = [:]
    }
    private let state = Mutex(State())

    /// No forced failures yet.
    public init() {}

    /// Makes `operation` fail by `plan` (`nil` disarms it).
    public func force(_ operation: SystemOperation, _ plan: Plan?) {
        state.withLock { $0.plans[operation] = plan }
    }

    /// How many failures were forced on `operation` so far.
    public func forcedCount(_ operation: SystemOperation) -> Int {
        state.withLock { $0.forced[operation, default: 0] }
    }

    /// The errno to force on this attempt of `operation`, or `nil` to make the real call.
    func take(_ operation: SystemOperation) -> Errno? {
        state.withLock { state in
            switch state.plans[operation] {
            case nil:
                return nil
            case .always(let error):
                state.forced[operation, default: 0] += 1
                return error
            case .counted(let error, let count):
                state.plans[operation] = count > 1 ? .counted(error, count: count - 1) : nil
                state.forced[operation, default: 0] += 1
                return error
            }
        }
    }
}
