#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An `errno` value from a failed system call, with its symbolic name. The one definition every
/// module uses (swift-system's `Errno` is the model): errors carry it, messages print its name.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    /// The number, as the kernel returned it.
    public let rawValue: Int32

    /// The errno `rawValue`.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`, read right after a failed call.
    public static var current: Errno { Errno(rawValue: errno) }

    public static let notPermitted = Errno(rawValue: EPERM)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let ioError = Errno(rawValue: EIO)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let tryAgain = Errno(rawValue: EAGAIN)
    public static let noMemory = Errno(rawValue: ENOMEM)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let notImplemented = Errno(rawValue: ENOSYS)
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)

    /// `EINTR`, `ENOMEM`, …; `errno N` for a value without a name here.
    public var name: String {
        switch rawValue {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case ESRCH: "ESRCH"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case EBADF: "EBADF"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EFAULT: "EFAULT"
        case EEXIST: "EEXIST"
        case ENOTDIR: "ENOTDIR"
        case EISDIR: "EISDIR"
        case EINVAL: "EINVAL"
        case EMFILE: "EMFILE"
        case ENOSPC: "ENOSPC"
        case EROFS: "EROFS"
        case ENOSYS: "ENOSYS"
        case ELOOP: "ELOOP"
        case EDQUOT: "EDQUOT"
        default: "errno \(rawValue)"
        }
    }

    /// `ENOENT (No such file or directory)`: the name and the C library's text. Never content.
    public var description: String { "\(name) (\(String(cString: strerror(rawValue))))" }
}

/// Runs `call` (a system call returning -1 and setting `errno` on failure) until it succeeds or
/// fails with anything but `EINTR`: the one retry loop (swift-system's `valueOrErrno`). A
/// `faults` plan is consulted on every attempt, inside the loop, so a forced `EINTR` exercises
/// the retry exactly as a real signal would.
@inline(__always)
public func retryingOnInterrupt<Value: FixedWidthInteger>(
    _ operation: SystemOperation, faults: FaultInjection? = nil, _ call: () -> Value
) -> Result<Value, Errno> {
    while true {
        if let forced = faults?.take(operation) {
            if forced == .interrupted { continue }
            return .failure(forced)
        }
        let value = call()
        if value != -1 { return .success(value) }
        let error = Errno.current
        if error != .interrupted { return .failure(error) }
    }
}
