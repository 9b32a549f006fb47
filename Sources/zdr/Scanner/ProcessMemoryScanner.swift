#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VaultSystem

/// Why a scan could not run. Messages name pids, paths and errnos, never bytes.
enum ScanError: Error, Sendable, Equatable {
    case noSuchProcess(Int32)
    case permissionDenied(Int32, Errno)
    case unreadableMaps(Int32, Errno)
    case outOfMemory
    case needleFile(String, Errno)
    case needleTooShort(length: Int, minimum: Int)
    case needleTooLong(length: Int, maximum: Int)
    /// A line of a `--needles` file: its number (from 1) and what is wrong with it.
    case needleLine(Int, length: Int, minimum: Int, maximum: Int)
    case needleListTooLong(length: Int, maximum: Int)
    case needleListEmpty(String)

    var message: String {
        switch self {
        case .noSuchProcess(let pid): "no process with pid \(pid)"
        case .permissionDenied(let pid, let errno):
            "cannot read the memory of pid \(pid): \(errno); run as the same user with ptrace allowed (kernel.yama.ptrace_scope), or with CAP_SYS_PTRACE; a non-dumpable process is only readable with CAP_SYS_PTRACE"
        case .unreadableMaps(let pid, let errno): "cannot read /proc/\(pid)/maps: \(errno)"
        case .outOfMemory: "cannot map a scan buffer (ENOMEM)"
        case .needleFile(let path, let errno): "cannot read needle file \(path): \(errno)"
        case .needleTooShort(let length, let minimum): "needle is \(length) bytes; at least \(minimum) are needed to rule out chance matches"
        case .needleTooLong(let length, let maximum): "needle is \(length) bytes; at most \(maximum) are supported"
        case .needleLine(let line, let length, let minimum, let maximum):
            "needle on line \(line) is \(length) bytes; each needle must be \(minimum) to \(maximum) bytes"
        case .needleListTooLong(let length, let maximum): "needle list is \(length) bytes; at most \(maximum) are supported"
        case .needleListEmpty(let path): "needle list \(path) has no needles (one per line)"
        }
    }
}

/// A needle found in a region: where, and how many bytes of which needle. No bytes.
struct RegionMatch: Sendable, Equatable {
    let region: MemoryRegion
    /// Address of the first matching byte.
    let address: UInt64
    /// Offset of the match from the region's start.
    var offset: UInt64 { address - region.start }
    let needle: Int
    /// Where in the needle the matching bytes start.
    let needleOffset: Int
    let length: Int
}

/// The outcome of one scan.
struct ScanReport: Sendable {
    var pid: Int32
    var needleLengths: [Int] = []
    var window = 0
    var regionCounts: [MemoryRegion.Kind: Int] = [:]
    var bytesScanned: UInt64 = 0
    /// Bytes in readable regions that /proc/PID/mem refused (EIO pages: device memory, holes).
    var bytesUnreadable: UInt64 = 0
    var bytesSecretMemory: UInt64 = 0
    /// Bytes not read because /proc/PID/pagemap shows nothing the process wrote there: pages
    /// never touched, and unmodified pages of private file mappings.
    var bytesNotWritten: UInt64 = 0
    var matches: [RegionMatch] = []

    func count(_ kind: MemoryRegion.Kind) -> Int { regionCounts[kind, default: 0] }

    /// Every needle's byte total found, summed over matches.
    var bytesMatched: Int { matches.reduce(0) { $0 + $1.length } }

    /// How many different needles at least one match came from.
    var needlesFound: Int { Set(matches.map(\.needle)).count }

    var json: JSON {
        .object([
            ("pid", .int(Int(pid))),
            ("needles", .array(needleLengths.map { .object([("length", .int($0))]) })),
            ("needlesFound", .int(needlesFound)),
            ("window", .int(window)),
            ("regions", .object([
                ("scanned", .int(count(.scanned))),
                ("unreadable", .int(count(.unreadable))),
                ("secretmem", .int(count(.secretmem))),
                ("skipped", .int(count(.skipped))),
            ])),
            ("bytesScanned", .uint(bytesScanned)),
            ("bytesUnreadable", .uint(bytesUnreadable)),
            ("bytesSecretMemory", .uint(bytesSecretMemory)),
            ("bytesNotWritten", .uint(bytesNotWritten)),
            ("matchCount", .int(matches.count)),
            ("matches", .array(matches.map { match in
                .object([
                    ("region", .object([
                        ("start", .string(hex(match.region.start))),
                        ("end", .string(hex(match.region.end))),
                        ("permissions", .string(match.region.permissions)),
                        ("path", .string(match.region.path)),
                    ])),
                    ("offset", .uint(match.offset)),
                    ("address", .string(hex(match.address))),
                    ("needle", .int(match.needle)),
                    ("needleOffset", .int(match.needleOffset)),
                    ("length", .int(match.length)),
                ])
            })),
        ])
    }
}

/// Reads a process's mappings through /proc/PID/maps and /proc/PID/mem and runs a
/// ``NeedleScanner`` over every readable one.
struct ProcessMemoryScanner {
    /// Bytes read per pread. Large enough to amortize the syscall, small enough to stay locked.
    static let chunkSize = 1 << 20
    /// At most this many matches are kept in a report (the count past it is still exact).
    static let matchLimit = 10_000

    let scanner: NeedleScanner

    /// Scans `pid`, or this process when `pid` is nil. `excluding` names address ranges to skip
    /// (this process's own scan buffers are always skipped).
    func scan(pid: Int32?, excluding: [Range<UInt64>] = []) throws(ScanError) -> ScanReport {
        let procDirectory = pid.map { "/proc/\($0)" } ?? "/proc/self"
        let displayPid = pid ?? getpid()
        if pid != nil, !ProcFS.exists(procDirectory) { throw .noSuchProcess(displayPid) }

        let window = scanner.window
        guard let buffer = ScratchBuffer(capacity: Self.chunkSize + window) else { throw .outOfMemory }
        defer { buffer.wipe() }
        var skipped = excluding
        if pid == nil { skipped += [buffer.addressRange] + scanner.ownedRanges }

        let mapsText: String
        switch ProcFS.readBytes("\(procDirectory)/maps") {
        case .success(let bytes): mapsText = String(decoding: bytes, as: UTF8.self)
        case .failure(let error):
            if error.rawValue == ENOENT || error.rawValue == ESRCH { throw .noSuchProcess(displayPid) }
            if error.rawValue == EACCES || error.rawValue == EPERM { throw .permissionDenied(displayPid, error) }
            throw .unreadableMaps(displayPid, error)
        }
        let regions = MemoryRegion.parse(maps: mapsText)

        let memory = open("\(procDirectory)/mem", O_RDONLY | O_CLOEXEC)
        if memory < 0 {
            let code = errno
            if code == ENOENT || code == ESRCH { throw .noSuchProcess(displayPid) }
            throw .permissionDenied(displayPid, Errno(rawValue: code))
        }
        defer { close(memory) }
        // Optional: without pagemap every readable byte is read.
        let pagemap = open("\(procDirectory)/pagemap", O_RDONLY | O_CLOEXEC)
        defer { if pagemap >= 0 { close(pagemap) } }

        var report = ScanReport(pid: displayPid, needleLengths: scanner.needleLengths, window: window)
        for region in regions {
            let kind = region.kind
            report.regionCounts[kind, default: 0] += 1
            switch kind {
            case .secretmem: report.bytesSecretMemory += region.size; continue
            case .unreadable, .skipped: continue
            case .scanned: break
            }
            var accumulator = MatchAccumulator(window: window)
            var ranges = Self.subtract(skipped, from: region.start..<region.end)
            if pagemap >= 0, region.isPrivateAnonymousOrFile {
                let written = ranges.flatMap { writtenRanges($0, pagemap: pagemap) }
                let total = ranges.reduce(0) { $0 + $1.upperBound - $1.lowerBound }
                report.bytesNotWritten += total - written.reduce(0) { $0 + $1.upperBound - $1.lowerBound }
                ranges = written
            }
            for range in ranges {
                scanRange(range, memory: memory, buffer: buffer, report: &report, accumulator: &accumulator)
            }
            for run in accumulator.runs where report.matches.count < Self.matchLimit {
                report.matches.append(RegionMatch(region: region, address: run.address, needle: run.needle,
                                                  needleOffset: run.needleOffset, length: run.length))
            }
        }
        return report
    }

    /// The parts of `range` whose pages hold data the process wrote: present anonymous pages
    /// (including copy-on-write copies of file pages) and swapped-out pages. On any pagemap
    /// error the whole range is returned, so a failure reads more, never less.
    private func writtenRanges(_ range: Range<UInt64>, pagemap: Int32) -> [Range<UInt64>] {
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let firstPage = range.lowerBound / page
        let lastPage = (range.upperBound + page - 1) / page
        var result: [Range<UInt64>] = []
        var entries = [UInt64](repeating: 0, count: 4096)
        var pageIndex = firstPage
        while pageIndex < lastPage {
            let count = Int(min(UInt64(entries.count), lastPage - pageIndex))
            let wanted = count * 8
            let got = entries.withUnsafeMutableBytes { readFully(pagemap, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted]), at: pageIndex * 8) }
            guard got == wanted else { return [range] }
            for index in 0..<count {
                let entry = entries[index]
                let present = entry & (1 << 63) != 0
                let swapped = entry & (1 << 62) != 0
                let filePage = entry & (1 << 61) != 0
                guard swapped || (present && !filePage) else { continue }
                let start = max((pageIndex + UInt64(index)) * page, range.lowerBound)
                let end = min(start - start % page + page, range.upperBound)
                if let last = result.last, last.upperBound == start {
                    result[result.count - 1] = last.lowerBound..<end
                } else {
                    result.append(start..<end)
                }
            }
            pageIndex += UInt64(count)
        }
        return result
    }

    /// Scans `range` chunk by chunk; each read overlaps the next chunk by `window - 1` bytes so a
    /// needle across a chunk boundary is still found.
    private func scanRange(
        _ range: Range<UInt64>, memory: Int32, buffer: ScratchBuffer,
        report: inout ScanReport, accumulator: inout MatchAccumulator
    ) {
        let window = scanner.window
        var position = range.lowerBound
        while position < range.upperBound {
            let chunkEnd = min(position + UInt64(Self.chunkSize), range.upperBound)
            let readEnd = min(chunkEnd + UInt64(window - 1), range.upperBound)
            let wanted = Int(readEnd - position)
            let chunkLength = Int(chunkEnd - position)
            let got = buffer.withUnsafeMutableBytes(0..<wanted) { readFully(memory, into: $0, at: position) }
            if got == wanted {
                buffer.withBytes(0..<wanted) { bytes in
                    scanner.scan(bytes, startLimit: chunkLength, address: position) { accumulator.add($0) }
                }
                report.bytesScanned += UInt64(chunkLength)
            } else {
                scanPageByPage(position, wanted: wanted, chunkLength: chunkLength, memory: memory,
                               buffer: buffer, report: &report, accumulator: &accumulator)
            }
            position = chunkEnd
        }
    }

    /// Fallback when a chunk has unreadable pages: read page by page, scan each readable run.
    private func scanPageByPage(
        _ start: UInt64, wanted: Int, chunkLength: Int, memory: Int32, buffer: ScratchBuffer,
        report: inout ScanReport, accumulator: inout MatchAccumulator
    ) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var runStart: Int?
        var offset = 0
        func flush(_ end: Int) {
            guard let begin = runStart else { return }
            buffer.withBytes(begin..<end) { bytes in
                scanner.scan(bytes, startLimit: max(0, chunkLength - begin), address: start + UInt64(begin)) {
                    accumulator.add($0)
                }
            }
            runStart = nil
        }
        while offset < wanted {
            let length = min(page - Int((start + UInt64(offset)) % UInt64(page)), wanted - offset)
            let got = buffer.withUnsafeMutableBytes(offset..<(offset + length)) {
                readFully(memory, into: $0, at: start + UInt64(offset))
            }
            let counted = max(0, min(offset + length, chunkLength) - offset)
            if got == length {
                if runStart == nil { runStart = offset }
                report.bytesScanned += UInt64(counted)
            } else {
                flush(offset)
                report.bytesUnreadable += UInt64(counted)
            }
            offset += length
        }
        flush(wanted)
    }

    /// Fills `buffer` from `fd` at `address`; returns the bytes read (fewer at an unreadable page).
    private func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at address: UInt64) -> Int {
        var done = 0
        while done < buffer.count {
            // An unreadable page (EIO) ends the run: the caller counts the rest as unreadable.
            guard let result = try? FileSystem.live.read(
                      fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]),
                      at: Int(Int64(bitPattern: address + UInt64(done)))),
                  result > 0 else { break }
            done += result
        }
        return done
    }

    /// `range` minus every range in `holes`, in address order.
    static func subtract(_ holes: [Range<UInt64>], from range: Range<UInt64>) -> [Range<UInt64>] {
        var pieces = [range]
        for hole in holes {
            pieces = pieces.flatMap { piece -> [Range<UInt64>] in
                guard piece.overlaps(hole) else { return [piece] }
                var result: [Range<UInt64>] = []
                if piece.lowerBound < hole.lowerBound { result.append(piece.lowerBound..<hole.lowerBound) }
                if hole.upperBound < piece.upperBound { result.append(hole.upperBound..<piece.upperBound) }
                return result
            }
        }
        return pieces
    }
}

/// Loads needle files into a scanner without leaving their bytes in the heap: the file is read
/// into a ``ScratchBuffer`` that is wiped as soon as its windows are hashed.
enum NeedleFile {
    static let maximumLength = 1 << 20

    /// The window to use for needles of these lengths.
    static func window(forShortest length: Int) -> Int {
        min(NeedleScanner.preferredWindow, length)
    }

    /// Reads `path`. Returns the scratch buffer holding the needle and its length; the caller
    /// must hash it and then drop the buffer (which wipes it). One trailing newline ("\n" or
    /// "\r\n") is dropped unless `keepNewline`, because `echo secret > file` adds one.
    static func read(_ path: String, keepNewline: Bool) throws(ScanError) -> (ScratchBuffer, Int) {
        let (buffer, length) = try readWhole(path, maximum: maximumLength + 2) { .needleTooLong(length: $0, maximum: maximumLength) }
        var trimmed = length
        if !keepNewline, trimmed > 0, buffer.withBytes(0..<trimmed, { $0[trimmed - 1] }) == 0x0A {
            trimmed -= 1
            if trimmed > 0, buffer.withBytes(0..<trimmed, { $0[trimmed - 1] }) == 0x0D { trimmed -= 1 }
        }
        guard trimmed >= NeedleScanner.minimumWindow else {
            buffer.wipe()
            throw .needleTooShort(length: trimmed, minimum: NeedleScanner.minimumWindow)
        }
        guard trimmed <= maximumLength else {
            buffer.wipe()
            throw .needleTooLong(length: trimmed, maximum: maximumLength)
        }
        return (buffer, trimmed)
    }

    /// Most bytes a `--needles` file may hold (a residue test's thousands of canaries fit).
    static let maximumListLength = 64 << 20

    /// Reads a `--needles` file: one needle per line ("\n" or "\r\n"; empty lines skipped).
    /// Returns the scratch buffer holding the file and each needle's byte range in it; the
    /// caller hashes them and then wipes the buffer.
    static func readList(_ path: String) throws(ScanError) -> (ScratchBuffer, [Range<Int>]) {
        let (buffer, length) = try readWhole(path, maximum: maximumListLength) { .needleListTooLong(length: $0, maximum: maximumListLength) }
        var needles: [Range<Int>] = []
        var problem: ScanError?
        buffer.withBytes(0..<length) { bytes in
            var start = 0
            var line = 1
            while start < bytes.count, problem == nil {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                var stop = end
                if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
                let count = stop - start
                if count > 0 {
                    if count < NeedleScanner.minimumWindow || count > maximumLength {
                        problem = .needleLine(line, length: count, minimum: NeedleScanner.minimumWindow, maximum: maximumLength)
                    } else {
                        needles.append(start..<stop)
                    }
                }
                start = end + 1
                line += 1
            }
        }
        if let problem {
            buffer.wipe()
            throw problem
        }
        guard !needles.isEmpty else {
            buffer.wipe()
            throw .needleListEmpty(path)
        }
        return (buffer, needles)
    }

    /// Reads a whole regular file of at most `maximum` bytes into a scratch buffer.
    private static func readWhole(
        _ path: String, maximum: Int, tooLong: (Int) -> ScanError
    ) throws(ScanError) -> (ScratchBuffer, Int) {
        let files = FileSystem.live
        let fd: Int32
        do { fd = try files.open(path, O_RDONLY) } catch { throw .needleFile(path, error) }
        defer { files.close(fd) }
        let info: stat
        do { info = try files.status(fd) } catch { throw .needleFile(path, error) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .needleFile(path, .invalidArgument) }
        let size = Int(info.st_size)
        guard size <= maximum else { throw tooLong(size) }
        guard let buffer = ScratchBuffer(capacity: max(size, 1)) else { throw .outOfMemory }
        var length = 0
        while length < size {
            let count: Int
            do { count = try buffer.withUnsafeMutableBytes(length..<size) { (bytes) throws(Errno) in try files.read(fd, into: bytes) } } catch {
                throw .needleFile(path, error)
            }
            if count == 0 { break }
            length += count
        }
        return (buffer, length)
    }
}
