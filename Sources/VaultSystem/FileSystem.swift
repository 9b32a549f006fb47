#if canImport(Glibc)
public import Glibc
#elseif canImport(Musl)
public import Musl
#endif

/// File-descriptor calls behind one seam: each retries `EINTR` in one place and, in tests, can be
/// made to fail through a ``FaultInjection``. The ledger, the policy loader and the CLI do their
/// file I/O through this (the memory layer has its own seam for mmap and mlock).
public struct FileSystem: Sendable {
    /// Forced failures; `nil` in production.
    public let faults: FaultInjection?

    /// The real calls, with nothing forced.
    public static let live = FileSystem(faults: nil)

    /// Calls that consult `faults` first.
    public init(faults: FaultInjection?) { self.faults = faults }

    /// `open(2)` with `O_CLOEXEC` added.
    public func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try retryingOnInterrupt(.open, faults: faults) { Glibc.open(path, flags | O_CLOEXEC, mode) }.get()
    }

    /// `read(2)` into `buffer`: bytes read, 0 at end of input.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingOnInterrupt(.read, faults: faults) { Glibc.read(fd, buffer.baseAddress, buffer.count) }.get()
    }

    /// `pread(2)` at `offset`: bytes read, 0 at end of file.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(Errno) -> Int {
        try retryingOnInterrupt(.read, faults: faults) { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }.get()
    }

    /// `read(2)` into `buffer`: bytes read, 0 at end of input.
    public func read(_ fd: Int32, into buffer: inout MutableSpan<UInt8>) throws(Errno) -> Int {
        try buffer.withUnsafeMutableBytes { (raw) throws(Errno) in try read(fd, into: raw) }
    }

    /// `pread(2)` into `buffer` at `offset`: bytes read, 0 at end of file.
    public func read(_ fd: Int32, into buffer: inout MutableSpan<UInt8>, at offset: Int) throws(Errno) -> Int {
        try buffer.withUnsafeMutableBytes { (raw) throws(Errno) in try read(fd, into: raw, at: offset) }
    }

    /// `read(2)` into `buffer[start...]` (the array keeps its size): bytes read, 0 at end of
    /// input. `start` must be at most `buffer.count`.
    public func read(_ fd: Int32, into buffer: inout [UInt8], from start: Int) throws(Errno) -> Int {
        var span = buffer.mutableSpan
        return try span.withUnsafeMutableBytes { (raw) throws(Errno) in
            try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
        }
    }

    /// `pread(2)` at `offset` into `buffer[start...]` (the array keeps its size): bytes read, 0
    /// at end of file. `start` must be at most `buffer.count`.
    public func read(_ fd: Int32, into buffer: inout [UInt8], from start: Int = 0, at offset: Int) throws(Errno) -> Int {
        var span = buffer.mutableSpan
        return try span.withUnsafeMutableBytes { (raw) throws(Errno) in
            try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]), at: offset)
        }
    }

    /// Everything up to end of input (or `limit` bytes), in reads of up to 64 KiB. For files of
    /// metadata and keys; /proc files report size 0, so this reads until EOF.
    public func readAll(_ fd: Int32, limit: Int = .max) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count < limit {
            let result = chunk.withUnsafeMutableBytes { raw -> Result<Int, Errno> in
                do throws(Errno) { return .success(try read(fd, into: raw)) } catch { return .failure(error) }
            }
            let count = try result.get()
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<min(count, limit - bytes.count)])
        }
        return bytes
    }

    /// `write(2)` until all of `bytes` is written (short writes continue where they stopped).
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let count = try retryingOnInterrupt(.write, faults: faults) {
                Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            }.get()
            guard count > 0 else { throw .ioError }
            written += count
        }
    }

    /// `pwrite(2)` of all of `bytes` at `offset`.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let count = try retryingOnInterrupt(.write, faults: faults) {
                pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset + written))
            }.get()
            guard count > 0 else { throw .ioError }
            written += count
        }
    }

    /// `write(2)` until all of `bytes` is written.
    public func writeAll(_ fd: Int32, _ bytes: Span<UInt8>) throws(Errno) {
        try bytes.withUnsafeBytes { (raw) throws(Errno) in try writeAll(fd, raw) }
    }

    /// `pwrite(2)` of all of `bytes` at `offset`.
    public func writeAll(_ fd: Int32, _ bytes: Span<UInt8>, at offset: Int) throws(Errno) {
        try bytes.withUnsafeBytes { (raw) throws(Errno) in try writeAll(fd, raw, at: offset) }
    }

    /// `write(2)` of all of `bytes` (metadata and keys only: an array is no place for content).
    public func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { raw -> Result<Void, Errno> in
            do throws(Errno) { try writeAll(fd, raw) } catch { return .failure(error) }
            return .success(())
        }.get()
    }

    /// `pwrite(2)` of all of `bytes` at `offset`.
    public func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) throws(Errno) {
        try bytes.withUnsafeBytes { raw -> Result<Void, Errno> in
            do throws(Errno) { try writeAll(fd, raw, at: offset) } catch { return .failure(error) }
            return .success(())
        }.get()
    }

    /// `fsync(2)`: data and metadata durable.
    public func fsync(_ fd: Int32) throws(Errno) {
        _ = try retryingOnInterrupt(.fsync, faults: faults) { Glibc.fsync(fd) }.get()
    }

    /// `fdatasync(2)`: data (and the size) durable.
    public func fdatasync(_ fd: Int32) throws(Errno) {
        _ = try retryingOnInterrupt(.fdatasync, faults: faults) { Glibc.fdatasync(fd) }.get()
    }

    /// `ftruncate(2)`.
    public func truncate(_ fd: Int32, to length: Int) throws(Errno) {
        _ = try retryingOnInterrupt(.ftruncate, faults: faults) { ftruncate(fd, off_t(length)) }.get()
    }

    /// `flock(2)` with `LOCK_EX | LOCK_NB`: another holder is `EWOULDBLOCK`, never a wait.
    public func lockExclusively(_ fd: Int32) throws(Errno) {
        _ = try retryingOnInterrupt(.flock, faults: faults) { flock(fd, LOCK_EX | LOCK_NB) }.get()
    }

    /// `fstat(2)`.
    public func status(_ fd: Int32) throws(Errno) -> stat {
        var result = stat()
        _ = try retryingOnInterrupt(.fstat, faults: faults) { fstat(fd, &result) }.get()
        return result
    }

    /// `rename(2)`.
    public func rename(_ from: String, to: String) throws(Errno) {
        _ = try retryingOnInterrupt(.rename, faults: faults) { Glibc.rename(from, to) }.get()
    }

    /// `close(2)`, not retried: on Linux the descriptor is released even when it reports EINTR.
    public func close(_ fd: Int32) {
        _ = faults?.take(.close)
        _ = Glibc.close(fd)
    }

    /// A small file read whole (host configuration under /proc and /sys, a policy, a key), or
    /// the errno that stopped it.
    public func readFile(_ path: String, limit: Int = 64 << 20) throws(Errno) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd, limit: limit)
    }
}
