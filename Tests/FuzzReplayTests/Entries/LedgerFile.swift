#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RetentionLedger
import RetentionVocabulary

/// Ledger files as found on disk after a crash or an attack: offline verification, listing,
/// export, and the writer's recovery (open, truncate a torn tail, append, checkpoint).
///
/// The first input byte picks the mode; the rest is the file. Mode bit 0 set: every frame's
/// length complement and CRC-32C (and the header's CRC) are recomputed first, so mutations get
/// past the checksums into the record, checkpoint and key-chain checks.
///
/// Properties:
/// - `verify` and `entries` agree on the record count; the report's root is the RFC 6962 root of
///   the listed records, computed independently; every listed record is canonical.
/// - the export has one line per record.
/// - prefix roots match the reference; every offline receipt bundle verifies.
/// - a file that verifies under the pinned key can be reopened for writing by that key; after
///   recovery, one append and a checkpoint, it still verifies, has no torn tail, keeps every old
///   record (same root over the old size) and is consistent with the old tree.
public func fuzzLedgerFile(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    guard let mode = input.first else { return }
    var file = Array(input.dropFirst())
    if mode & 1 == 1 { file = withRecomputedChecksums(file) }
    let path = FuzzScratch.path("ledger")
    FuzzScratch.store(file, at: path)
    defer { unlink(path) }

    let report = try? LedgerVerifier.verify(path: path, verifierKey: FuzzLedgerKey.verifier)
    let entries = try? LedgerVerifier.entries(path: path)
    if let report {
        guard let entries else { throw FuzzPropertyViolation("verify accepts a file that entries refuses") }
        try require(UInt64(entries.count) == report.recordCount, "verify and entries disagree on the record count")
        try require(report.tornTailBytes <= file.count, "torn tail longer than the file")
        try require(report.checkpointCount <= entries.count, "more checkpoints than records")
        if let root = referenceRoot(entries.map(\.canonicalBytes)) {
            try require(root == report.rootHash, "report root differs from the RFC 6962 root of the records")
        }
        if mode & 1 == 0 && report.tornTailBytes == 0 {
            try require(withRecomputedChecksums(file) == file, "reference CRC-32C disagrees with the ledger's")
        }
    }
    if let entries {
        for entry in entries {
            try require(entry.record.canonicalBytes == entry.canonicalBytes, "a listed record is not canonical")
        }
        let export = try? LedgerVerifier.exportJSONLines(path: path)
        try require(export != nil, "entries succeeds but exportJSONLines fails")
        try require(export!.utf8.count(where: { $0 == 0x0A }) == entries.count, "export lines != records")
    }
    guard let report else {
        // Unverifiable files: recovery must refuse or succeed without crashing; nothing more.
        if let ledger = try? Ledger(path: path, registry: FuzzLedgerKey.registry, signer: FuzzLedgerKey.signer(),
                                    configuration: recoveryConfiguration(file)) {
            try? ledger.close()
        }
        return
    }
    if let entries { try checkOfflineProofs(path: path, entries: entries, pick: input.count) }
    try checkRecovery(path: path, file: file, before: report)
}

/// On a file that verifies: every prefix root the verifier reports is the RFC 6962 root of
/// those records, and every receipt bundle it builds offline verifies under the pinned key and
/// carries the recorded receipt.
private func checkOfflineProofs(path: String, entries: [LedgerEntry], pick: Int) throws(FuzzPropertyViolation) {
    guard !entries.isEmpty else { return }
    let size = pick % entries.count + 1
    let root = try? LedgerVerifier.rootHash(path: path, size: UInt64(size))
    try require(root != nil && root == referenceRoot(entries.prefix(size).map(\.canonicalBytes)),
                "rootHash(size:) differs from the RFC 6962 root of that prefix")
    for entry in entries {
        guard case .discardReceipt(let receipt) = entry.record.body else { continue }
        // No checkpoint may cover the receipt yet (requestNotFound); a later receipt for the
        // same request wins. Either way, what is built must verify.
        guard let bundle = try? LedgerVerifier.receiptBundle(
            path: path, request: receipt.requestID, verifierKey: FuzzLedgerKey.verifierKeyText)
        else { continue }
        let verified: VerifiedReceipt
        do { verified = try bundle.verify(verifierKey: FuzzLedgerKey.verifier) } catch {
            throw FuzzPropertyViolation("an offline receipt bundle from a verified ledger does not verify: \(error)")
        }
        try require(verified.receipt.requestID == receipt.requestID, "bundle carries another request's receipt")
    }
}

/// Opens the verified file for writing, appends, checkpoints, and checks what is left.
private func checkRecovery(path: String, file: [UInt8], before: LedgerVerificationReport) throws(FuzzPropertyViolation) {
    let origin = headerOrigin(file)
    guard origin == FuzzLedgerKey.verifier.name else { return }
    let ledger: Ledger
    do {
        ledger = try Ledger(path: path, registry: FuzzLedgerKey.registry, signer: FuzzLedgerKey.signer(),
                            configuration: recoveryConfiguration(file))
    } catch {
        throw FuzzPropertyViolation("a file that verifies under the key cannot be reopened by it: \(error)")
    }
    do {
        try ledger.append(.serviceHealth(ServiceHealthRecord(
            windowStart: Timestamp(nanosecondsSinceEpoch: 1), windowEnd: Timestamp(nanosecondsSinceEpoch: 2),
            requestsOpened: 1, requestsDiscarded: 1, discardFailures: 0, activeRequests: 0, bytesHeld: 0,
            budgetUsedPermille: 0)))
        _ = try ledger.checkpoint()
        try ledger.close()
    } catch {
        throw FuzzPropertyViolation("append or checkpoint after recovery failed: \(error)")
    }
    let after: LedgerVerificationReport
    do { after = try LedgerVerifier.verify(path: path, verifierKey: FuzzLedgerKey.verifier) } catch {
        throw FuzzPropertyViolation("the recovered ledger no longer verifies: \(error)")
    }
    try require(after.tornTailBytes == 0, "recovery left a torn tail")
    try require(after.recordCount >= before.recordCount + 2, "recovery lost records")
    try require(after.uncheckpointedRecords == 0, "the checkpoint after recovery does not cover the ledger")
    guard before.recordCount > 0 else { return }
    let oldRoot = try? LedgerVerifier.rootHash(path: path, size: before.recordCount)
    try require(oldRoot == before.rootHash, "recovery changed the records that were there")
    let proof = try? LedgerVerifier.consistencyProof(path: path, firstSize: before.recordCount, secondSize: after.recordCount)
    try require(
        proof.map {
            MerkleProofs.verifyConsistency(
                firstSize: before.recordCount, secondSize: after.recordCount, firstRoot: before.rootHash,
                secondRoot: after.rootHash, proof: $0)
        } == true,
        "the recovered ledger is not consistent with the old one")
}

/// A writer configuration for reopening `file`: no background work, and the header's
/// bucketing flag (the writer refuses a mismatch, correctly).
private func recoveryConfiguration(_ file: [UInt8]) -> LedgerConfiguration {
    LedgerConfiguration(
        flushIntervalNanoseconds: nil, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil,
        bucketSizes: file.count > 11 && file[11] & 1 == 1,
        clock: { Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000) })
}

/// The origin in the header, if the header is long enough to hold it.
private func headerOrigin(_ file: [UInt8]) -> String? {
    guard file.count >= 13 else { return nil }
    let length = Int(file[12])
    guard file.count >= 13 + length else { return nil }
    return String(decoding: file[13..<(13 + length)], as: UTF8.self)
}

/// Recomputes the header CRC and, frame by frame, the length complement and CRC-32C (over the
/// length word and the record). Stops at the first frame that does not fit; the rest is kept.
func withRecomputedChecksums(_ file: [UInt8]) -> [UInt8] {
    var out = file
    guard out.count >= 13 else { return out }
    let headerBody = 13 + Int(out[12])
    guard out.count >= headerBody + 4 else { return out }
    out.replaceSubrange(headerBody..<(headerBody + 4), with: bigEndian(ReferenceCRC32C.checksum(out[0..<headerBody])))
    var offset = headerBody + 4
    while offset + 8 <= out.count {
        let length = Int(out[offset]) << 24 | Int(out[offset + 1]) << 16 | Int(out[offset + 2]) << 8 | Int(out[offset + 3])
        guard length > 0, length <= 4096, offset + 12 + length <= out.count else { break }
        out.replaceSubrange((offset + 4)..<(offset + 8), with: bigEndian(~UInt32(length)))
        let crc = ReferenceCRC32C.checksum(out[offset..<(offset + 4)] + out[(offset + 8)..<(offset + 8 + length)])
        out.replaceSubrange((offset + 8 + length)..<(offset + 12 + length), with: bigEndian(crc))
        offset += 12 + length
    }
    return out
}
