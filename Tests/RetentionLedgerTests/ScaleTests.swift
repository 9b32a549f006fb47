#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

private let childLedgerVariable = "ZDR_TEST_SCALE_LEDGER"
private let childKeyVariable = "ZDR_TEST_SCALE_KEY"
private let growthPrefix = "max-rss-growth-kib "

/// Writes a ledger of `count` identical discard receipts (the verifier does not care that they
/// repeat) and a signed checkpoint of all of them, frame by frame: seconds faster in a debug
/// build than appending through `Ledger`, and the checkpoint's root still has to match.
private func writeScaleLedger(path: String, signer: SigningKey, count: Int) {
    var bytes = LedgerHeader(origin: signer.name, flags: []).encoded
    let record = LedgerRecord(recordedAt: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000),
                              .discardReceipt(sampleReceipt(request(1)))).canonicalBytes
    var frame: [UInt8] = []
    appendFrame(record, to: &frame)
    let leaf = MerkleProofs.leafHash(record)
    var tree = MerkleFrontier()
    bytes.reserveCapacity(bytes.count + count * frame.count + 256)
    for _ in 0..<count {
        bytes += frame
        tree.append(leafHash: Hash32(leaf)!)
    }
    let root = tree.currentRoot.bytes
    let signature = signer.sign(checkpointBody(origin: signer.name, treeSize: UInt64(count), rootHash: root))
    let checkpoint = LedgerRecord(
        recordedAt: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000),
        .checkpoint(CheckpointRecord(treeSize: UInt64(count), rootHash: root, keyEpoch: 0, signature: signature)))
    appendFrame(checkpoint.canonicalBytes, to: &bytes)
    writeFile(path, bytes)
}

@Suite("Ledger at scale: verification in memory that does not grow with the file (issue 13 §4)")
struct ScaleTests {
    @Test("the frontier has the full tree's root and one hash per set bit of the size",
          arguments: [1, 2, 3, 5, 8, 63, 64, 65, 255, 1000, 4097])
    func frontierMatchesTree(size: Int) {
        var tree = MerkleTree()
        var frontier = MerkleFrontier()
        for index in 0..<size {
            let leaf = MerkleHashing.leaf(Array("leaf \(index)".utf8))
            tree.append(leafHash: leaf)
            frontier.append(leafHash: leaf)
        }
        #expect(frontier.size == UInt64(size))
        #expect(frontier.currentRoot == tree.root(size: tree.size))
        #expect(frontier.nodes.count == size.nonzeroBitCount)
    }

    @Test("streaming verification keeps no per-record state: no receipt index, no checkpoint list, O(log n) hashes")
    func streamingReplayHoldsNoPerRecordState() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration(checkpointEvery: 100))
        for index in 0..<3000 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(index))))) }
        try ledger.close()
        let (scan, replay) = try streamLedger(path: path, pinnedKey: VerifierKey(signer.verifierKey), window: 4096)
        #expect(scan.recordCount == 3030)
        #expect(replay.checkpointCount == 30 && replay.checkpoints.isEmpty)
        #expect(replay.receipts.unindexedCount == 0)
        #expect(replay.tree.nodes.count == Int(replay.tree.size).nonzeroBitCount)
        // The same answers as the writer's full replay.
        let full = try replayLedger(readFile(path), pinnedKey: VerifierKey(signer.verifierKey)).1
        #expect(replay.tree.currentRoot == full.tree.root(size: full.tree.size))
        #expect(full.receipts.unindexedCount == 3000)
    }

    @Test("the streamed inclusion proof is the full tree's, for every leaf", arguments: [1, 2, 3, 6, 8, 13, 64, 100])
    func streamedProofMatchesTree(size: Int) {
        var tree = MerkleTree()
        let leaves = (0..<size).map { MerkleHashing.leaf(Array("leaf \($0)".utf8)) }
        for leaf in leaves { tree.append(leafHash: leaf) }
        for index in 0..<size {
            var builder = StreamingInclusionProof(index: UInt64(index), size: UInt64(size))
            #expect(size == 1 || builder.proof == nil)
            for leaf in leaves { builder.append(leafHash: leaf) }
            builder.append(leafHash: leaves[0])  // past the size: ignored
            #expect(builder.proof == tree.inclusionProof(index: UInt64(index), size: UInt64(size)), "leaf \(index) of \(size)")
        }
    }

    @Test("the offline receipt bundle is the writer's, for the latest receipt of each request")
    func offlineBundleMatchesWriter() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let pinned = signer.verifierKey
        let ledger = try Ledger(
            path: path, registry: testRegistry, signer: signer,
            configuration: quietConfiguration(checkpointEvery: 7, keyEvolution: KeyEvolution(checkpointsPerEpoch: 2)))
        for index in 0..<60 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(index % 25))))) }
        _ = try ledger.checkpoint()
        try ledger.flush()
        for id in [0, 1, 9, 24] {
            let written = try ledger.receiptBundle(forRequest: request(UInt64(id)))
            let offline = try LedgerVerifier.receiptBundle(path: path, request: request(UInt64(id)), verifierKey: pinned)
            #expect(offline.leafIndex == written.leafIndex && offline.treeSize == written.treeSize, "request \(id)")
            #expect(offline.inclusionProof == written.inclusionProof && offline.record == written.record, "request \(id)")
        }
        #expect(throws: LedgerError.requestNotFound) {
            _ = try LedgerVerifier.receiptBundle(path: path, request: request(99), verifierKey: pinned)
        }
        try ledger.close()
    }

    /// The child half of the memory test. Without the environment variables it does nothing (and
    /// passes trivially alone); with them it verifies the ledger, then builds the bundle of its
    /// receipt, and prints how much its peak resident set grew during each (one child for both:
    /// each spawn briefly shares the parent's descriptors, and with them other tests' locks).
    @Test("(child process) verifies and proves a ledger and prints its peak RSS (VmHWM) growth; does nothing alone",
          .enabled(if: ProcessInfo.processInfo.environment[childLedgerVariable] != nil, "the parent test spawns it"))
    func scaleChildProcess() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[childLedgerVariable], let key = environment[childKeyVariable] else { return }
        // VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec, and a child
        // spawned with vfork semantics starts with the parent's (the whole test process's) peak.
        func peak() -> Int {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            // "VmHWM:\t   4232 kB"
            return line.flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") } ?? -1
        }
        let start = peak()
        let records = try LedgerVerifier.verify(path: path, verifierKey: key).recordCount
        let verified = peak()
        let covered = try LedgerVerifier.receiptBundle(path: path, request: request(1), verifierKey: key).treeSize
        let proved = peak()
        let line = Array("\(growthPrefix)\(verified - start) \(proved - verified) \(records) \(covered)\n".utf8)
        _ = line.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
    }

    // AddressSanitizer keeps freed memory in its quarantine (256 MiB by default), so the resident
    // set there measures the quarantine, not what the verifier holds.
    @Test("verifying, then proving from, 200,000 records each grow the peak resident set by less than 16 MiB (the file is 22 MiB)",
          .disabled(if: dlsym(nil, "__asan_init") != nil, "AddressSanitizer's quarantine holds freed memory"))
    func memoryStaysBounded() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let signer = try SigningKey.generate(name: "ledger.example")
        let count = 200_000
        writeScaleLedger(path: path, signer: signer, count: count)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["--testing-library", "swift-testing", "--filter", "scaleChildProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment[childLedgerVariable] = path
        environment[childKeyVariable] = signer.verifierKey
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        let line = text.split(separator: "\n").first { $0.hasPrefix(growthPrefix) }
        let fields = (line.map { $0.dropFirst(growthPrefix.count).split(separator: " ") } ?? []).compactMap { Int($0) }
        #expect(fields.count == 4 && fields[2] == count + 1 && fields[3] == count, "child output: \(text.suffix(500))")
        guard fields.count == 4 else { return }
        #expect(fields[0] >= 0 && fields[1] >= 0, "VmHWM unreadable: \(text.suffix(500))")
        // Holding the file (22 MiB), every node (2 hashes per record, 12 MiB) and the receipt
        // index (6 MiB) grew it by over 40 MiB; a 1 MiB window and frontiers need about 1 MiB.
        // The peak only rises, so prove is bounded by what both together added.
        #expect(fields[0] < 16 << 10, "verify grew the peak RSS by \(fields[0]) KiB")
        #expect(fields[0] + fields[1] < 16 << 10, "verify then prove grew the peak RSS by \(fields[0] + fields[1]) KiB")
    }
}
