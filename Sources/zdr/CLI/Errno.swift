#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `ENOENT (No such file or directory)`: an errno rendered for messages. Never includes content.
func describeErrno(_ code: Int32) -> String {
    let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        EBADF: "EBADF", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EEXIST: "EEXIST",
        ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENOSPC: "ENOSPC", ENOSYS: "ENOSYS",
        EAGAIN: "EAGAIN", EROFS: "EROFS",
    ]
    let name = names[code] ?? "errno \(code)"
    return "\(name) (\(String(cString: strerror(code))))"
}
