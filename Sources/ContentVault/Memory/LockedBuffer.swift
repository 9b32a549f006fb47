public import RetentionVocabulary
import VaultSystem
/// Bytes in locked, guarded, dump-excluded, fork-protected memory, wiped when released.
///
/// `LockedBuffer` is noncopyable: there is exactly one owner, and the bytes are wiped (and the
/// wipe verified) when that owner releases it, explicitly with ``release()`` or implicitly at the
/// end of its scope. The bytes are reachable only inside the closures of the `with…` methods; no
/// API returns them as `Array`, `String` or `Data`, and the type cannot be printed, interpolated
/// or reflected (its ``description`` shows the size and backend only).
///
/// The type is deliberately not generic: Swift 6.x has skipped the `deinit` of generic
/// noncopyable types in some optimized builds, and this `deinit` is the wipe. The release-mode
/// tests read the memory back to prove it runs.
public struct LockedBuffer: ~Copyable {
    /// Held as `Unmanaged` (retained in `init`, released in `deinit`) so that every stored
    /// property is trivial and ``release()`` can end the buffer with `discard self`.
    private let poolReference: Unmanaged<SecureMemoryPool>
    /// The slot's address. Private: only this file touches it (the pool gets it back inside
    /// `release()` and `deinit`), so no other code can keep a pointer past the buffer's life.
    private let base: UnsafeMutableRawPointer
    /// Bytes in use. Never more than `capacity`.
    public internal(set) var count: Int
    /// Bytes in the slot. Release wipes the `count` bytes the owner could reach and verifies
    /// that all `capacity` bytes read back as zero.
    let capacity: Int
    private let sizeClass: Int32
    private let slot: Int32

    init(pool: SecureMemoryPool, base: UnsafeMutableRawPointer, count: Int, capacity: Int, sizeClass: Int32, slot: Int32) {
        self.poolReference = Unmanaged.passRetained(pool)
        self.base = base
        self.count = count
        self.capacity = capacity
        self.sizeClass = sizeClass
        self.slot = slot
    }

    deinit {
        let pool = poolReference.takeRetainedValue()
        // Corruption found here (an overrun, a failed verification) ends the process by default;
        // under quarantine-and-report it is counted and the slot quarantined. Use `release()` to
        // receive it as an error.
        _ = pool.release(base: base, used: count, capacity: capacity, sizeClass: sizeClass, slot: slot)
    }

    /// Wipes the buffer, verifies the wipe and returns the slot to the pool.
    ///
    /// Memory corruption found here (and in `deinit`) follows the pool's ``MemoryCorruptionPolicy``:
    /// by default every region is purged and the process terminates, and this does not return.
    ///
    /// - Throws: under ``MemoryCorruptionPolicy/quarantineAndReport`` only:
    ///   ``LockedMemoryError/canaryOverrun(slotCapacity:)`` when something wrote past or before
    ///   the slot, ``LockedMemoryError/writePastLength(length:slotCapacity:)`` when it wrote past
    ///   ``count`` inside the slot, or ``LockedMemoryError/wipeVerificationFailed(slotCapacity:)``.
    ///   The bytes are wiped either way; the slot is then quarantined.
    public consuming func release() throws(LockedMemoryError) {
        let pool = poolReference.takeRetainedValue()
        let problem = pool.release(base: base, used: count, capacity: capacity, sizeClass: sizeClass, slot: slot)
        discard self
        if let problem { throw problem }
    }

    /// The backend holding the bytes.
    public var backend: MemoryBackend { poolReference.takeUnretainedValue().backend }

    /// Size and backend, never the bytes.
    public var description: String { "LockedBuffer(\(count) bytes, \(backend))" }

    /// Size and backend, never the bytes.
    public var debugDescription: String { description }

    /// Calls `body` with read access to the bytes. The pointer must not escape `body`.
    public func withUnsafeBytes<Result: ~Copyable, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with write access to the bytes. The pointer must not escape `body`.
    public mutating func withUnsafeMutableBytes<Result: ~Copyable, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with a `RawSpan` over the bytes; the span cannot escape `body`.
    public func withBytes<Result: ~Copyable, Failure: Error>(
        _ body: (RawSpan) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: base, count: count)))
    }

    /// Calls `body` with a `MutableRawSpan` over the bytes; the span cannot escape `body`.
    public mutating func withMutableBytes<Result: ~Copyable, Failure: Error>(
        _ body: (inout MutableRawSpan) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(start: base, count: count))
        return try body(&span)
    }

    /// Copies the first `byteCount` bytes of `source` to the start of this buffer (the pool's
    /// `read(fromFileDescriptor:limit:)` moving into a larger slot). Both lengths must allow it.
    mutating func copyPrefix(_ byteCount: Int, of source: borrowing LockedBuffer) {
        precondition(byteCount >= 0 && byteCount <= count && byteCount <= source.count)
        base.copyMemory(from: source.base, byteCount: byteCount)
    }

    /// One `read(2)` from `fileDescriptor` into the bytes from `offset` to ``count`` (never the
    /// slack past it, which a release checks is still zero), retried on `EINTR`.
    mutating func read(from fileDescriptor: Int32, at offset: Int, system: SystemCalls) -> Result<Int, Errno> {
        precondition(offset >= 0 && offset <= count)
        return system.read(fileDescriptor, into: base + offset, count - offset)
    }

    /// Test-only: the slot's address, so memory tests can read the bytes back after the buffer
    /// is gone (the wipe) or corrupt its canaries. Production code reaches the bytes only
    /// through the `with…` methods.
    var baseAddressForTesting: UnsafeMutableRawPointer { base }

    /// Shortens the buffer to `newCount` bytes, wiping the bytes cut off at once.
    public mutating func truncate(to newCount: Int) {
        guard newCount >= 0, newCount < count else { return }
        (base + newCount).initializeMemory(as: UInt8.self, repeating: 0, count: count - newCount)
        count = newCount
    }
}
