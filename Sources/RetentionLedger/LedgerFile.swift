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
/// Scratch space for encoding one record on the stack: every record that passes
/// `validateShape()` fits (the largest are about 200 bytes), and a frame of this size stays under
/// the 1 KiB that `withUnsafeTemporaryAllocation` always places on the stack (no malloc per append).
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
        bytes += RecordEncoder.bytes(capacity: 4) { $0.u32(checksum) }
        return bytes
    }

    /// Parses the header at the start of `bytes`; returns it and its length.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(LedgerError) -> (LedgerHeader, Int) {
        guard bytes.count >= 8, Array(bytes[0..<8]) == ledgerMagic else { throw .notALedger }
        guard bytes.count >= 13 else { throw .headerCorrupt }
        let version = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        guard version == ledgerFormatVersion else { throw .unsupportedVersion(version) }
        let flags = LedgerHeaderFlags(rawValue: UInt16(bytes[10]) << 8 | UInt16(bytes[11]))
        let originLength = Int(bytes[12])
        let length = 13 + originLength + 4
        guard originLength > 0, bytes.count >= length else { throw .headerCorrupt }
        let stored = readU32(bytes, at: 13 + originLength)
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(13 + originLength)])) == stored else {
            throw .headerCorrupt
        }
        guard flags.rawValue & ~LedgerHeaderFlags.bucketedSizes.rawValue == 0 else { throw .headerCorrupt }
        let origin = String(decoding: bytes[13..<(13 + originLength)], as: UTF8.self)
        guard isValidKeyName(origin) else { throw .headerCorrupt }
        return (LedgerHeader(origin: origin, flags: flags), length)
    }
}

@inline(__always)
func readU32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// Appends the frame for `record` to `buffer`.
func appendFrame(_ record: [UInt8], to buffer: inout [UInt8]) {
    let start = buffer.count
    buffer.append(contentsOf: repeatElement(0, count: record.count + frameOverhead))
    buffer.withUnsafeMutableBytes { raw in
        let frame = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
        record.withUnsafeBytes { frame.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        writeFrameEnvelope(frame)
    }
}

/// Fills in a frame whose record bytes are already at `frame[8..<count-4]`: the length word,
/// its complement and the CRC-32C over the length word and the record.
func writeFrameEnvelope(_ frame: UnsafeMutableRawBufferPointer) {
    let length = UInt32(frame.count - frameOverhead)
    frame.storeBytes(of: length.bigEndian, toByteOffset: 0, as: UInt32.self)
    frame.storeBytes(of: (~length).bigEndian, toByteOffset: 4, as: UInt32.self)
    // The CRC covers the length word and the record (not the complement word).
    let crc = CRC32C.checksum(
        UnsafeRawBufferPointer(rebasing: frame[8..<(frame.count - 4)]),
        seed: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: frame[0..<4])))
    frame.storeBytes(of: crc.bigEndian, toByteOffset: frame.count - 4, as: UInt32.self)
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
    _ bytes: UnsafeRawBufferPointer,
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
        _ window: UnsafeRawBufferPointer, from windowStart: Int,
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
            let computed = CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: window[recordStart..<recordEnd]),
                seed: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: window[local..<(local + 4)])))
            guard stored == computed else {
                throw .invalidRecord(index: index, offset: UInt64(offset), fault: .checksumMismatch)
            }
            try visit(index, offset, Array(window[recordStart..<recordEnd]))
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
/// summary; the rules are ``scanLedger(_:visit:)``'s.
func scanLedgerFile(
    path: String, window: Int = 1 << 20, files: FileSystem = .live,
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
            let read = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in
                    try files.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), at: bufferStart + filled)
                }
            }
            switch read {
            case .success(0): atEnd = true
            case .success(let count): filled += count
            case .failure(let error): throw .io(.read, errno: error.rawValue)
            }
        }
    }
    try fill()
    let (header, headerLength) = try withRawBytes(Array(buffer[0..<filled])) { (raw) throws(LedgerError) in
        try LedgerHeader.parse(raw)
    }
    try onHeader(header)
    var frames = FrameScanner(nextOffset: headerLength)
    while true {
        let stop = try withRawBytes(buffer) { (raw) throws(LedgerError) in
            try frames.scan(UnsafeRawBufferPointer(rebasing: raw[0..<filled]), from: bufferStart, visit: visit)
        }
        if atEnd {
            return LedgerScan(header: header, headerLength: headerLength, validEnd: stop.validEnd,
                              tornTailBytes: stop.pending, recordCount: frames.index)
        }
        // Slide: keep the incomplete frame's bytes, read after them.
        let keep = stop.validEnd - bufferStart
        buffer.withUnsafeMutableBytes { raw in
            raw.baseAddress!.copyMemory(from: raw.baseAddress! + keep, byteCount: filled - keep)
        }
        filled -= keep
        bufferStart = stop.validEnd
        try fill()
    }
}

/// A read-only private mapping of a whole file, unmapped on deinit. Used by the writer on open,
/// where its exclusive lock guarantees nobody truncates the file under the mapping (which would
/// turn reads into SIGBUS); verifiers read with `pread` instead because they take no lock.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer

    init(fd: Int32) throws(LedgerError) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .io(.stat, errno: errno) }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw .io(.read, errno: errno)
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Reads a whole file (verifiers; see `MappedFile` for why they do not map).
func readWholeFile(fd: Int32, files: FileSystem = .live) throws(LedgerError) -> [UInt8] {
    let size: Int
    do { size = Int(try files.status(fd).st_size) } catch { throw .io(.stat, errno: error.rawValue) }
    var bytes = [UInt8](repeating: 0, count: size)
    var filled = 0
    while filled < bytes.count {
        let count = bytes.withUnsafeMutableBytes { raw in
            Result { () throws(Errno) in try files.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), at: filled) }
        }
        switch count {
        case .success(0): bytes.removeLast(bytes.count - filled)
        case .success(let read): filled += read
        case .failure(let error): throw .io(.read, errno: error.rawValue)
        }
    }
    return bytes
}

/// Writes all of `bytes` at `offset` (EINTR and short writes are handled by `FileSystem`).
func writeAll(fd: Int32, _ bytes: [UInt8], at offset: Int, files: FileSystem = .live) throws(LedgerError) {
    do { try files.writeAll(fd, bytes, at: offset) } catch { throw .io(.write, errno: error.rawValue) }
}

/// `withUnsafeBytes` with a typed error (the standard one is untyped `rethrows`).
func withRawBytes<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(LedgerError) -> T) throws(LedgerError) -> T {
    let result: Result<T, LedgerError> = bytes.withUnsafeBytes { raw in
        do throws(LedgerError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
