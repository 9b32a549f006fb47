import RetentionVocabulary
// The writer's Merkle tree (issue 13 §4): the leaves [0, baseSize) live in a ledger index's
// `hashes` file (Docs/LedgerFormat.md §12), read with pread when a proof needs one of their
// nodes; in memory are only the frontier of baseSize (at most 64 hashes, checked against a
// signed checkpoint when the index was opened) and every node over leaves appended since. With
// no index (baseSize 0) it is the whole tree in memory, as `MerkleTree`.
//
// Level l in memory holds the nodes [starts[l], starts[l] + levels[l].count), starts[l] even:
// starts[l] = ⌊baseSize / 2^l⌋ rounded down to even, so a frontier node of baseSize (an odd
// ⌊baseSize / 2^l⌋) is the level's first element and an append completes pairs in memory only.
// Every node below starts[l] covers leaves below baseSize, hence is in the index.

import Glibc
import VaultSystem

struct WriterTree: MerkleAccumulator {
    /// The index holding the nodes over leaves [0, baseSize); nil when baseSize is 0.
    private(set) var base: LedgerIndexStore?
    private(set) var baseSize: UInt64 = 0
    private var levels: [ChunkedArray<Hash32>] = [ChunkedArray()]
    private var starts: [UInt64] = [0]
    private(set) var size: UInt64 = 0

    init() {}

    /// A tree of `size` leaves whose nodes are in `base`; `frontier` is the roots of the perfect
    /// subtrees `size` splits into, largest first (nil if it has the wrong count).
    init?(base: LedgerIndexStore, size: UInt64, frontier: [Hash32]) {
        guard size > 0, frontier.count == size.nonzeroBitCount else { return nil }
        self.base = base
        baseSize = size
        self.size = size
        let top = 63 - size.leadingZeroBitCount
        levels = Array(repeating: ChunkedArray(), count: top + 1)
        starts = (0...top).map { (size >> UInt64($0)) & ~1 }
        var next = 0
        for level in stride(from: top, through: 0, by: -1) where (size >> UInt64(level)) & 1 == 1 {
            levels[level].append(frontier[next])
            next += 1
        }
    }

    mutating func append(leafHash: Hash32) {
        levels[0].append(leafHash)
        size += 1
        var level = 0
        // starts[level] is even, so the local count's parity is the level's.
        while levels[level].count % 2 == 0 {
            let count = levels[level].count
            let parent = MerkleHashing.node(levels[level][count - 2], levels[level][count - 1])
            if levels.count == level + 1 {
                // A level with no node yet: its first is the node over leaves [0, 2^(level+1)).
                levels.append(ChunkedArray())
                starts.append(0)
            }
            levels[level + 1].append(parent)
            level += 1
        }
    }

    /// MTH(D[0:size]) from the frontier, which is always in memory: the last node of each level
    /// whose bit is set in `size`.
    var currentRoot: Hash32 {
        var hash: Hash32?
        for level in levels.indices where (size >> UInt64(level)) & 1 == 1 {
            let node = levels[level][levels[level].count - 1]
            hash = hash.map { MerkleHashing.node(node, $0) } ?? node
        }
        return hash ?? MerkleHashing.emptyRoot
    }

    /// Whether roots and proofs up to `size` come from memory alone (or nodes whose values
    /// the caller checks): sizes ≥ baseSize have their frontier in memory.
    func rootIsInMemory(size: UInt64) -> Bool { size >= baseSize }

    /// The node in memory, nil if it is not there.
    func memoryNode(level: Int, index: UInt64) -> Hash32? {
        guard level < levels.count, index >= starts[level], index - starts[level] < UInt64(levels[level].count) else { return nil }
        return levels[level][Int(index - starts[level])]
    }

    /// The first in-memory node index of `level` (nodes below it are in the index).
    func memoryStart(level: Int) -> UInt64 { level < starts.count ? starts[level] : 0 }
    var levelCount: Int { levels.count }

    /// The node (level, index), from memory or read from the index.
    func node(level: Int, index: UInt64) throws(LedgerError) -> Hash32 {
        if let hash = memoryNode(level: level, index: index) { return hash }
        guard let base, level < 48, (index + 1) << UInt64(level) <= baseSize, let hash = base.node(level: level, index: index) else {
            throw .io(.read, errno: EIO)
        }
        return hash
    }

    /// MTH(D[0:size]) for any size ≤ the current size.
    func root(size: UInt64) throws(LedgerError) -> Hash32 {
        if size == self.size { return currentRoot }
        return size == 0 ? MerkleHashing.emptyRoot : try subtreeHash(start: 0, count: size)
    }

    /// MTH of leaves [start, start+count), count ≥ 1.
    func subtreeHash(start: UInt64, count: UInt64) throws(LedgerError) -> Hash32 {
        if count & (count - 1) == 0 && start % count == 0 {
            let level = count.trailingZeroBitCount
            return try node(level: level, index: start >> UInt64(level))
        }
        let split = largestPowerOfTwo(below: count)
        return MerkleHashing.node(try subtreeHash(start: start, count: split), try subtreeHash(start: start + split, count: count - split))
    }

    /// RFC 9162 §2.1.3.1 PATH(index, D[0:size]) (the ranges of `StreamingInclusionProof`).
    func inclusionProof(index: UInt64, size: UInt64) throws(LedgerError) -> [Hash32] {
        guard index < size, size <= self.size else { throw .invalidField("tree size") }
        var proof: [Hash32] = []
        var elements: [(UInt64, UInt64)] = []
        var start: UInt64 = 0, count = size, target = index
        while count > 1 {
            let split = largestPowerOfTwo(below: count)
            if target < split {
                elements.append((start + split, count - split))
                count = split
            } else {
                elements.append((start, split))
                start += split
                target -= split
                count -= split
            }
        }
        for (rangeStart, rangeCount) in elements.reversed() { proof.append(try subtreeHash(start: rangeStart, count: rangeCount)) }
        return proof
    }

    /// RFC 9162 §2.1.4.1 PROOF(first, D[0:second]).
    func consistencyProof(first: UInt64, second: UInt64) throws(LedgerError) -> [Hash32] {
        guard first <= second, second <= size else { throw .invalidField("tree size") }
        var proof: [Hash32] = []
        for range in StreamingRangeHashes.consistencyRanges(first: first, second: second) {
            proof.append(try subtreeHash(start: range.start, count: range.count))
        }
        return proof
    }

    /// The same tree with the leaves [0, size) now in `store` (which the caller has just
    /// written with every node of them): memory keeps only the new frontier and what follows.
    mutating func rebase(onto store: LedgerIndexStore, at newBase: UInt64) {
        guard newBase >= baseSize, newBase <= size, newBase > 0 else { return }
        var newLevels: [ChunkedArray<Hash32>] = []
        var newStarts: [UInt64] = []
        for level in levels.indices {
            let start = (newBase >> UInt64(level)) & ~1
            var kept = ChunkedArray<Hash32>()
            let end = starts[level] + UInt64(levels[level].count)
            var index = start
            while index < end {
                kept.append(levels[level][Int(index - starts[level])])
                index += 1
            }
            newLevels.append(kept)
            newStarts.append(start)
        }
        levels = newLevels
        starts = newStarts
        base = store
        baseSize = newBase
    }
}

/// A ledger index opened by the writer (read and written with pread/pwrite; nothing is loaded
/// whole). Immutable once opened: a refresh writes the files and opens a new store.
final class LedgerIndexStore: Sendable {
    let manifest: LedgerIndexManifest
    let paths: LedgerIndexPaths
    let hashesFD: Int32
    let idsFD: Int32
    private let files: FileSystem

    /// Opens the index beside `ledger` if its manifest parses, names `header` and matches the
    /// files' sizes (LedgerFormat §12.2); nil otherwise. Nothing else is checked here.
    init?(ledger: String, header: LedgerHeader, files: FileSystem) {
        let paths = LedgerIndexPaths(ledger: ledger)
        guard let bytes = try? files.readFile(paths.manifest, limit: 1 << 20),
              let manifest = LedgerIndexManifest(bytes: bytes),
              manifest.ledgerHeaderDigest == SHA256.hash(header.encoded).bytes
        else { return nil }
        guard let hashes = try? files.open(paths.hashes, O_RDWR) else { return nil }
        guard let ids = try? files.open(paths.ids, O_RDWR) else {
            files.close(hashes)
            return nil
        }
        guard let hashStatus = try? files.status(hashes), let idStatus = try? files.status(ids),
              UInt64(idStatus.st_size) == manifest.idSlots * UInt64(LedgerIndexSlot.size),
              manifest.treeSize > 0, UInt64(hashStatus.st_size) >= (2 * manifest.treeSize - 1) * 32
        else {
            files.close(hashes)
            files.close(ids)
            return nil
        }
        self.manifest = manifest
        self.paths = paths
        self.hashesFD = hashes
        self.idsFD = ids
        self.files = files
    }

    deinit {
        files.close(hashesFD)
        files.close(idsFD)
    }

    /// The stored node (level, index); nil if outside the covered tree or unreadable.
    func node(level: Int, index: UInt64) -> Hash32? {
        guard level < 48, (index + 1) << UInt64(level) <= manifest.treeSize else { return nil }
        let position = inOrderPosition(level: level, index: index)
        var bytes = [UInt8](repeating: 0, count: 32)
        guard let count = try? files.read(hashesFD, into: &bytes, at: Int(position * 32)), count == 32 else { return nil }
        return Hash32(bytes)
    }

    /// Where the table says `id`'s latest receipt before the index's end is; nil if absent,
    /// unreadable or out of range.
    func location(of id: RequestID) -> RecordLocation? {
        guard let found = idTableLookup(fd: idsFD, id: id, seed: manifest.idSeed, slots: manifest.idSlots, files: files)?.location,
              found.leafIndex < manifest.treeSize
        else { return nil }
        return found
    }
}

/// Probes the ids table in `fd` for `id`: the slot index and its location if found, the first
/// empty slot's index (location nil) if not; nil when unreadable or the table is full.
func idTableLookup(fd: Int32, id: RequestID, seed: UInt64, slots: UInt64, files: FileSystem) -> (slot: UInt64, location: RecordLocation?)? {
    var index = LedgerIndexSlot.home(id, seed: seed, slots: slots)
    let perRead: UInt64 = 128
    var probed: UInt64 = 0
    var page = [UInt8](repeating: 0, count: Int(perRead) * LedgerIndexSlot.size)
    while probed < slots {
        let run = min(perRead, slots - index)
        guard let count = try? files.read(fd, into: &page, at: Int(index) * LedgerIndexSlot.size),
              count >= Int(run) * LedgerIndexSlot.size
        else { return nil }
        for k in 0..<Int(run) {
            var at = k * LedgerIndexSlot.size
            let high = readLE64(page, &at), low = readLE64(page, &at)
            let offset = readLE64(page, &at), leafAndLength = readLE64(page, &at)
            if leafAndLength & 0xFFFF == 0 { return (index + UInt64(k), nil) }
            if high == id.high && low == id.low {
                guard offset < 1 << 62 else { return nil }  // a damaged slot: no trap on conversion
                return (index + UInt64(k), RecordLocation(leafIndex: leafAndLength >> 16, offset: Int(offset), length: Int(leafAndLength & 0xFFFF)))
            }
        }
        probed += run
        index = (index + run) & (slots - 1)
    }
    return nil
}

/// One slot's 32 bytes (LedgerFormat §12.1).
func idTableSlot(_ id: RequestID, _ location: RecordLocation) -> [UInt8] {
    var slot: [UInt8] = []
    slot.reserveCapacity(LedgerIndexSlot.size)
    le64(id.high, &slot)
    le64(id.low, &slot)
    le64(UInt64(location.offset), &slot)
    le64(location.leafIndex << 16 | UInt64(location.length & 0xFFFF), &slot)
    return slot
}
