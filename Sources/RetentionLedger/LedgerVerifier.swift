public import RetentionVocabulary
// Offline verification and reading: everything an auditor (or `zdr ledger verify|show|export|
// prove`) needs, given only the file and the pinned verifier key. Nothing here writes.

import Glibc
import VaultSystem

/// What a successful verification found.
public struct LedgerVerificationReport: Sendable, Hashable {
    /// Records in the file (checkpoints and key rotations included).
    public let recordCount: UInt64
    public let checkpointCount: Int
    /// Records covered by the last signed checkpoint: records [0, this), whose root it signs
    /// (0 if none). The checkpoint itself is the record at this index.
    public let lastCheckpointTreeSize: UInt64
    /// Records after the last checkpoint record (host records and key rotations): intact and
    /// chained, but not covered by a signed checkpoint. 0 when every flush is sealed
    /// (``LedgerConfiguration/signsEveryFlush``); all records when there is no checkpoint.
    public let uncheckpointedRecords: UInt64
    /// The current key epoch (number of key rotations).
    public let keyEpoch: UInt32
    /// Bytes of an interrupted final write (a writer truncates them on open).
    public let tornTailBytes: Int
    /// RFC 6962 root hash of all records (32 bytes).
    public let rootHash: [UInt8]
}

/// One stored record with its position.
public struct LedgerEntry: Sendable, Hashable {
    public let leafIndex: UInt64
    public let offset: UInt64
    public let record: LedgerRecord
    public let canonicalBytes: [UInt8]
}

/// Offline verification of a ledger file.
public enum LedgerVerifier {
    /// Verifies every frame checksum, every record encoding, every checkpoint (size, root,
    /// signature) and every key rotation, following the key chain from the pinned `verifierKey`
    /// (`name+keyid+base64`). Throws `invalidRecord` naming the first bad record.
    public static func verify(path: String, verifierKey: String) throws(LedgerError) -> LedgerVerificationReport {
        try verify(path: path, verifierKey: VerifierKey(verifierKey))
    }

    /// As `verify(path:verifierKey:)` with a parsed key.
    ///
    /// The file is streamed through a 1 MiB window and the Merkle tree kept as its frontier
    /// (at most 64 hashes), so memory does not grow with the ledger.
    public static func verify(path: String, verifierKey: VerifierKey) throws(LedgerError) -> LedgerVerificationReport {
        try verify(path: path, verifierKey: verifierKey, files: .live)
    }

    /// Test seam: `files` sees every read, `window` sets the read size.
    static func verify(
        path: String, verifierKey: VerifierKey, files: FileSystem, window: Int = 1 << 20
    ) throws(LedgerError) -> LedgerVerificationReport {
        let (scan, replay) = try streamLedger(path: path, pinnedKey: verifierKey, window: window, files: files)
        return report(scan: scan, replay: replay)
    }

    private static func report(scan: LedgerScan, replay: LedgerReplay<MerkleFrontier>) -> LedgerVerificationReport {
        LedgerVerificationReport(
            recordCount: scan.recordCount, checkpointCount: replay.checkpointCount,
            lastCheckpointTreeSize: replay.lastCheckpoint?.treeSize ?? 0,
            uncheckpointedRecords: replay.recordsAfterLastCheckpoint,
            keyEpoch: replay.epoch, tornTailBytes: scan.tornTailBytes, rootHash: replay.tree.currentRoot.bytes)
    }

    /// As ``verify(path:verifierKey:)-(_,VerifierKey)``, and the ledger must extend `trustedNote`,
    /// a signed checkpoint of this log seen earlier (by a monitor, a witness, a customer's
    /// receipt): same origin, a key of this ledger's chain signed it, an RFC 9162 consistency
    /// proof from its size to the ledger's verifies against both roots, and the checkpoint
    /// record itself is still in the file. A ledger
    /// truncated or rolled back below it, or one that forked, throws
    /// ``LedgerError/notConsistent(trustedSize:currentSize:)``.
    public static func verify(path: String, verifierKey: VerifierKey, extending trustedNote: String) throws(LedgerError) -> LedgerVerificationReport {
        // Streamed like `verify`: the checkpoint record of the note's size and root is looked
        // for on the way (a malformed note is reported after the file, as before).
        let watched = try? SignedCheckpoint.parseUnverified(note: trustedNote)
        let (scan, replay) = try streamLedger(path: path, pinnedKey: verifierKey) { replay in
            if let watched { replay.watchedCheckpoint = (watched.treeSize, watched.rootHash) }
        }
        let size = replay.tree.size
        let claimed = try SignedCheckpoint.parseUnverified(note: trustedNote)
        // Signed by a key of this ledger's chain: a rolled-back ledger may no longer hold the
        // rotation that introduced the key, and then it is not consistent with the note either.
        let keys = replay.epochKeys.values.compactMap { VerifierKey(name: replay.origin, publicKey: $0) }
        guard keys.contains(where: { (try? SignedCheckpoint.open(note: trustedNote, verifierKey: $0)) != nil }),
              claimed.origin == replay.origin, claimed.treeSize <= size
        else { throw .notConsistent(trustedSize: claimed.treeSize, currentSize: size) }
        // The checkpoint record of the note's size and root must still be in the file. Its
        // root was checked against the file's own first `treeSize` records on the way, so the
        // ledger extends the note: this is what the RFC 9162 consistency proof from that size
        // shows, without the whole tree. (A file cut right before that record is consistent
        // with its root, yet lost the checkpoint and everything after it: refused too.)
        guard replay.sawWatchedCheckpoint else { throw .notConsistent(trustedSize: claimed.treeSize, currentSize: size) }
        return report(scan: scan, replay: replay)
    }

    /// The newest signed checkpoint of the ledger at `path`, after verifying all of it; `nil`
    /// when it has none yet.
    public static func latestCheckpoint(path: String, verifierKey: VerifierKey) throws(LedgerError) -> SignedCheckpoint? {
        let (_, replay) = try streamLedger(path: path, pinnedKey: verifierKey)
        return replay.lastCheckpoint.flatMap { replay.signedCheckpoint($0) }
    }

    /// Every record, in order (frames and encodings checked; signatures are not — use `verify`).
    public static func entries(path: String) throws(LedgerError) -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        try forEachEntry(path: path) { (entry) throws(LedgerError) in entries.append(entry) }
        return entries
    }

    /// Calls `body` with every record, in order, reading the file through a window: memory stays
    /// bounded whatever the ledger's size (frames and encodings checked; signatures are not).
    public static func forEachEntry(path: String, _ body: (LedgerEntry) throws(LedgerError) -> Void) throws(LedgerError) {
        try forEachEntry(path: path, window: 1 << 20, body)
    }

    static func forEachEntry(path: String, window: Int, _ body: (LedgerEntry) throws(LedgerError) -> Void) throws(LedgerError) {
        _ = try scanLedgerFile(path: path, window: window) { (index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) in
            guard let decoded = try? LedgerRecord.decode(record) else {
                throw .invalidRecord(index: index, offset: UInt64(offset), fault: .malformedEncoding)
            }
            try body(LedgerEntry(leafIndex: index, offset: UInt64(offset), record: decoded, canonicalBytes: record))
        }
    }

    /// The JSON Lines export: one object per record, in order, each line ending in "\n".
    public static func exportJSONLines(path: String) throws(LedgerError) -> String {
        var out = ""
        try exportJSONLines(path: path) { out += $0 }
        return out
    }

    /// The JSON Lines export, streamed: `write` receives each line (with its "\n") as the file
    /// is read, so exporting a ledger of any size holds one record at a time.
    public static func exportJSONLines(path: String, to write: (String) throws(LedgerError) -> Void) throws(LedgerError) {
        try forEachEntry(path: path) { (entry) throws(LedgerError) in
            try write(entry.record.jsonLine(leafIndex: entry.leafIndex) + "\n")
        }
    }

    /// Builds a receipt bundle offline from the file alone, using the latest existing checkpoint
    /// that covers the request's latest discard receipt. The whole file is verified first.
    ///
    /// Two streaming passes, in memory that does not grow with the file: the first verifies
    /// (as ``verify(path:verifierKey:)-(_,VerifierKey)``) and finds the receipt and the
    /// checkpoint; the second hashes the leaves again to build the inclusion proof, which the
    /// file does not store. The bundle is checked against `verifierKey` before it is returned,
    /// so a file changed between the passes fails (``LedgerError/bundleInvalid(_:)``) instead of
    /// yielding a bundle that does not verify.
    ///
    /// When a valid index is beside the ledger (`LEDGER.index/`, ``buildIndex(path:verifierKey:)``
    /// or a writer made it), the bundle comes from it in a few reads instead, and the ledger is
    /// not verified as a whole: the bundle is still checked against `verifierKey` (key chain,
    /// checkpoint signature, inclusion under the signed root) and any doubt about the index
    /// takes the scanning path (Docs/LedgerFormat.md §12).
    public static func receiptBundle(path: String, request: RequestID, verifierKey: String) throws(LedgerError) -> ReceiptBundle {
        let key = try VerifierKey(verifierKey)
        if let bundle = receiptBundleFromIndex(path: path, request: request, verifierKey: key) { return bundle }
        return try receiptBundle(path: path, request: request, verifierKey: key, files: .live)
    }

    /// Test seam: `files` sees every read of both passes.
    static func receiptBundle(
        path: String, request: RequestID, verifierKey: VerifierKey, files: FileSystem, window: Int = 1 << 20
    ) throws(LedgerError) -> ReceiptBundle {
        let (_, replay) = try streamLedger(path: path, pinnedKey: verifierKey, window: window, files: files) { replay in
            replay.watchedRequest = request
        }
        // The latest checkpoint of all covers the latest receipt if any does; its key is known
        // since every rotation was verified from the pinned key.
        guard let receipt = replay.watchedReceipt, let entry = replay.lastCheckpoint, entry.treeSize > receipt.location.leafIndex,
              let signed = replay.signedCheckpoint(entry)
        else { throw .requestNotFound }
        var builder = StreamingInclusionProof(index: receipt.location.leafIndex, size: entry.treeSize)
        let identity = replay.watchedIdentity
        var identityBuilder = identity.map { StreamingInclusionProof(index: $0.location.leafIndex, size: entry.treeSize) }
        _ = try scanLedgerFile(path: path, window: window, files: files) { (_: UInt64, _: Int, record: [UInt8]) throws(LedgerError) in
            let leaf = MerkleHashing.leaf(record)
            builder.append(leafHash: leaf)
            identityBuilder?.append(leafHash: leaf)
        }
        // A file cut between the passes: fewer leaves than the checkpoint covers.
        guard let proof = builder.proof else { throw .bundleInvalid(.inclusionProofInvalid) }
        var identityProof: SoftwareIdentityProof?
        if let identity, let builder = identityBuilder {
            guard let path = builder.proof else { throw .bundleInvalid(.softwareIdentityInvalid) }
            identityProof = SoftwareIdentityProof(record: identity.bytes, leafIndex: identity.location.leafIndex, inclusionProof: path.map(\.bytes))
        }
        let bundle = ReceiptBundle(
            record: receipt.bytes, leafIndex: receipt.location.leafIndex, treeSize: entry.treeSize,
            inclusionProof: proof.map(\.bytes), checkpoint: signed.noteText, keyRotations: replay.keyChain(for: entry),
            softwareIdentity: identityProof)
        _ = try bundle.verify(verifierKey: verifierKey)
        return bundle
    }

    /// RFC 9162 consistency proof between two tree sizes of the ledger at `path`.
    public static func consistencyProof(path: String, firstSize: UInt64, secondSize: UInt64) throws(LedgerError) -> [[UInt8]] {
        try consistency(path: path, firstSize: firstSize, secondSize: secondSize).proof
    }

    /// RFC 6962 root hash of the first `size` records of the ledger at `path`.
    public static func rootHash(path: String, size: UInt64) throws(LedgerError) -> [UInt8] {
        try consistency(path: path, firstSize: size, secondSize: size).secondRoot
    }

    /// The RFC 9162 consistency proof from `firstSize` to `secondSize` with both roots, in one
    /// streaming pass: each proof element and root is a range of leaves hashed by a frontier
    /// as it passes, so memory is O(log² n) however large the ledger (frames and encodings
    /// checked; signatures are not — use `verify`).
    public static func consistency(
        path: String, firstSize: UInt64, secondSize: UInt64
    ) throws(LedgerError) -> (proof: [[UInt8]], firstRoot: [UInt8], secondRoot: [UInt8]) {
        guard firstSize <= secondSize else { throw .invalidField("tree size") }
        var ranges = StreamingRangeHashes.consistencyRanges(first: firstSize, second: secondSize)
        let proofCount = ranges.count
        ranges.append((0, firstSize))
        ranges.append((0, secondSize))
        var hashes = StreamingRangeHashes(ranges: ranges)
        var size: UInt64 = 0
        try forEachEntry(path: path) { (entry) throws(LedgerError) in
            hashes.append(leafHash: MerkleHashing.leaf(entry.canonicalBytes))
            size += 1
        }
        guard secondSize <= size else { throw .invalidField("tree size") }
        let roots = hashes.roots
        return (roots[0..<proofCount].map(\.bytes), roots[proofCount].bytes, roots[proofCount + 1].bytes)
    }
}

func readLedgerFile(_ path: String) throws(LedgerError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(.open, errno: errno) }
    defer { close(fd) }
    return try readWholeFile(fd: fd)
}
