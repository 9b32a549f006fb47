import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// The streaming reader (export, show) slides a window over the file; it must see exactly what a
/// read of the whole file sees, at every window size and wherever a frame straddles the edge,
/// torn tails and corruption included.
@Suite("Streaming reads: a sliding window sees what the whole file shows")
struct StreamingReadTests {
    private static func ledger(records: Int, in directory: TemporaryDirectory) throws -> String {
        let path = directory.file("ledger.zdr")
        let ledger = try Ledger(path: path, registry: testRegistry, signer: try SigningKey.generate(name: "ledger.example"),
                                configuration: quietConfiguration(checkpointEvery: 500))
        for n in 0..<records { try ledger.append(sampleRecords(request(UInt64(n)))[n % 6]) }
        try ledger.close()
        return path
    }

    /// The whole-file scan: what the verifier and the writer's reopen use.
    private static func wholeFile(_ path: String) throws(LedgerError) -> ([LedgerEntry], LedgerScan) {
        var entries: [LedgerEntry] = []
        let bytes = try readFile(path)
        let scan = try scanLedger(bytes.span) { (index, offset, record) throws(LedgerError) in
            entries.append(LedgerEntry(leafIndex: index, offset: UInt64(offset),
                                       record: try LedgerRecord(canonicalBytes: record), canonicalBytes: record))
        }
        return (entries, scan)
    }

    @Test("every window size gives the same records, offsets and torn tail", arguments: [4096, 4109, 5000, 65_536, 1 << 20])
    func windowsAgree(window: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try Self.ledger(records: 3000, in: directory)
        // A torn tail: half of one more frame.
        var frame: [UInt8] = []
        appendFrame(sampleRecords(request(9999))[4].canonicalBytes, to: &frame)
        writeFile(path, readFile(path) + frame.prefix(frame.count / 2))
        let (expected, scan) = try Self.wholeFile(path)
        #expect(expected.count > 3000)  // the records and their checkpoints
        var streamed: [LedgerEntry] = []
        let streamedScan = try scanLedgerFile(path: path, window: window) { (index, offset, record) throws(LedgerError) in
            streamed.append(LedgerEntry(leafIndex: index, offset: UInt64(offset),
                                        record: try LedgerRecord(canonicalBytes: record), canonicalBytes: record))
        }
        #expect(streamed == expected)
        #expect(streamedScan.tornTailBytes == scan.tornTailBytes && streamedScan.tornTailBytes == frame.count / 2)
        #expect(streamedScan.validEnd == scan.validEnd && streamedScan.recordCount == scan.recordCount)
    }

    @Test("a corrupt frame far into the file is reported with the same index and offset")
    func corruptionIsReportedTheSame() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try Self.ledger(records: 2000, in: directory)
        var bytes = readFile(path)
        let target = try LedgerVerifier.entries(path: path)[1500]
        bytes[Int(target.offset) + 20] ^= 0x10
        writeFile(path, bytes)
        let expected = LedgerError.invalidRecord(index: 1500, offset: target.offset, fault: .checksumMismatch)
        #expect(throws: expected) { _ = try Self.wholeFile(path) }
        #expect(throws: expected) { _ = try scanLedgerFile(path: path, window: 4096) { _, _, _ in } }
        #expect(throws: expected) { try LedgerVerifier.forEachEntry(path: path) { _ in } }
    }

    @Test("the streamed export is the export, line for line")
    func streamedExport() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try Self.ledger(records: 1200, in: directory)
        var lines: [String] = []
        try LedgerVerifier.exportJSONLines(path: path) { lines.append($0) }
        // Against the whole-file read, not against the export's own code path.
        let expected = try Self.wholeFile(path).0.map { $0.record.jsonLine(leafIndex: $0.leafIndex) + "\n" }
        #expect(lines.count > 1200)
        #expect(lines == expected)
    }
}
