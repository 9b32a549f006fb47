// The file format (Docs/LedgerFormat.md §2): a checksummed header, then frames
// `length u32 BE || ~length u32 BE || record || CRC-32C(length word || record) u32 BE`.
// Only a tail that looks like an interrupted write is treated as torn; anything else that fails
// to verify is corruption, reported with the record index and byte offset.

import Glibc
import VaultSystem

let ledgerMagic: [UInt8] = Array("ZDRLEDGR".utf8)
let ledgerFormatVersion: UInt16 = 2
/// Frame overhead: two length words and the checksum.
let frameOverhead = 12
/// Largest record accepted; real records are under 300 bytes.
let maximumRecordLength = 4096
/// Room for one record in a frame encoder's inline storage: every record that passes
/// `validateShape()` fits (the largest are about 200 bytes), and the whole frame stays within
/// the encoder's 1 KiB on the stack (no malloc per append).
let encodingScratchLength = 1024 - frameOverhead

/// Header flags.
struct LedgerHeaderFlags: OptionSet, Sendable {
    let rawValue: UInt16
    /// Sizes and durations were bucketed (rounded up to a power of two) before encoding.
    static let bucketedSizes = LedgerHeaderFlags(rawValue: 1 << 0)
}

struct LedgerHeader: Sendable, Equatable {
    var origin: String
    var flags: LedgerHeaderFlags

    static func == (lhs: LedgerHeader, rhs: LedgerHeader) -> Bool {
        lhs.origin == rhs.origin && lhs.flags.rawValue == rhs.flags.rawValue
    }

    var encoded: [UInt8] {
        var bytes = RecordEncoder.bytes { out in
            out.raw(ledgerMagic)
            out.u16(ledgerFormatVersion)
            out.u16(flags.rawValue)
            let originBytes = Array(origin.utf8)
            out.u8(UInt8(originBytes.count))
            out.raw(originBytes)
        }
        let checksum = CRC32C.checksum(bytes)
        bytes += RecordEncoder.bytes { $0.u32(checksum) }
        return bytes
    }

    /// Parses the header at the start of `bytes`; returns it and its length.
    static func parse(_ bytes: Span<UInt8>) throws(LedgerError) -> (LedgerHeader, Int) {
        guard bytes.count >= 8, (0..<8).allSatisfy({ bytes[$0] == ledgerMagic[$0] }) else { throw .notALedger }
        guard bytes.count >= 13 else { throw .headerCorrupt }
        let version = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        guard version == ledgerFormatVersion else { throw .unsupportedVersion(version) }
        let flags = LedgerHeaderFlags(rawValue: UInt16(bytes[10]) << 8 | UInt16(bytes[11]))
        let originLength = Int(bytes[12])
        let length = 13 + originLength + 4
        guard originLength > 0, bytes.count >= length else { throw .headerCorrupt }
        let stored = readU32(bytes, at: 13 + originLength)
        guard CRC32C.checksum(bytes.extracting(0..<(13 + originLength))) == stored else {
            throw .headerCorrupt
        }
        guard flags.rawValue & ~LedgerHeaderFlags.bucketedSizes.rawValue == 0 else { throw .headerCorrupt }
        let origin = String(decoding: [UInt8](copying: bytes.extracting(13..<(13 + originLength))), as: UTF8.self)
        guard isValidKeyName(origin) else { throw .headerCorrupt }
        return (LedgerHeader(origin: origin, flags: flags), length)
    }
}

@inline(__always)
func readU32(_ bytes: Span<UInt8>, at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// Appends the frame for `record` to `buffer`.
func appendFrame(_ record: [UInt8], to buffer: inout [UInt8]) {
    let length = UInt32(record.count)
    appendU32(length, to: &buffer)
    appendU32(~length, to: &buffer)
    buffer.append(contentsOf: record)
    appendU32(frameChecksum(lengthWord: length, record: record.span), to: &buffer)
}

/// The CRC-32C of a frame: over the big-endian length word and the record (not the complement).
@inline(__always)
func frameChecksum(lengthWord length: UInt32, record: Span<UInt8>) -> UInt32 {
    let word: InlineArray<4, UInt8> = [
        UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
        UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length),
    ]
    return CRC32C.checksum(record, seed: CRC32C.checksum(word.span))
}

@inline(__always)
func appendU32(_ value: UInt32, to buffer: inout [UInt8]) {
    buffer.append(UInt8(truncatingIfNeeded: value >> 24))
    buffer.append(UInt8(truncatingIfNeeded: value >> 16))
    buffer.append(UInt8(truncatingIfNeeded: value >> 8))
    buffer.append(UInt8(truncatingIfNeeded: value))
}

/// The outcome of scanning a ledger file.
struct LedgerScan {
    var header: LedgerHeader
    var headerLength: Int
    /// Offset just past the last valid frame.
    var validEnd: Int
    /// Bytes after `validEnd` that form an interrupted write (0 if none).
    var tornTailBytes: Int
    var recordCount: UInt64
}

/// Walks every frame in `bytes`, calling `visit(index, offset, record)` for each valid one.
/// Throws `invalidRecord` for the first frame that fails and is not a torn tail.
///
/// Only an incomplete last frame is a torn tail (the header cut short, or a valid length whose
/// frame runs past the end of the file): what a write interrupted before its `fdatasync` leaves.
/// A complete frame that fails its checksum, or a run of zeros where a frame should start, is
/// corruption with its index and offset: it may be a record a flush already acknowledged, and a
/// writer that truncated it on reopen would erase an fsynced record without a trace.
func scanLedger(
    _ bytes: Span<UInt8>,
    visit: (UInt64, Int, [UInt8]) throws(LedgerError) -> Void
) throws(LedgerError) -> LedgerScan {
    let (header, headerLength) = try LedgerHeader.parse(bytes)
    var frames = FrameScanner(nextOffset: headerLength)
    let stop = try frames.scan(bytes, from: 0, visit: visit)
    return LedgerScan(header: header, headerLength: headerLength, validEnd: stop.validEnd,
                      tornTailBytes: stop.pending, recordCount: frames.index)
}

/// The frame walk, over the whole file or over a window of it that slides forward (the
/// streaming readers), with the torn-tail rule applied only at the end of the file.
struct FrameScanner {
    /// File offset of the next frame.
    var nextOffset: Int
    /// Index of the next frame.
    var index: UInt64 = 0

    /// Scans the frames in `window` (whose first byte is at file offset `windowStart`) from
    /// `nextOffset`. Returns where the frames stopped (`validEnd`) and how many bytes after it
    /// form an incomplete frame: at the end of the file that is the torn tail; before it, the
    /// caller slides the window to `validEnd` and reads more.
    mutating func scan(
        _ window: Span<UInt8>, from windowStart: Int,
        visit: (UInt64, Int, [UInt8]) throws(LedgerError) -> Void
    ) throws(LedgerError) -> (validEnd: Int, pending: Int) {
        let end = windowStart + window.count
        while nextOffset < end {
            let offset = nextOffset
            let local = offset - windowStart
            let remaining = end - offset
            guard remaining >= 8 else { return (offset, remaining) }
            let length = readU32(window, at: local)
            let check = readU32(window, at: local + 4)
            guard check == ~length, length > 0, Int(length) <= maximumRecordLength else {
                throw .invalidRecord(index: index, offset: UInt64(offset), fault: .frameHeaderInvalid)
            }
            let frameLength = Int(length) + frameOverhead
            guard remaining >= frameLength else { return (offset, remaining) }
            let recordStart = local + 8
            let recordEnd = recordStart + Int(length)
            let stored = readU32(window, at: recordEnd)
            let record = window.extracting(recordStart..<recordEnd)
            let computed = CRC32C.checksum(record, seed: CRC32C.checksum(window.extracting(local..<(local + 4))))
            guard stored == computed else {
                throw .invalidRecord(index: index, offset: UInt64(offset), fault: .checksumMismatch)
            }
            try visit(index, offset, [UInt8](copying: record))
            index += 1
            nextOffset = offset + frameLength
        }
        return (nextOffset, 0)
    }
}

/// Reads the ledger at `path` front to back through a window of `window` bytes (1 MiB by
/// default), calling `visit` for each valid frame: memory stays bounded by the window whatever
/// the file's size (`zdr ledger verify`, `export` and `show` of a 5M-record ledger). `header`
/// runs once the header is parsed, before the first frame. Returns the scan
/// summary; the rules are ``scanLedger(_:visit:)``'s. With `resume`, the header is still read
/// and checked, then the scan starts at that frame offset and index.
func scanLedgerFile(
    path: String, window: Int = 1 << 20, files: FileSystem = .live,
    resumeAt resume: (offset: Int, index: UInt64)? = nil,
    header onHeader: (LedgerHeader) throws(LedgerError) -> Void = { _ in },
    visit: (UInt64, Int, [UInt8]) throws(LedgerError) -> Void
) throws(LedgerError) -> LedgerScan {
    let fd: Int32
    do { fd = try files.open(path, O_RDONLY) } catch { throw .io(.open, errno: error.rawValue) }
    defer { files.close(fd) }
    // Large enough for the header and for the largest frame, whatever the window asked for.
    var buffer = [UInt8](repeating: 0, count: max(window, maximumRecordLength + frameOverhead, 4096))
    var bufferStart = 0  // file offset of buffer[0]
    var filled = 0
    var atEnd = false
    func fill() throws(LedgerError) {
        while filled < buffer.count && !atEnd {
            let count: Int
            do { count = try files.read(fd, into: &buffer, from: filled, at: bufferStart + filled) } catch {
                throw .io(.read, errno: error.rawValue)
            }
            if count == 0 { atEnd = true } else { filled += count }
        }
    }
    try fill()
    let (header, headerLength) = try LedgerHeader.parse(buffer.span.extracting(0..<filled))
    try onHeader(header)
    var frames = FrameScanner(nextOffset: headerLength)
    if let resume, resume.offset > headerLength {
        // Start at a frame boundary known from elsewhere (a ledger index's coverage): the
        // frames before it are not read.
        frames = FrameScanner(nextOffset: resume.offset, index: resume.index)
        bufferStart = resume.offset
        filled = 0
        atEnd = false
        try fill()
    }
    while true {
        let stop = try frames.scan(buffer.span.extracting(0..<filled), from: bufferStart, visit: visit)
        if atEnd {
            return LedgerScan(header: header, headerLength: headerLength, validEnd: stop.validEnd,
                              tornTailBytes: stop.pending, recordCount: frames.index)
        }
        // Slide: keep the incomplete frame's bytes, read after them.
        let keep = stop.validEnd - bufferStart
        for index in 0..<(filled - keep) { buffer[index] = buffer[keep + index] }
        filled -= keep
        bufferStart = stop.validEnd
        try fill()
    }
}

/// A read-only private mapping of a whole file, unmapped on deinit. Used by the writer on open,
/// where its exclusive lock guarantees nobody truncates the file under the mapping (which would
/// turn reads into SIGBUS); verifiers read with `pread` instead because they take no lock.
final class MappedFile {
    // The mmap boundary: the mapping is only ever lent out as a span, never as a pointer.
    private let mapping: UnsafeRawBufferPointer

    init(fd: Int32) throws(LedgerError) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .io(.stat, errno: errno) }
        let size = Int(status.st_size)
        guard size > 0 else {
            mapping = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw .io(.read, errno: errno)
        }
        mapping = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// The mapped size in bytes.
    var count: Int { mapping.count }

    /// Calls `body` with the mapped bytes, valid for the call (the mapping lives as long as self).
    func withBytes<Result, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(Span(_unsafeBytes: mapping))
    }

    deinit {
        if let base = mapping.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), mapping.count) }
    }
}

/// Reads a whole file (verifiers; see `MappedFile` for why they do not map).
func readWholeFile(fd: Int32, files: FileSystem = .live) throws(LedgerError) -> [UInt8] {
    let size: Int
    do { size = Int(try files.status(fd).st_size) } catch { throw .io(.stat, errno: error.rawValue) }
    var bytes = [UInt8](repeating: 0, count: size)
    var filled = 0
    while filled < bytes.count {
        let count: Int
        do { count = try files.read(fd, into: &bytes, from: filled, at: filled) } catch { throw .io(.read, errno: error.rawValue) }
        if count == 0 { bytes.removeLast(bytes.count - filled) } else { filled += count }
    }
    return bytes
}

/// Writes all of `bytes` at `offset` (EINTR and short writes are handled by `FileSystem`).
func writeAll(fd: Int32, _ bytes: [UInt8], at offset: Int, files: FileSystem = .live) throws(LedgerError) {
    do { try files.writeAll(fd, bytes, at: offset) } catch { throw .io(.write, errno: error.rawValue) }
}
