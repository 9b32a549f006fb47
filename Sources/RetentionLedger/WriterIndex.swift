import RetentionVocabulary
// The writer's side of the ledger index (Docs/LedgerFormat.md §12.5): opening from it (check
// it against a signed checkpoint in the ledger, replay only the frames from that checkpoint on)
// and extending it once the ledger's records are durable. The index stays an untrusted cache:
// any doubt on open means the full replay, and what the writer later reads from it (nodes for
// proofs, table slots for lookups) is checked before it is used (Ledger.swift).

import Glibc
import VaultSystem

/// A ledger opened from its index: the replay from the index's checkpoint on.
struct IndexedOpen {
    var replay: LedgerReplay<WriterTree>
    var validEnd: Int
    var tornTailBytes: Int
    /// Frames replayed (the base checkpoint's and every one after it).
    var framesReplayed: UInt64
    /// Checkpoints of the base checkpoint's key epoch before it (counted only when asked).
    var earlierCheckpointsInEpoch: UInt32
    /// The key epoch at the base checkpoint.
    var baseEpoch: UInt32
}

/// The record of the whole, checksummed frame at `offset` in `bytes`, or nil.
private func frameRecord(_ bytes: Span<UInt8>, at offset: Int) -> [UInt8]? {
    guard offset >= 0, offset <= bytes.count - frameOverhead else { return nil }
    let length = readU32(bytes, at: offset)
    guard readU32(bytes, at: offset + 4) == ~length, length > 0, Int(length) <= maximumRecordLength,
          offset + Int(length) + frameOverhead <= bytes.count
    else { return nil }
    let record = bytes.extracting((offset + 8)..<(offset + 8 + Int(length)))
    guard readU32(bytes, at: offset + 8 + Int(length)) == frameChecksum(lengthWord: length, record: record) else { return nil }
    return [UInt8](copying: record)
}

/// Returned by a replay visitor to stop at a doubt (never leaves this file).
private let indexDoubt = LedgerError.invalidField("ledger index")

/// Opens the writer's state from the index beside `path`, or nil at any doubt (the caller then
/// replays the whole file). `bytes` is the whole ledger file, `header` the one the writer
/// expects. Checks, in order: the manifest (version, checksum, header digest, file sizes); the
/// file is at least as long as the index says (an index that leads the ledger is refused);
/// record 0's leaf hash; the checkpoint record at the manifest's offset, its root equal to the
/// root of the index's frontier at its size and its signature valid under the key chain read
/// from the rotation records the manifest names (each consecutive, each signed by the previous
/// key); the identity records. Then it replays from that checkpoint's frame to the end with
/// the full replay's rules, and requires the replayed tree, at the index's size, to have the
/// manifest's root and end at its covered offset.
func openFromIndex(
    path: String, bytes: Span<UInt8>, header: LedgerHeader, signerPublicKey: [UInt8], countEpochCheckpoints: Bool
) -> IndexedOpen? {
    guard let (parsed, headerLength) = try? LedgerHeader.parse(bytes), parsed == header,
          let store = LedgerIndexStore(ledger: path, header: header, files: .live)
    else { return nil }
    let manifest = store.manifest
    guard manifest.coveredBytes <= UInt64(bytes.count), manifest.checkpointLeaf < manifest.treeSize,
          manifest.checkpointOffset >= UInt64(headerLength), manifest.checkpointOffset < manifest.coveredBytes,
          let first = frameRecord(bytes, at: headerLength), MerkleHashing.leaf(first).bytes == manifest.firstLeafHash
    else { return nil }
    let checkpointOffset = Int(manifest.checkpointOffset)
    guard let checkpointBytes = frameRecord(bytes, at: checkpointOffset),
          let checkpointRecord = try? LedgerRecord.decode(checkpointBytes),
          case .checkpoint(let checkpoint) = checkpointRecord.body,
          checkpoint.treeSize == manifest.checkpointLeaf, checkpoint.treeSize > 0
    else { return nil }
    let base = checkpoint.treeSize

    // The frontier of the base, largest first; its root must be the signed one.
    var frontier: [Hash32] = []
    for level in stride(from: 63, through: 0, by: -1) where (base >> UInt64(level)) & 1 == 1 {
        guard let node = store.node(level: level, index: (base >> UInt64(level)) - 1) else { return nil }
        frontier.append(node)
    }
    var root: Hash32?
    for node in frontier.reversed() { root = root.map { MerkleHashing.node(node, $0) } ?? node }
    guard root?.bytes == checkpoint.rootHash else { return nil }

    // The key chain up to the base checkpoint.
    var rotations: [RotationEntry] = []
    var epochKeys: [UInt32: [UInt8]] = [:]
    var previousOffset = headerLength
    for entry in manifest.rotations where entry.offset < manifest.checkpointOffset {
        let offset = Int(entry.offset)
        guard offset >= previousOffset, let recordBytes = frameRecord(bytes, at: offset), recordBytes.count + frameOverhead == Int(entry.length),
              let record = try? LedgerRecord.decode(recordBytes), case .keyRotation(let rotation) = record.body,
              rotation.epoch == UInt32(rotations.count + 1), rotation.treeSize < base
        else { return nil }
        if let previous = epochKeys[rotation.epoch - 1] {
            let statement = keyRotationStatement(epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, treeSize: rotation.treeSize)
            guard VerifierKey(name: header.origin, publicKey: previous)?.isValidSignature(rotation.signature, of: statement) == true
            else { return nil }
        }
        rotations.append(RotationEntry(
            leafIndex: rotation.treeSize, epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, recordBytes: recordBytes, offset: offset))
        epochKeys[rotation.epoch] = rotation.newPublicKey
        previousOffset = offset
    }
    let epoch = UInt32(rotations.count)
    // Epoch 0's key is known only as the signer's own (a signer that was never evolved).
    guard checkpoint.keyEpoch == epoch, let signingKey = epoch == 0 ? signerPublicKey : epochKeys[epoch],
          let verifier = VerifierKey(name: header.origin, publicKey: signingKey),
          verifier.isValidSignature(checkpoint.signature, of: checkpointBody(origin: header.origin, treeSize: base, rootHash: checkpoint.rootHash))
    else { return nil }

    // The software identities before the base (few: one per open and per rotation).
    var identities: [RecordLocation] = []
    for entry in manifest.identities where entry.leaf < base {
        guard entry.offset < manifest.checkpointOffset, entry.leaf >= (identities.last.map { $0.leafIndex + 1 } ?? 0),
              let recordBytes = frameRecord(bytes, at: Int(entry.offset)), recordBytes.count + frameOverhead == Int(entry.length),
              let record = try? LedgerRecord.decode(recordBytes), case .softwareIdentity = record.body
        else { return nil }
        identities.append(RecordLocation(leafIndex: entry.leaf, offset: Int(entry.offset), length: Int(entry.length)))
    }

    guard let tree = WriterTree(base: store, size: base, frontier: frontier) else { return nil }
    var replay = LedgerReplay<WriterTree>(origin: header.origin, pinnedKey: nil, bucketedSizes: header.flags.contains(.bucketedSizes))
    replay.tree = tree
    replay.rotations = rotations
    replay.epochKeys = epochKeys
    replay.epoch = epoch
    replay.identities = identities
    var scanner = FrameScanner(nextOffset: checkpointOffset, index: base)
    var framesReplayed: UInt64 = 0
    var reachedCoverage = false
    let stop: (validEnd: Int, pending: Int)
    do {
        stop = try scanner.scan(bytes, from: 0) { (index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) in
            try replay.ingestFrame(index: index, offset: offset, record: record)
            framesReplayed += 1
            if index + 1 == manifest.treeSize {
                // The index's last record must end where the manifest says.
                guard UInt64(offset + record.count + frameOverhead) == manifest.coveredBytes else { throw indexDoubt }
                reachedCoverage = true
            }
        }
    } catch {
        // Damage after the base, or an index that does not match: the full replay decides.
        return nil
    }
    // An index that leads the ledger (the file cut at a record boundary after it was written)
    // or describes another history is refused here.
    guard reachedCoverage, replay.tree.size >= manifest.treeSize,
          (try? replay.tree.root(size: manifest.treeSize))?.bytes == manifest.rootHash
    else { return nil }

    var earlier: UInt32 = 0
    if countEpochCheckpoints {
        // Key evolution counts the epoch's checkpoints; those before the base are not replayed.
        var counter = FrameScanner(nextOffset: rotations.last?.offset ?? headerLength)
        do {
            _ = try counter.scan(bytes.extracting(0..<checkpointOffset), from: 0) { (_: UInt64, _: Int, record: [UInt8]) throws(LedgerError) in
                if let decoded = try? LedgerRecord.decode(record), case .checkpoint(let earlierCheckpoint) = decoded.body,
                   earlierCheckpoint.keyEpoch == epoch {
                    earlier += 1
                }
            }
        } catch { return nil }
    }
    return IndexedOpen(replay: replay, validEnd: stop.validEnd, tornTailBytes: stop.pending, framesReplayed: framesReplayed,
                       earlierCheckpointsInEpoch: earlier, baseEpoch: epoch)
}

/// What a refresh records in the manifest besides the tree and the table.
struct LedgerIndexContents {
    var header: LedgerHeader
    var firstLeafHash: Hash32
    /// Records covered, [0, treeSize): all durable in the ledger.
    var treeSize: UInt64
    var coveredBytes: UInt64
    var checkpoint: (leaf: UInt64, offset: UInt64)?
    var rotations: [(offset: UInt64, length: UInt32)]
    var identities: [(leaf: UInt64, offset: UInt64, length: UInt32)]
}

/// Writes the index beside `ledger` for `contents.treeSize` records and opens it: extends
/// `old` (the tree's base) in place, or writes a new one when there is none. `receipts` are the
/// writer's in-memory receipts (those of records before treeSize go to the table).
///
/// Crash order (LedgerFormat §12.4): the caller has made the records durable in the ledger;
/// the old manifest is removed and the directory synced first, so from then until the new
/// manifest is renamed in there is no index at all, and a crash anywhere in between costs one
/// full replay; then the nodes and slots are written, both files synced, and the new manifest
/// written to `manifest.tmp`, synced, renamed, and the directory synced.
func writeLedgerIndex(
    ledger: String, old: LedgerIndexStore?, tree: WriterTree, receipts: inout ReceiptIndex, contents: LedgerIndexContents
) throws(LedgerError) -> LedgerIndexStore {
    let files = FileSystem.live
    let paths = LedgerIndexPaths(ledger: ledger)
    let n = contents.treeSize
    guard n > 0, n <= tree.size, n >= tree.baseSize, (old == nil) == (tree.baseSize == 0) else { throw .invalidField("ledger index") }
    if mkdir(paths.directory, 0o700) != 0 && errno != EEXIST { throw .io(.open, errno: errno) }
    if unlink(paths.manifest) != 0 && errno != ENOENT { throw .io(.write, errno: errno) }
    syncParentDirectory(of: paths.manifest)

    let hashesFD: Int32
    var ownedHashes: Int32 = -1
    if let old {
        hashesFD = old.hashesFD
    } else {
        // New files, not truncated old ones: O_CREAT's mode applies only to a file it creates.
        unlink(paths.hashes)
        unlink(paths.ids)
        do { hashesFD = try files.open(paths.hashes, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
        ownedHashes = hashesFD
    }
    defer { if ownedHashes >= 0 { files.close(ownedHashes) } }
    try writeNodes(of: tree, upTo: n, fd: hashesFD, files: files)

    // The table: in place while its load stays ≤ 1/2, else a new one twice as large (or more).
    // Listed only when extending: a new index (after a full replay, every receipt of the file)
    // builds its table straight from the in-memory one.
    var entries: [(RequestID, RecordLocation)] = []
    var newReceipts: UInt64 = 0
    receipts.forEachLatest { (id: RequestID, location: RecordLocation) in
        guard location.leafIndex < n else { return }
        newReceipts += 1
        if old != nil { entries.append((id, location)) }
    }
    var seed = old?.manifest.idSeed ?? UInt64.random(in: .min ... .max)
    var slots = old?.manifest.idSlots ?? 0
    var count = old?.manifest.idCount ?? 0
    let idsFD: Int32
    var ownedIDs: Int32 = -1
    defer { if ownedIDs >= 0 { files.close(ownedIDs) } }
    if let old, (count + newReceipts) * 2 <= slots {
        idsFD = old.idsFD
        try insert(entries, into: idsFD, seed: seed, slots: slots, count: &count, files: files)
    } else if old == nil {
        // A new index (after a full replay): the table built in memory and written once, as
        // `zdr ledger index` does (32 bytes a slot, twice the receipts).
        slots = 16
        while slots < newReceipts * 2 { slots <<= 1 }
        count = 0
        var table = [UInt8](repeating: 0, count: Int(slots) * LedgerIndexSlot.size)
        let mask = slots - 1
        receipts.forEachLatest { (id: RequestID, location: RecordLocation) in
            guard location.leafIndex < n else { return }
            var index = LedgerIndexSlot.home(id, seed: seed, slots: slots)
            while true {
                var at = Int(index) * LedgerIndexSlot.size
                let high = readLE64(table, &at), low = readLE64(table, &at)
                _ = readLE64(table, &at)
                let empty = readLE64(table, &at) & 0xFFFF == 0
                if empty || (high == id.high && low == id.low) {
                    let slot = idTableSlot(id, location)
                    let base = Int(index) * LedgerIndexSlot.size
                    for k in 0..<LedgerIndexSlot.size { table[base + k] = slot[k] }
                    if empty { count += 1 }
                    break
                }
                index = (index + 1) & mask
            }
        }
        let temporary = paths.ids + ".tmp"
        unlink(temporary)
        do { idsFD = try files.open(temporary, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
        ownedIDs = idsFD
        try writeAll(fd: idsFD, table, at: 0, files: files)
    } else {
        var grown: UInt64 = 16
        while grown < (count + newReceipts) * 2 { grown <<= 1 }
        let temporary = paths.ids + ".tmp"
        unlink(temporary)
        do { idsFD = try files.open(temporary, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
        ownedIDs = idsFD
        do { try files.truncate(idsFD, to: Int(grown) * LedgerIndexSlot.size) } catch { throw .io(.truncate, errno: error.rawValue) }
        let newSeed = UInt64.random(in: .min ... .max)
        var newCount: UInt64 = 0
        if let old {
            // Rehash the old table into the new one, a page at a time.
            let pageSlots = 32_768
            var page = [UInt8](repeating: 0, count: pageSlots * LedgerIndexSlot.size)
            var start: UInt64 = 0
            while start < slots {
                let run = Int(min(UInt64(pageSlots), slots - start))
                let got: Int
                do { got = try files.read(old.idsFD, into: &page, at: Int(start) * LedgerIndexSlot.size) } catch { throw .io(.read, errno: error.rawValue) }
                guard got >= run * LedgerIndexSlot.size else { throw .io(.read, errno: EIO) }
                var moved: [(RequestID, RecordLocation)] = []
                for k in 0..<run {
                    var at = k * LedgerIndexSlot.size
                    let high = readLE64(page, &at), low = readLE64(page, &at), offset = readLE64(page, &at), leafAndLength = readLE64(page, &at)
                    guard leafAndLength & 0xFFFF != 0, offset < 1 << 62 else { continue }
                    moved.append((RequestID(high: high, low: low),
                                  RecordLocation(leafIndex: leafAndLength >> 16, offset: Int(offset), length: Int(leafAndLength & 0xFFFF))))
                }
                try insert(moved, into: idsFD, seed: newSeed, slots: grown, count: &newCount, files: files)
                start += UInt64(run)
            }
        }
        try insert(entries, into: idsFD, seed: newSeed, slots: grown, count: &newCount, files: files)
        seed = newSeed
        slots = grown
        count = newCount
    }
    do {
        try files.fsync(hashesFD)
        try files.fsync(idsFD)
    } catch { throw .io(.sync, errno: error.rawValue) }
    if ownedIDs >= 0 {
        do { try files.rename(paths.ids + ".tmp", to: paths.ids) } catch { throw .io(.rename, errno: error.rawValue) }
    }

    let manifest = LedgerIndexManifest(
        ledgerHeaderDigest: SHA256.hash(contents.header.encoded).bytes, firstLeafHash: contents.firstLeafHash.bytes,
        treeSize: n, coveredBytes: contents.coveredBytes, rootHash: try tree.root(size: n).bytes,
        checkpointLeaf: contents.checkpoint?.leaf ?? .max, checkpointOffset: contents.checkpoint?.offset ?? 0,
        rotations: contents.rotations, identities: contents.identities, idSeed: seed, idSlots: slots, idCount: count)
    let temporary = paths.manifest + ".tmp"
    let fd: Int32
    do { fd = try files.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
    do {
        try files.writeAll(fd, manifest.encoded, at: 0)
        try files.fsync(fd)
    } catch {
        files.close(fd)
        throw .io(.write, errno: error.rawValue)
    }
    files.close(fd)
    do { try files.rename(temporary, to: paths.manifest) } catch { throw .io(.rename, errno: error.rawValue) }
    syncParentDirectory(of: paths.manifest)
    guard let store = LedgerIndexStore(ledger: ledger, header: contents.header, files: files) else { throw .io(.open, errno: EIO) }
    return store
}

/// Writes every node over leaves [0, n) that the tree holds in memory at its in-order position
/// (LedgerFormat §12.1). Positions from 2·(first in-memory leaf) on are written as one run, a
/// buffer at a time, zero where a node is incomplete at n; the few in-memory nodes before that
/// run (over ranges that start below the old base) are written one by one.
private func writeNodes(of tree: WriterTree, upTo n: UInt64, fd: Int32, files: FileSystem) throws(LedgerError) {
    let runStart = 2 * tree.memoryStart(level: 0)
    let end = 2 * n - 1
    let chunk: UInt64 = 1 << 15
    var buffer: [UInt8] = []
    buffer.reserveCapacity(Int(chunk) * 32)
    var position = runStart
    while position < end {
        let stop = min(end, position + chunk)
        buffer.removeAll(keepingCapacity: true)
        for p in position..<stop {
            let level = (p + 1).trailingZeroBitCount
            let index = (p + 1) >> UInt64(level + 1)
            if (index + 1) << UInt64(level) <= n {
                guard let hash = tree.memoryNode(level: level, index: index) else { throw .io(.write, errno: EIO) }
                let storage = hash.storage
                for k in 0..<32 { buffer.append(storage[k]) }
            } else {
                for _ in 0..<32 { buffer.append(0) }
            }
        }
        try writeAll(fd: fd, buffer, at: Int(position * 32), files: files)
        position = stop
    }
    for level in 1..<max(1, tree.levelCount) {
        var index = tree.memoryStart(level: level)
        while (index + 1) << UInt64(level) <= n, inOrderPosition(level: level, index: index) < runStart {
            if let hash = tree.memoryNode(level: level, index: index) {
                try writeAll(fd: fd, hash.bytes, at: Int(inOrderPosition(level: level, index: index) * 32), files: files)
            }
            index += 1
        }
    }
}

/// Puts each (id, location) in the table in `fd` (ids are distinct: each request's latest), one
/// probe read and one 32-byte write each, in home-slot order so the pages are dirtied, and
/// later written back by the fsync, front to back; `count` counts filled slots.
private func insert(
    _ entries: [(RequestID, RecordLocation)], into fd: Int32, seed: UInt64, slots: UInt64, count: inout UInt64, files: FileSystem
) throws(LedgerError) {
    let ordered = entries.sorted { LedgerIndexSlot.home($0.0, seed: seed, slots: slots) < LedgerIndexSlot.home($1.0, seed: seed, slots: slots) }
    for (id, location) in ordered {
        guard let found = idTableLookup(fd: fd, id: id, seed: seed, slots: slots, files: files) else { throw .io(.read, errno: EIO) }
        try writeAll(fd: fd, idTableSlot(id, location), at: Int(found.slot) * LedgerIndexSlot.size, files: files)
        if found.location == nil { count += 1 }
    }
}
