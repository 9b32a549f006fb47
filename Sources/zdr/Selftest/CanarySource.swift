import CVaultSodium

/// Makes random canaries for synthetic requests and registers each with a ``NeedleScanner``.
///
/// A canary exists in plaintext only in one scratch mapping, for as long as it takes to hash its
/// windows and hand it to the vault; the scratch is wiped before the next canary. So after the
/// requests are discarded, any copy the scan finds was made by the vault, the policy, the ledger
/// or the runtime, not by the test harness.
final class CanarySource {
    /// Bytes per canary piece: long enough that a chance match is impossible, several windows long
    /// so fragments are found too.
    static let maximumPieceLength = 4096

    let scanner: NeedleScanner
    private let scratch: ScratchBuffer
    private(set) var canaryCount = 0
    private(set) var canaryBytes = 0

    init?(scanner: NeedleScanner) {
        guard let scratch = ScratchBuffer(capacity: Self.maximumPieceLength) else { return nil }
        self.scanner = scanner
        self.scratch = scratch
    }

    /// Fills `length` random bytes, registers them as a needle, gives them to `body` (which must
    /// copy them into the vault), then wipes them.
    func withCanary<Result: ~Copyable, Failure: Error>(
        length: Int, _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let length = min(max(length, scanner.window), Self.maximumPieceLength)
        randombytes_buf(scratch.base, length)
        scanner.add(needle: UnsafeRawBufferPointer(start: scratch.base, count: length))
        canaryCount += 1
        canaryBytes += length
        defer { scratch.wipe() }
        return try body(UnsafeMutableRawBufferPointer(start: scratch.base, count: length))
    }

    /// The scratch mapping: excluded from the residue scan (it is wiped, but it is the harness's
    /// own buffer, not the vault's).
    var addressRange: Range<UInt64> { scratch.addressRange }
}
