import Foundation
import Testing
@testable import zdr

/// The scanner's matching logic, on buffers in this process.
@Suite("Needle scanner: windows, fragments, several needles") struct NeedleScannerTests {
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Runs `scanner` over `haystack` and merges hits the way the process scanner does.
    static func runs(_ scanner: NeedleScanner, _ haystack: [UInt8], startLimit: Int? = nil) -> [MatchAccumulator.Run] {
        var accumulator = MatchAccumulator(window: scanner.window)
        scanner.scan(haystack.span, startLimit: startLimit ?? haystack.count, address: 0x1000) { accumulator.add($0) }
        return accumulator.runs
    }

    @Test("finds whole needle at any offset", arguments: [0, 1, 31, 500, 4032])
    func findsWholeNeedleAtAnyOffset(offset: Int) {
        let needle = Self.randomBytes(64)
        var haystack = Self.randomBytes(4096)
        haystack.replaceSubrange(offset..<(offset + 64), with: needle)
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        let runs = Self.runs(scanner, haystack)
        #expect(runs == [MatchAccumulator.Run(address: 0x1000 + UInt64(offset), needle: 0, needleOffset: 0, length: 64)])
    }

    @Test("finds fragments at least one window long") func findsFragmentsAtLeastOneWindowLong() {
        let needle = Self.randomBytes(64)
        var haystack = Self.randomBytes(1024)
        haystack.replaceSubrange(100..<140, with: needle[10..<50])
        // The random bytes around the fragment must not continue it, or the run is longer.
        haystack[99] = ~needle[9]
        haystack[140] = ~needle[50]
        haystack.replaceSubrange(600..<631, with: needle[0..<31])  // shorter than a window
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        #expect(Self.runs(scanner, haystack) == [MatchAccumulator.Run(address: 0x1000 + 100, needle: 0, needleOffset: 10, length: 40)])
    }

    @Test("one flipped byte splits the match") func oneFlippedByteSplitsTheMatch() {
        let needle = Self.randomBytes(96)
        var haystack = Self.randomBytes(512)
        haystack.replaceSubrange(0..<96, with: needle)
        haystack[48] ^= 0xFF
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        let runs = Self.runs(scanner, haystack)
        #expect(runs.map(\.length) == [48, 47])
        #expect(runs.map(\.needleOffset) == [0, 49])
    }

    @Test("distinguishes several needles") func distinguishesSeveralNeedles() {
        let first = Self.randomBytes(40), second = Self.randomBytes(40)
        var haystack = Self.randomBytes(400)
        haystack.replaceSubrange(300..<340, with: first)
        haystack.replaceSubrange(10..<50, with: second)
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: first.span)
        _ = scanner.add(needle: second.span)
        #expect(Self.runs(scanner, haystack).map(\.needle) == [1, 0])
    }

    @Test("clean buffer has no match") func cleanBufferHasNoMatch() {
        let scanner = NeedleScanner(window: 32)!
        let needle = Self.randomBytes(64)
        _ = scanner.add(needle: needle.span)
        #expect(Self.runs(scanner, Self.randomBytes(1 << 16)).isEmpty)
        #expect(Self.runs(scanner, [UInt8](repeating: 0, count: 4096)).isEmpty)
    }

    @Test("start limit bounds where windows may start") func startLimitBoundsWhereWindowsMayStart() {
        let needle = Self.randomBytes(32)
        var haystack = Self.randomBytes(200)
        haystack.replaceSubrange(100..<132, with: needle)
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        #expect(Self.runs(scanner, haystack, startLimit: 100).isEmpty)
        #expect(Self.runs(scanner, haystack, startLimit: 101).count == 1)
    }

    @Test("refuses needle shorter than the window") func refusesNeedleShorterThanTheWindow() {
        let scanner = NeedleScanner(window: 32)!
        let short = Self.randomBytes(31)
        let index = scanner.add(needle: short.span)
        #expect(index == nil)
        #expect(scanner.needleCount == 0)
    }

    @Test("scanner state holds no needle bytes") func scannerStateHoldsNoNeedleBytes() {
        // The scanner keeps digests, never the needle: its stored state must not contain it.
        let needle = Self.randomBytes(64)
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        #expect(scanner.windowCount == 33)
        #expect(scanner.needleLengths == [64])
    }

    @Test("scan of this process finds a planted needle and skips excluded ranges", .disabled(if: runningUnderSanitizer, sanitizerSkipReason))
    func scanOfThisProcessFindsAPlantedNeedleAndSkipsExcludedRanges() throws {
        let needle = Self.randomBytes(48)
        let scanner = NeedleScanner(window: 32)!
        _ = scanner.add(needle: needle.span)
        let planted = try #require(ScratchBuffer(capacity: 4096))
        needle.withUnsafeBytes { source in planted.withUnsafeMutableBytes(0..<48) { $0.copyMemory(from: source) } }
        // `needle` itself is an ordinary array in this test's heap: exclude nothing but the
        // planted page and expect the heap copy; then plant-only checks use the address.
        let memoryScanner = ProcessMemoryScanner(scanner: scanner)
        let report = try memoryScanner.scan(pid: nil)
        #expect(report.matches.contains { $0.address == planted.addressRange.lowerBound && $0.length == 48 })
        let excluded = try memoryScanner.scan(pid: nil, excluding: [planted.addressRange])
        #expect(!excluded.matches.contains { planted.addressRange.contains($0.address) })
        #expect(report.count(.scanned) > 0)
    }
}

@Suite("Parsing: /proc maps, ranges, sizes, JSON escapes, arguments") struct ParsingTests {
    @Test("parses maps lines") func parsesMapsLines() throws {
        let text = """
            55fc9dd97000-55fc9ddb8000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000001000 r--p 00001000 08:01 1234   /usr/lib/with space.so
            7f0000002000-7f0000003000 rw-s 00000000 00:01 99     /secretmem (deleted)
            7f0000004000-7f0000005000 ---p 00000000 00:00 0
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            garbage
            """
        let regions = MemoryRegion.parse(maps: text)
        #expect(regions.count == 5)
        #expect(regions[0].path == "[heap]" && regions[0].kind == .scanned)
        #expect(regions[1].path == "/usr/lib/with space.so" && regions[1].inode == 1234)
        #expect(regions[2].kind == .secretmem)
        #expect(regions[3].kind == .unreadable && regions[3].path.isEmpty)
        #expect(regions[4].kind == .skipped)
        #expect(regions[0].size == 0x21000)
    }

    @Test("subtracts ranges") func subtractsRanges() {
        let pieces = ProcessMemoryScanner.subtract([10..<20, 30..<35, 90..<200], from: 0..<100)
        #expect(pieces == [0..<10, 20..<30, 35..<90])
        #expect(ProcessMemoryScanner.subtract([0..<100], from: 10..<20).isEmpty)
    }

    @Test("parses byte sizes") func parsesByteSizes() {
        #expect(parseByteSize("65536") == 65536)
        #expect(parseByteSize("64K") == 65536)
        #expect(parseByteSize("16M") == 16 << 20)
        #expect(parseByteSize("1g") == 1 << 30)
        #expect(parseByteSize("") == nil)
        #expect(parseByteSize("M") == nil)
        #expect(parseByteSize("-1") == nil)
        #expect(parseByteSize("99999999999T") == nil)
    }

    @Test("JSON escapes control characters") func jsonEscapesControlCharacters() {
        #expect(JSON.string("a\"b\\c\n\u{01}").rendered() == #""a\"b\\c\n\u0001""#)
        #expect(JSON.object([("k", .array([.int(1), .null]))]).compact() == #"{"k":[1,null]}"#)
    }

    @Test("parser separates options flags and positionals") func parserSeparatesOptionsFlagsAndPositionals() throws {
        let outcome = try ArgumentParser.parse(["ledger", "verify", "--json", "--key=abc", "--", "--file"], root: CLI.root)
        guard case .run(let parsed) = outcome else { Issue.record("expected a command"); return }
        #expect(parsed.spec.path == ["ledger", "verify"])
        #expect(parsed.flag(LedgerVerifyCommand.json))
        #expect(parsed.value(LedgerVerifyCommand.key) == "abc")
        #expect(parsed.positionals == ["--file"])
    }

    /// Found by FuzzCLIArguments: "=" followed by a combining mark is one Character, so a
    /// Character search missed the separator.
    @Test("inline value may start with a combining mark") func inlineValueMayStartWithACombiningMark() throws {
        let value = "\u{35C}\u{317}rsion.json"
        let outcome = try ArgumentParser.parse(["scan", "--pid=1", "--needle-file=" + value], root: CLI.root)
        guard case .run(let parsed) = outcome else { Issue.record("expected a command"); return }
        #expect(parsed.value(ScanCommand.needleFile)?.unicodeScalars.elementsEqual(value.unicodeScalars) == true)
        #expect(parsed.value(ScanCommand.pid) == "1")
    }
}

/// Loading a needle file leaves no plaintext copy in this process: the bytes go from the file
/// into a scratch mapping, are hashed, and are wiped.
@Suite("Needle files: loaded without a plaintext copy", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct NeedleFileTests {
    @Test("loading a needle leaves no plaintext in memory") func loadingANeedleLeavesNoPlaintextInMemory() throws {
        // The needle is made by a child process, so this process never held it before loading.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-needle-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "head -c 48 /dev/urandom > \"$0\"", path]
        try shell.run()
        shell.waitUntilExit()
        try #require(shell.terminationStatus == 0)

        let scanner = try ScanCommand.loadScanner(path: path, keepNewline: true)
        #expect(scanner.needleLengths == [48])
        let clean = try ProcessMemoryScanner(scanner: scanner).scan(pid: nil)
        #expect(clean.matches.isEmpty)

        // Positive control: once the bytes are read into the heap, the same scan finds them.
        let heapCopy = try Data(contentsOf: URL(fileURLWithPath: path))
        let found = try ProcessMemoryScanner(scanner: scanner).scan(pid: nil)
        #expect(found.matches.contains { $0.length == 48 })
        withExtendedLifetime(heapCopy) {}
    }
}
