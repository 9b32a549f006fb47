import CVaultSodium

/// Makes random content for synthetic requests and registers it with a ``NeedleScanner``.
///
/// A piece exists in plaintext only in one scratch mapping, for as long as it takes to hash it
/// and hand it to the vault; the scratch is wiped before the next piece. So after the requests
/// are discarded, any copy the scan finds was made by the vault, the policy, the ledger or the
/// runtime, not by the harness.
///
/// Pieces are sampled rather than hashed whole: a 64-byte needle every 256 bytes (plus the last
/// 64 bytes). Any copy of 256 or more contiguous bytes of a piece therefore contains a whole
/// needle window, and the scanner keeps ~1/8 of the digests a whole-piece needle would need.
final class CanarySource {
    static let maximumPieceLength = 64 * 1024
    static let needleLength = 64
    static let needleStride = 256

    let scanner: NeedleScanner
    private let scratch: ScratchBuffer
    private(set) var pieceCount = 0
    private(set) var pieceBytes = 0
    /// Needles the scanner could not take (its table could not grow): the run must fail, since
    /// residue of those pieces would go unseen.
    private(set) var unregisteredNeedles = 0

    init?(scanner: NeedleScanner) {
        guard let scratch = ScratchBuffer(capacity: Self.maximumPieceLength) else { return nil }
        self.scanner = scanner
        self.scratch = scratch
    }

    /// Fills `length` random bytes, registers needles sampled from them, gives them to `body`
    /// (which must copy them into the vault), then wipes them.
    func withPiece<Result: ~Copyable, Failure: Error>(
        length requested: Int, _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let length = min(max(requested, scanner.window), Self.maximumPieceLength)
        scratch.withUnsafeMutableBytes(0..<length) { randombytes_buf($0.baseAddress!, $0.count) }
        defer { scratch.wipe() }
        scratch.withBytes(0..<length) { register($0) }
        pieceCount += 1
        pieceBytes += length
        return try scratch.withUnsafeMutableBytes(0..<length, body)
    }

    private func register(_ piece: Span<UInt8>) {
        let needle = min(Self.needleLength, piece.count)
        var offset = 0
        while offset + needle <= piece.count {
            if scanner.add(needle: piece.extracting(offset..<(offset + needle))) == nil {
                unregisteredNeedles += 1
            }
            offset += Self.needleStride
        }
        if offset - Self.needleStride + needle < piece.count {
            if scanner.add(needle: piece.extracting(last: needle)) == nil {
                unregisteredNeedles += 1
            }
        }
    }

    /// Needle windows a piece of `length` bytes registers, for sizing the scanner's filter.
    static func windows(forPieceOf length: Int, window: Int) -> Int {
        let needle = min(needleLength, length)
        let needles = (length - needle) / needleStride + 2
        return needles * (needle - window + 1)
    }

    /// The scratch mapping: excluded from the residue scan (it is wiped, and it is the harness's
    /// own buffer, not the vault's).
    var addressRange: Range<UInt64> { scratch.addressRange }
}
