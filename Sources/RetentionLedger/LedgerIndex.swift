import RetentionVocabulary
// The ledger index (Docs/LedgerFormat.md §12): a derived, untrusted cache beside the ledger
// (`LEDGER.index/`) holding the Merkle tree's hashes and a request id → record location table,
// so `prove` answers with a few `pread`s instead of two passes over the file. Nothing read from
// it is believed: a bundle built from it is checked against the signed checkpoint read from the
// ledger itself before it is returned, and any doubt (absent, stale, torn, foreign, corrupt,
// another version) returns nil so the caller takes the full-scan path. It is never a source of
// truth, so it needs no fsync on the ledger's path; deleting it only costs time.

import Glibc
import VaultSystem

/// The three files of an index: `manifest` (small, checksummed, replaced by rename last),
/// `hashes` (every tree node in in-order position) and `ids` (an open-addressing table).
struct LedgerIndexPaths: Sendable {
    let directory: String
    var manifest: String { directory + "/manifest" }
    var hashes: String { directory + "/hashes" }
    var ids: String { directory + "/ids" }

    init(ledger: String) { directory = ledger + ".index" }
}

/// Position of node (level, index) in the in-order layout: leaf i at 2i, the node over leaves
/// [i·2^l, (i+1)·2^l) at 2^(l+1)·i + 2^l − 1. Positions do not depend on the tree's size, so the
/// file only grows and a node, once written, never moves; every complete node of a tree of n
/// leaves lies below 2n − 1.
@inline(__always)
func inOrderPosition(level: Int, index: UInt64) -> UInt64 {
    (index << UInt64(level + 1)) + (UInt64(1) << UInt64(level)) - 1
}

/// What the manifest records (little-endian; Docs/LedgerFormat.md §12.2).
struct LedgerIndexManifest: Sendable, Equatable {
    static let magic: [UInt8] = Array("ZDRINDEX".utf8)
    static let version: UInt32 = 1

    /// CRC-checked header bytes of the ledger this index was built from.
    var ledgerHeaderDigest: [UInt8]
    /// Leaf hash of record 0: two ledgers of the same origin differ here (its timestamp).
    var firstLeafHash: [UInt8]
    /// Records covered: leaves [0, treeSize).
    var treeSize: UInt64
    /// File offset just past record treeSize − 1.
    var coveredBytes: UInt64
    /// MTH of the covered leaves.
    var rootHash: [UInt8]
    /// The last checkpoint record among the covered ones (none: `checkpointLeaf == .max`).
    var checkpointLeaf: UInt64
    var checkpointOffset: UInt64
    /// Every key-rotation record among the covered ones: (file offset, frame length).
    var rotations: [(offset: UInt64, length: UInt32)]
    /// Every software-identity record among the covered ones: (leaf index, file offset, frame length).
    var identities: [(leaf: UInt64, offset: UInt64, length: UInt32)]
    /// The ids table: its hash seed, slot count (a power of two) and entries.
    var idSeed: UInt64
    var idSlots: UInt64
    var idCount: UInt64

    static func == (lhs: LedgerIndexManifest, rhs: LedgerIndexManifest) -> Bool {
        lhs.encoded == rhs.encoded
    }

    var encoded: [UInt8] {
        var out = Self.magic
        le32(Self.version, &out)
        le32(0, &out)  // flags, none defined
        out += ledgerHeaderDigest
        out += firstLeafHash
        le64(treeSize, &out)
        le64(coveredBytes, &out)
        out += rootHash
        le64(checkpointLeaf, &out)
        le64(checkpointOffset, &out)
        le64(idSeed, &out)
        le64(idSlots, &out)
        le64(idCount, &out)
        le32(UInt32(rotations.count), &out)
        for rotation in rotations {
            le64(rotation.offset, &out)
            le32(rotation.length, &out)
        }
        le32(UInt32(identities.count), &out)
        for identity in identities {
            le64(identity.leaf, &out)
            le64(identity.offset, &out)
            le32(identity.length, &out)
        }
        out += SHA256.hash(out).bytes
        return out
    }

    /// Parses a manifest; nil for anything but this version with a matching checksum.
    init?(bytes: [UInt8]) {
        let fixed = 8 + 8 + 32 + 32 + 16 + 32 + 16 + 24 + 4 + 4
        guard bytes.count >= fixed + 32, bytes.count <= 1 << 20, Array(bytes[0..<8]) == Self.magic else { return nil }
        let body = Array(bytes[0..<(bytes.count - 32)])
        guard SHA256.hash(body).bytes == Array(bytes[(bytes.count - 32)...]) else { return nil }
        var at = 8
        guard readLE32(body, &at) == Self.version, readLE32(body, &at) == 0 else { return nil }
        ledgerHeaderDigest = Array(body[at..<(at + 32)]); at += 32
        firstLeafHash = Array(body[at..<(at + 32)]); at += 32
        treeSize = readLE64(body, &at)
        coveredBytes = readLE64(body, &at)
        rootHash = Array(body[at..<(at + 32)]); at += 32
        checkpointLeaf = readLE64(body, &at)
        checkpointOffset = readLE64(body, &at)
        idSeed = readLE64(body, &at)
        idSlots = readLE64(body, &at)
        idCount = readLE64(body, &at)
        let rotationCount = Int(readLE32(body, &at))
        guard body.count >= at + rotationCount * 12 + 4 else { return nil }
        rotations = []
        for _ in 0..<rotationCount {
            let offset = readLE64(body, &at)
            rotations.append((offset, readLE32(body, &at)))
        }
        let identityCount = Int(readLE32(body, &at))
        guard body.count == at + identityCount * 20 else { return nil }
        identities = []
        for _ in 0..<identityCount {
            let leaf = readLE64(body, &at)
            let offset = readLE64(body, &at)
            identities.append((leaf, offset, readLE32(body, &at)))
        }
        // Bounds before any arithmetic on them: the checksum keeps out accidents, not a forger,
        // and an overflow would trap. 2^48 records is 30 PB of ledger; 2^40 slots is 32 TiB.
        guard idSlots > 0, idSlots & (idSlots - 1) == 0, idSlots <= 1 << 40, idCount < idSlots,
              treeSize < 1 << 48, coveredBytes < 1 << 62, checkpointOffset < 1 << 62,
              rotations.allSatisfy({ $0.offset < 1 << 62 }), identities.allSatisfy({ $0.offset < 1 << 62 })
        else { return nil }
    }

    init(ledgerHeaderDigest: [UInt8], firstLeafHash: [UInt8], treeSize: UInt64, coveredBytes: UInt64, rootHash: [UInt8],
         checkpointLeaf: UInt64, checkpointOffset: UInt64, rotations: [(offset: UInt64, length: UInt32)],
         identities: [(leaf: UInt64, offset: UInt64, length: UInt32)],
         idSeed: UInt64, idSlots: UInt64, idCount: UInt64) {
        self.ledgerHeaderDigest = ledgerHeaderDigest
        self.firstLeafHash = firstLeafHash
        self.treeSize = treeSize
        self.coveredBytes = coveredBytes
        self.rootHash = rootHash
        self.checkpointLeaf = checkpointLeaf
        self.checkpointOffset = checkpointOffset
        self.rotations = rotations
        self.identities = identities
        self.idSeed = idSeed
        self.idSlots = idSlots
        self.idCount = idCount
    }
}

@inline(__always) func le32(_ value: UInt32, _ out: inout [UInt8]) {
    for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
}

@inline(__always) func le64(_ value: UInt64, _ out: inout [UInt8]) {
    for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
}

@inline(__always) func readLE32(_ bytes: [UInt8], _ at: inout Int) -> UInt32 {
    var value: UInt32 = 0
    for k in 0..<4 { value |= UInt32(bytes[at + k]) << UInt32(8 * k) }
    at += 4
    return value
}

@inline(__always) func readLE64(_ bytes: [UInt8], _ at: inout Int) -> UInt64 {
    var value: UInt64 = 0
    for k in 0..<8 { value |= UInt64(bytes[at + k]) << UInt64(8 * k) }
    at += 8
    return value
}

/// The ids table's slot: 32 bytes, little-endian: id high, id low, frame offset, then the leaf
/// index (48 bits) with the frame length (16 bits). All zero is empty (a frame is never empty).
enum LedgerIndexSlot {
    static let size = 32

    @inline(__always)
    static func home(_ id: RequestID, seed: UInt64, slots: UInt64) -> UInt64 {
        // The keyed mix of ReceiptIndex, with the seed stored in the manifest: the table must
        // hash the same in every process that reads it.
        var x = id.low &+ (id.high ^ seed) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        x ^= x >> 32
        return x & (slots - 1)
    }
}

/// Builds an index while a verifying scan passes over the ledger (`zdr ledger index`, or a
/// reader that found none): hashes stream to the file in position order through a buffer; the
/// ids table is built in memory (32 bytes a slot, load ≤ 1/2 after the final size is known) and
/// written once.
struct LedgerIndexBuilder {
    private let paths: LedgerIndexPaths
    private let files: FileSystem
    private var hashesFD: Int32 = -1
    /// Buffered hashes for positions [bufferStart, bufferStart + buffer.count/32).
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64 = 0
    private static let bufferSlots: UInt64 = 1 << 16
    private var frontier: [(level: Int, index: UInt64, hash: Hash32)] = []
    private(set) var size: UInt64 = 0
    /// (id high, id low, offset, leaf << 16 | length), latest last.
    private var receipts: [(UInt64, UInt64, UInt64, UInt64)] = []
    private var checkpoint: (leaf: UInt64, offset: UInt64)?
    private var rotations: [(offset: UInt64, length: UInt32)] = []
    private var identities: [(leaf: UInt64, offset: UInt64, length: UInt32)] = []
    private var firstLeaf: Hash32?
    private var coveredBytes: UInt64 = 0

    init(ledger: String, files: FileSystem = .live) throws(LedgerError) {
        paths = LedgerIndexPaths(ledger: ledger)
        self.files = files
        if mkdir(paths.directory, 0o700) != 0 && errno != EEXIST { throw .io(.open, errno: errno) }
        // A stale manifest must never describe the files being rewritten: remove it first.
        unlink(paths.manifest)
        // New files, not truncated old ones: O_CREAT's mode applies only to a file it creates.
        unlink(paths.hashes)
        unlink(paths.ids)
        do { hashesFD = try files.open(paths.hashes, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) } catch {
            throw .io(.open, errno: error.rawValue)
        }
        buffer.reserveCapacity(Int(Self.bufferSlots) * 32)
    }

    private mutating func put(_ hash: Hash32, at position: UInt64) throws(LedgerError) {
        if position < bufferStart {
            // A high node (one per 2^16 leaves or rarer) lands before the buffer: write it alone.
            try writeAll(fd: hashesFD, hash.bytes, at: Int(position * 32), files: files)
            return
        }
        let slot = Int(position - bufferStart)
        if slot >= Int(Self.bufferSlots) {
            try flushBuffer()
            bufferStart = position - position % Self.bufferSlots
            return try put(hash, at: position)
        }
        let end = (slot + 1) * 32
        if buffer.count < end { buffer += [UInt8](repeating: 0, count: end - buffer.count) }
        let bytes = hash.storage
        for k in 0..<32 { buffer[slot * 32 + k] = bytes[k] }
    }

    private mutating func flushBuffer() throws(LedgerError) {
        guard !buffer.isEmpty else { return }
        try writeAll(fd: hashesFD, buffer, at: Int(bufferStart * 32), files: files)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Adds the next record: its leaf hash, where its frame is, and what the index keeps of it.
    mutating func add(record: LedgerRecord, leafHash: Hash32, offset: Int, frameLength: Int) throws(LedgerError) {
        let leaf = size
        if leaf == 0 { firstLeaf = leafHash }
        try put(leafHash, at: inOrderPosition(level: 0, index: leaf))
        var node = (level: 0, index: leaf, hash: leafHash)
        while let last = frontier.last, last.level == node.level {
            frontier.removeLast()
            node = (node.level + 1, last.index, MerkleHashing.node(last.hash, node.hash))
            node.index = last.index >> 1
            try put(node.hash, at: inOrderPosition(level: node.level, index: node.index))
        }
        frontier.append(node)
        switch record.body {
        case .checkpoint: checkpoint = (leaf, UInt64(offset))
        case .keyRotation: rotations.append((UInt64(offset), UInt32(frameLength)))
        case .softwareIdentity: identities.append((leaf, UInt64(offset), UInt32(frameLength)))
        case .discardReceipt(let receipt):
            receipts.append((receipt.requestID.high, receipt.requestID.low, UInt64(offset), leaf << 16 | UInt64(frameLength & 0xFFFF)))
        default: break
        }
        size += 1
        coveredBytes = UInt64(offset + frameLength)
    }

    private var root: Hash32 {
        guard var hash = frontier.last?.hash else { return MerkleHashing.emptyRoot }
        for node in frontier.dropLast().reversed() { hash = MerkleHashing.node(node.hash, hash) }
        return hash
    }

    /// Writes the ids table, syncs both data files, then replaces the manifest (tmp + rename):
    /// a crash before the rename leaves no manifest, hence no index.
    mutating func finish(header: LedgerHeader) throws(LedgerError) {
        try flushBuffer()
        var slots: UInt64 = 16
        while slots < UInt64(receipts.count) * 2 { slots <<= 1 }
        let seed = UInt64.random(in: .min ... .max)
        var table = [UInt8](repeating: 0, count: Int(slots) * LedgerIndexSlot.size)
        var count: UInt64 = 0
        for (high, low, offset, leafAndLength) in receipts {
            var index = LedgerIndexSlot.home(RequestID(high: high, low: low), seed: seed, slots: slots)
            while true {
                var at = Int(index) * LedgerIndexSlot.size
                let empty = (0..<32).allSatisfy { table[at + $0] == 0 }
                var probe = at
                let same = !empty && readLE64(table, &probe) == high && readLE64(table, &probe) == low
                if empty || same {
                    var slot: [UInt8] = []
                    le64(high, &slot); le64(low, &slot); le64(offset, &slot); le64(leafAndLength, &slot)
                    for k in 0..<32 { table[at + k] = slot[k] }
                    at += 0
                    if empty { count += 1 }
                    break
                }
                index = (index + 1) & (slots - 1)
            }
        }
        receipts = []
        let idsFD: Int32
        do { idsFD = try files.open(paths.ids, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
        defer { files.close(idsFD) }
        try writeAll(fd: idsFD, table, at: 0, files: files)
        do {
            try files.fsync(idsFD)
            try files.fsync(hashesFD)
        } catch { throw .io(.sync, errno: error.rawValue) }
        let manifest = LedgerIndexManifest(
            ledgerHeaderDigest: SHA256.hash(header.encoded).bytes, firstLeafHash: (firstLeaf ?? .zero).bytes,
            treeSize: size, coveredBytes: coveredBytes, rootHash: root.bytes,
            checkpointLeaf: checkpoint?.leaf ?? .max, checkpointOffset: checkpoint?.offset ?? 0, rotations: rotations,
            identities: identities, idSeed: seed, idSlots: slots, idCount: count)
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
    }

    func close() {
        if hashesFD >= 0 { files.close(hashesFD) }
    }
}

/// An opened index, read with `pread` only: nothing is loaded whole.
struct LedgerIndexReader: ~Copyable {
    let manifest: LedgerIndexManifest
    private let hashesFD: Int32
    private let idsFD: Int32
    private let hashCount: UInt64
    private let files: FileSystem

    /// Opens the index beside `ledger` if its manifest is intact and names this ledger's header;
    /// nil otherwise (the caller falls back to scanning).
    init?(ledger: String, header: LedgerHeader, files: FileSystem = .live) {
        let paths = LedgerIndexPaths(ledger: ledger)
        guard let bytes = try? files.readFile(paths.manifest, limit: 1 << 20),
              let manifest = LedgerIndexManifest(bytes: bytes),
              manifest.ledgerHeaderDigest == SHA256.hash(header.encoded).bytes
        else { return nil }
        guard let hashes = try? files.open(paths.hashes, O_RDONLY) else { return nil }
        guard let ids = try? files.open(paths.ids, O_RDONLY) else {
            files.close(hashes)
            return nil
        }
        guard let hashStatus = try? files.status(hashes), let idStatus = try? files.status(ids),
              UInt64(idStatus.st_size) == manifest.idSlots * UInt64(LedgerIndexSlot.size),
              manifest.treeSize == 0 || UInt64(hashStatus.st_size) >= (2 * manifest.treeSize - 1) * 32
        else {
            files.close(hashes)
            files.close(ids)
            return nil
        }
        self.manifest = manifest
        self.hashesFD = hashes
        self.idsFD = ids
        self.hashCount = UInt64(hashStatus.st_size) / 32
        self.files = files
    }

    deinit {
        files.close(hashesFD)
        files.close(idsFD)
    }

    /// The stored node (level, index); nil if outside the file or unreadable.
    func node(level: Int, index: UInt64) -> Hash32? {
        let position = inOrderPosition(level: level, index: index)
        guard position < hashCount else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard let count = try? files.read(hashesFD, into: &bytes, at: Int(position * 32)), count == 32 else { return nil }
        return Hash32(bytes)
    }

    /// Where the table says `id`'s latest receipt is: (leaf index, offset, frame length).
    func location(of id: RequestID) -> RecordLocation? {
        let slots = manifest.idSlots
        var index = LedgerIndexSlot.home(id, seed: manifest.idSeed, slots: slots)
        // A page of slots per read; a probe run longer than the table means a corrupt table.
        let perRead: UInt64 = 128
        var probed: UInt64 = 0
        var page = [UInt8](repeating: 0, count: Int(perRead) * LedgerIndexSlot.size)
        while probed < slots {
            let run = min(perRead, slots - index)
            guard let count = try? files.read(idsFD, into: &page, at: Int(index) * LedgerIndexSlot.size),
                  count >= Int(run) * LedgerIndexSlot.size
            else { return nil }
            for k in 0..<Int(run) {
                var at = k * LedgerIndexSlot.size
                let high = readLE64(page, &at), low = readLE64(page, &at)
                let offset = readLE64(page, &at), leafAndLength = readLE64(page, &at)
                if leafAndLength & 0xFFFF == 0 { return nil }
                if high == id.high && low == id.low {
                    guard offset < 1 << 62 else { return nil }  // a damaged slot: no trap on conversion
                    return RecordLocation(leafIndex: leafAndLength >> 16, offset: Int(offset), length: Int(leafAndLength & 0xFFFF))
                }
            }
            probed += run
            index = (index + run) & (slots - 1)
        }
        return nil
    }
}

/// The tree of a ledger as an index's stored nodes for leaves [0, n) plus leaf hashes of the
/// records after it (read from the ledger's tail): enough for any RFC 9162 proof, O(log n) reads
/// each. Returns nil where the index cannot answer.
struct IndexedTree: ~Copyable {
    let index: LedgerIndexReader
    /// Leaf hashes of records [index.manifest.treeSize, size).
    var tail: [Hash32]
    var size: UInt64 { index.manifest.treeSize + UInt64(tail.count) }

    func subtreeHash(start: UInt64, count: UInt64) -> Hash32? {
        let stored = index.manifest.treeSize
        if count & (count - 1) == 0 && start % count == 0 && start + count <= stored {
            return index.node(level: count.trailingZeroBitCount, index: start >> UInt64(count.trailingZeroBitCount))
        }
        if count == 1 { return tail[Int(start - stored)] }
        let split = count & (count - 1) == 0 ? count / 2 : largestPowerOfTwo(below: count)
        guard let left = subtreeHash(start: start, count: split),
              let right = subtreeHash(start: start + split, count: count - split)
        else { return nil }
        return MerkleHashing.node(left, right)
    }

    /// RFC 9162 §2.1.3.1 PATH(index, D[0:size]).
    func inclusionProof(index leaf: UInt64, size: UInt64) -> [Hash32]? {
        guard leaf < size, size <= self.size else { return nil }
        var proof: [Hash32] = []
        var start: UInt64 = 0, count = size, target = leaf
        var elements: [(UInt64, UInt64)] = []
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
        // PATH lists the elements leaf side first: the reverse of the descent.
        for (rangeStart, rangeCount) in elements.reversed() {
            guard let hash = subtreeHash(start: rangeStart, count: rangeCount) else { return nil }
            proof.append(hash)
        }
        return proof
    }
}

extension LedgerVerifier {
    /// Builds the ledger's index beside it (`LEDGER.index/`), verifying the whole file on the
    /// way as ``verify(path:verifierKey:)-(_,VerifierKey)`` does; returns the verification
    /// report. Any index already there is replaced. The index is a cache: see
    /// Docs/LedgerFormat.md §12 for what readers check of it.
    public static func buildIndex(path: String, verifierKey: VerifierKey) throws(LedgerError) -> LedgerVerificationReport {
        try buildIndex(path: path, verifierKey: verifierKey, files: .live)
    }

    static func buildIndex(path: String, verifierKey: VerifierKey, files: FileSystem) throws(LedgerError) -> LedgerVerificationReport {
        var builder = try LedgerIndexBuilder(ledger: path, files: files)
        defer { builder.close() }
        var replay: LedgerReplay<MerkleFrontier>?
        var header: LedgerHeader?
        let scan = try scanLedgerFile(path: path, files: files, header: { (parsed) throws(LedgerError) in
            if verifierKey.name != parsed.origin { throw LedgerError.signingKeyMismatch }
            header = parsed
            replay = LedgerReplay<MerkleFrontier>(
                origin: parsed.origin, pinnedKey: verifierKey, bucketedSizes: parsed.flags.contains(.bucketedSizes), indexes: false)
        }) { (index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) in
            let decoded: LedgerRecord
            do { decoded = try LedgerRecord.decode(record) } catch {
                throw .invalidRecord(index: index, offset: UInt64(offset), fault: .malformedEncoding)
            }
            let leafHash = MerkleHashing.leaf(record)
            try replay!.ingest(decoded, bytes: record.span, leafHash: leafHash, offset: offset, frameLength: record.count + frameOverhead)
            try builder.add(record: decoded, leafHash: leafHash, offset: offset, frameLength: record.count + frameOverhead)
        }
        guard let replay, let header else { throw .headerCorrupt }
        try builder.finish(header: header)
        return LedgerVerificationReport(
            recordCount: scan.recordCount, checkpointCount: replay.checkpointCount,
            lastCheckpointTreeSize: replay.lastCheckpoint?.treeSize ?? 0,
            uncheckpointedRecords: replay.recordsAfterLastCheckpoint,
            keyEpoch: replay.epoch, tornTailBytes: scan.tornTailBytes, rootHash: replay.tree.currentRoot.bytes)
    }

    /// The receipt bundle from the index beside the ledger, or nil when the index is absent or
    /// cannot be trusted for this request (the caller then scans). Reads: the manifest, the
    /// ledger's header and any records after the index's coverage, one table page, the receipt,
    /// checkpoint and rotation frames at the offsets the index names, and one stored node per
    /// proof element. The bundle is verified under `verifierKey` before it is returned, so a
    /// wrong index can cost the fast path, never yield a bundle that does not verify.
    static func receiptBundleFromIndex(
        path: String, request: RequestID, verifierKey: VerifierKey, files: FileSystem = .live
    ) -> ReceiptBundle? {
        guard let fd = try? files.open(path, O_RDONLY) else { return nil }
        defer { files.close(fd) }
        var head = [UInt8](repeating: 0, count: 4096)
        guard let headCount = try? files.read(fd, into: &head, at: 0),
              let (header, headerLength) = try? LedgerHeader.parse(head.span.extracting(0..<headCount)),
              header.origin == verifierKey.name,
              let index = LedgerIndexReader(ledger: path, header: header, files: files)
        else { return nil }
        let manifest = index.manifest
        guard manifest.treeSize > 0, let fileStatus = try? files.status(fd),
              UInt64(fileStatus.st_size) >= manifest.coveredBytes,
              let first = readFrame(fd: fd, offset: UInt64(headerLength), files: files),
              MerkleHashing.leaf(first).bytes == manifest.firstLeafHash
        else { return nil }

        // Records after the index's coverage: hashed into the tail, watched for the request, a
        // newer checkpoint and rotations.
        var tail: [Hash32] = []
        var tailReceipt: (leaf: UInt64, bytes: [UInt8])?
        var tailCheckpoint: (leaf: UInt64, bytes: [UInt8])?
        var rotationRecords: [[UInt8]] = []
        // The software identity in force at the receipt: the last identity record before it.
        var tailIdentities: [(leaf: UInt64, bytes: [UInt8])] = []
        for rotation in manifest.rotations {
            guard let bytes = readFrame(fd: fd, offset: rotation.offset, files: files) else { return nil }
            rotationRecords.append(bytes)
        }
        if UInt64(fileStatus.st_size) > manifest.coveredBytes {
            var failed = false
            // A tail that does not scan (corrupt, or the file replaced and cut mid-frame): decline.
            do throws(LedgerError) {
                _ = try scanLedgerFile(
                    path: path, files: files, resumeAt: (Int(manifest.coveredBytes), manifest.treeSize)
                ) { (leaf: UInt64, _: Int, record: [UInt8]) throws(LedgerError) in
                    tail.append(MerkleHashing.leaf(record))
                    guard let decoded = try? LedgerRecord.decode(record) else {
                        failed = true
                        return
                    }
                    switch decoded.body {
                    case .checkpoint: tailCheckpoint = (leaf, record)
                    case .keyRotation: rotationRecords.append(record)
                    case .softwareIdentity: tailIdentities.append((leaf, record))
                    case .discardReceipt(let receipt) where receipt.requestID == request: tailReceipt = (leaf, record)
                    default: break
                    }
                }
            } catch { return nil }
            guard !failed else { return nil }
        }

        let receipt: (leaf: UInt64, bytes: [UInt8])
        if let tailReceipt {
            receipt = tailReceipt
        } else {
            guard let location = index.location(of: request), location.leafIndex < manifest.treeSize,
                  let bytes = readFrame(fd: fd, offset: UInt64(location.offset), files: files),
                  bytes.count + frameOverhead == location.length
            else { return nil }
            receipt = (location.leafIndex, bytes)
        }
        guard let decodedReceipt = try? LedgerRecord.decode(receipt.bytes), case .discardReceipt(let body) = decodedReceipt.body,
              body.requestID == request
        else { return nil }

        let checkpointBytes: [UInt8]
        if let tailCheckpoint {
            checkpointBytes = tailCheckpoint.bytes
        } else {
            guard manifest.checkpointLeaf != .max,
                  let bytes = readFrame(fd: fd, offset: manifest.checkpointOffset, files: files)
            else { return nil }
            checkpointBytes = bytes
        }
        guard let decodedCheckpoint = try? LedgerRecord.decode(checkpointBytes),
              case .checkpoint(let checkpoint) = decodedCheckpoint.body,
              checkpoint.treeSize > receipt.leaf
        else { return nil }

        // The key that signed it: the pinned one, or the rotation to its epoch.
        var chain: [[UInt8]] = []
        var publicKey = verifierKey.publicKey
        for bytes in rotationRecords {
            guard let record = try? LedgerRecord.decode(bytes), case .keyRotation(let rotation) = record.body else { return nil }
            guard rotation.epoch <= checkpoint.keyEpoch else { continue }
            chain.append(bytes)
            publicKey = rotation.newPublicKey
        }
        var identity: (leaf: UInt64, bytes: [UInt8])?
        if let last = tailIdentities.last(where: { $0.leaf < receipt.leaf }) {
            identity = last
        } else if let last = manifest.identities.last(where: { $0.leaf < receipt.leaf }) {
            guard let bytes = readFrame(fd: fd, offset: last.offset, files: files), bytes.count + frameOverhead == Int(last.length),
                  let record = try? LedgerRecord.decode(bytes), case .softwareIdentity = record.body
            else { return nil }
            identity = (last.leaf, bytes)
        }
        let tree = IndexedTree(index: index, tail: tail)
        guard let proof = tree.inclusionProof(index: receipt.leaf, size: checkpoint.treeSize) else { return nil }
        var identityProof: SoftwareIdentityProof?
        if let identity {
            guard let path = tree.inclusionProof(index: identity.leaf, size: checkpoint.treeSize) else { return nil }
            identityProof = SoftwareIdentityProof(record: identity.bytes, leafIndex: identity.leaf, inclusionProof: path.map(\.bytes))
        }
        let signed = SignedCheckpoint(
            origin: header.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, keyName: header.origin,
            keyID: noteKeyID(name: header.origin, publicKey: publicKey), signature: checkpoint.signature)
        let bundle = ReceiptBundle(
            record: receipt.bytes, leafIndex: receipt.leaf, treeSize: checkpoint.treeSize,
            inclusionProof: proof.map(\.bytes), checkpoint: signed.noteText, keyRotations: chain, softwareIdentity: identityProof)
        guard (try? bundle.verify(verifierKey: verifierKey)) != nil else { return nil }
        return bundle
    }

    /// The record of the frame at `offset`, if a whole frame with a valid checksum is there.
    static func readFrame(fd: Int32, offset: UInt64, files: FileSystem) -> [UInt8]? {
        var frame = [UInt8](repeating: 0, count: maximumRecordLength + frameOverhead)
        guard let start = Int(exactly: offset),
              let count = try? files.read(fd, into: &frame, at: start), count >= frameOverhead
        else { return nil }
        let span = frame.span
        let length = readU32(span, at: 0)
        guard readU32(span, at: 4) == ~length, length > 0, Int(length) <= maximumRecordLength,
              count >= Int(length) + frameOverhead
        else { return nil }
        let record = span.extracting(8..<(8 + Int(length)))
        guard readU32(span, at: 8 + Int(length)) == frameChecksum(lengthWord: length, record: record) else { return nil }
        return [UInt8](copying: record)
    }
}
