import RetentionVocabulary
import VaultSystem
// Replays records in order, rebuilding the Merkle tree and the ledger's indexes, and checking
// what can be checked without trust: checkpoint sizes and roots, rotation sequence, and — when a
// pinned verifier key is known — every checkpoint and rotation signature along the key chain.

/// Where a record sits in the file.
struct RecordLocation: Sendable {
    var leafIndex: UInt64
    var offset: Int
    var length: Int
}

struct CheckpointEntry: Sendable {
    var leafIndex: UInt64
    var treeSize: UInt64
    var rootHash: [UInt8]
    var keyEpoch: UInt32
    var signature: [UInt8]
    var recordedAt: Timestamp
    /// Frame offset of the checkpoint record (a ledger index names it).
    var offset: Int = 0
}

struct RotationEntry: Sendable {
    var leafIndex: UInt64
    var epoch: UInt32
    var newPublicKey: [UInt8]
    var recordBytes: [UInt8]
    /// Frame offset in the file (a ledger index lists rotations by offset).
    var offset: Int = 0
}

/// `Tree` is the writer's `MerkleTree` (every node, for proofs) or a streaming verifier's
/// `MerkleFrontier` (O(log n) hashes).
struct LedgerReplay<Tree: MerkleAccumulator>: Sendable {
    let origin: String
    var tree = Tree()
    /// Every checkpoint, when `indexes` (the writer and the proof builders); otherwise empty.
    var checkpoints: [CheckpointEntry] = []
    var checkpointCount = 0
    var lastCheckpoint: CheckpointEntry?
    var rotations: [RotationEntry] = []
    /// Latest discard receipt per request, when `indexes`; otherwise empty.
    var receipts = ReceiptIndex()
    /// Whether per-record state (receipts, the checkpoint list) is kept. A streaming verifier
    /// keeps none, so its memory does not grow with the file.
    let indexes: Bool
    /// A checkpoint the caller looks for (`verify --trusted`): set `sawWatchedCheckpoint` when a
    /// checkpoint record of that size and root passes.
    var watchedCheckpoint: (treeSize: UInt64, rootHash: [UInt8])?
    var sawWatchedCheckpoint = false
    /// A request the caller looks for (`prove`): its latest discard receipt's location and bytes.
    var watchedRequest: RequestID?
    var watchedReceipt: (location: RecordLocation, bytes: [UInt8])?
    /// With `watchedRequest`: the software-identity record in force at `watchedReceipt`.
    var watchedIdentity: (location: RecordLocation, bytes: [UInt8])?
    /// The latest software-identity record so far, kept only while a request is watched.
    private var latestIdentity: (location: RecordLocation, bytes: [UInt8])?
    /// Every software-identity record's location, when `indexes` (one per open and per key
    /// rotation: few), so a receipt's bundle can name the identity in force.
    var identities: [RecordLocation] = []
    /// Host records since the last checkpoint.
    var recordsSinceCheckpoint: UInt64 = 0
    var lastCheckpointAt: Timestamp?
    var epoch: UInt32 = 0
    /// Public key per epoch, where known (epoch 0 only when pinned or proven).
    var epochKeys: [UInt32: [UInt8]] = [:]
    /// When set, signatures are checked and the key follows the rotation chain.
    var currentKey: VerifierKey?

    /// Whether the header promises bucketed sizes (then every size must be a bucket value).
    let bucketedSizes: Bool

    init(origin: String, pinnedKey: VerifierKey?, bucketedSizes: Bool = false, indexes: Bool = true) {
        self.origin = origin
        self.bucketedSizes = bucketedSizes
        self.indexes = indexes
        self.currentKey = pinnedKey
        if let pinnedKey { epochKeys[0] = pinnedKey.publicKey }
    }

    /// Records after the last checkpoint record (host records and key rotations): what a
    /// seal must cover, and what a verifier reports as not covered by a signature.
    var recordsAfterLastCheckpoint: UInt64 {
        tree.size - (lastCheckpoint.map { $0.leafIndex + 1 } ?? 0)
    }

    /// Checks and indexes one record; `leafHash` is its RFC 6962 leaf hash.
    mutating func ingest(
        _ record: LedgerRecord, bytes: Span<UInt8>, leafHash: Hash32, offset: Int, frameLength: Int
    ) throws(LedgerError) {
        let index = tree.size
        let fault = { (fault: RecordFault) -> LedgerError in .invalidRecord(index: index, offset: UInt64(offset), fault: fault) }
        if bucketedSizes && !Coarsening.isBucketed(record) { throw fault(.unbucketedSize) }
        switch record.body {
        case .checkpoint(let checkpoint):
            guard checkpoint.treeSize == index else { throw fault(.checkpointSizeMismatch) }
            guard checkpoint.keyEpoch == epoch else { throw fault(.checkpointSignatureInvalid) }
            guard tree.currentRoot.bytes == checkpoint.rootHash else { throw fault(.checkpointRootMismatch) }
            if let key = currentKey {
                let body = checkpointBody(origin: origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash)
                guard key.isValidSignature(checkpoint.signature, of: body) else { throw fault(.checkpointSignatureInvalid) }
            }
            let entry = CheckpointEntry(
                leafIndex: index, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash,
                keyEpoch: checkpoint.keyEpoch, signature: checkpoint.signature, recordedAt: record.recordedAt, offset: offset)
            if indexes { checkpoints.append(entry) }
            checkpointCount += 1
            lastCheckpoint = entry
            if let watched = watchedCheckpoint, watched.treeSize == checkpoint.treeSize, watched.rootHash == checkpoint.rootHash {
                sawWatchedCheckpoint = true
            }
            recordsSinceCheckpoint = 0
            lastCheckpointAt = record.recordedAt
        case .keyRotation(let rotation):
            guard rotation.epoch == epoch &+ 1, rotation.epoch != 0, rotation.treeSize == index else {
                throw fault(.keyRotationInvalid)
            }
            if let key = currentKey {
                let statement = keyRotationStatement(epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, treeSize: rotation.treeSize)
                guard key.isValidSignature(rotation.signature, of: statement),
                      let next = VerifierKey(name: key.name, publicKey: rotation.newPublicKey)
                else { throw fault(.keyRotationInvalid) }
                currentKey = next
            }
            epoch = rotation.epoch
            epochKeys[epoch] = rotation.newPublicKey
            rotations.append(RotationEntry(leafIndex: index, epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, recordBytes: [UInt8](copying: bytes), offset: offset))
        case .discardReceipt(let receipt):
            if receipt.requestID == watchedRequest {
                watchedReceipt = (RecordLocation(leafIndex: index, offset: offset, length: frameLength), [UInt8](copying: bytes))
                watchedIdentity = latestIdentity
            }
            if indexes { receipts.add(receipt.requestID, RecordLocation(leafIndex: index, offset: offset, length: frameLength)) }
            recordsSinceCheckpoint += 1
        case .softwareIdentity:
            let location = RecordLocation(leafIndex: index, offset: offset, length: frameLength)
            if indexes { identities.append(location) }
            if watchedRequest != nil { latestIdentity = (location, [UInt8](copying: bytes)) }
            recordsSinceCheckpoint += 1
        case .requestOpened, .usage, .upstreamEgress, .policyDecision, .serviceHealth, .witnessHealth:
            recordsSinceCheckpoint += 1
        }
        tree.append(leafHash: leafHash)
    }

    /// The software-identity record in force at `leafIndex`: the last one before it.
    func identity(before leafIndex: UInt64) -> RecordLocation? {
        var low = 0, high = identities.count
        while low < high {
            let middle = (low + high) / 2
            if identities[middle].leafIndex < leafIndex { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : identities[low - 1]
    }

    /// The latest checkpoint covering `leafIndex` whose signing key is known.
    func checkpoint(covering leafIndex: UInt64) -> CheckpointEntry? {
        checkpoints.last { $0.treeSize > leafIndex && epochKeys[$0.keyEpoch] != nil }
    }

    /// The signed note for a checkpoint (its key must be known).
    func signedCheckpoint(_ entry: CheckpointEntry) -> SignedCheckpoint? {
        guard let publicKey = epochKeys[entry.keyEpoch] else { return nil }
        return SignedCheckpoint(
            origin: origin, treeSize: entry.treeSize, rootHash: entry.rootHash, keyName: origin,
            keyID: noteKeyID(name: origin, publicKey: publicKey), signature: entry.signature)
    }

    /// Rotation records a verifier needs to reach the key that signed `entry`.
    func keyChain(for entry: CheckpointEntry) -> [[UInt8]] {
        rotations.filter { $0.epoch <= entry.keyEpoch }.map(\.recordBytes)
    }
}

/// Reads the ledger at `bytes`, decoding every record and replaying it.
func replayLedger(_ bytes: [UInt8], pinnedKey: VerifierKey?) throws(LedgerError) -> (LedgerScan, LedgerReplay<MerkleTree>) {
    try replayLedger(bytes.span, pinnedKey: pinnedKey)
}

/// Reads the ledger at `raw`, decoding every record and replaying it.
func replayLedger(_ raw: Span<UInt8>, pinnedKey: VerifierKey?) throws(LedgerError) -> (LedgerScan, LedgerReplay<MerkleTree>) {
    try replayLedger(raw, pinnedKey: pinnedKey, as: MerkleTree.self)
}

/// Reads the ledger at `raw` into a replay whose tree is a `Tree`.
func replayLedger<Tree: MerkleAccumulator>(
    _ raw: Span<UInt8>, pinnedKey: VerifierKey?, as _: Tree.Type
) throws(LedgerError) -> (LedgerScan, LedgerReplay<Tree>) {
    let (header, _) = try LedgerHeader.parse(raw)
    if let pinnedKey, pinnedKey.name != header.origin { throw LedgerError.signingKeyMismatch }
    var replay = LedgerReplay<Tree>(origin: header.origin, pinnedKey: pinnedKey, bucketedSizes: header.flags.contains(.bucketedSizes))
    let scan = try scanLedger(raw) { (index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) in
        try replay.ingestFrame(index: index, offset: offset, record: record)
    }
    return (scan, replay)
}

/// Streams the ledger at `path` through a window of `window` bytes with the checks of
/// `replayLedger`, holding the tree as its frontier and no per-record state: memory stays
/// O(log n) whatever the file's size (`verify`, `latestCheckpoint`, the first pass of `prove`).
/// `prepare` runs once the header is read, before the first record (to watch for a checkpoint
/// or a request).
func streamLedger(
    path: String, pinnedKey: VerifierKey?, window: Int = 1 << 20, files: FileSystem = .live,
    prepare: (inout LedgerReplay<MerkleFrontier>) -> Void = { _ in }
) throws(LedgerError) -> (LedgerScan, LedgerReplay<MerkleFrontier>) {
    var replay: LedgerReplay<MerkleFrontier>?
    let scan = try scanLedgerFile(path: path, window: window, files: files, header: { (header) throws(LedgerError) in
        if let pinnedKey, pinnedKey.name != header.origin { throw LedgerError.signingKeyMismatch }
        var fresh = LedgerReplay<MerkleFrontier>(
            origin: header.origin, pinnedKey: pinnedKey, bucketedSizes: header.flags.contains(.bucketedSizes), indexes: false)
        prepare(&fresh)
        replay = fresh
    }) { (index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) in
        // Set by the header callback, which runs before any record.
        try replay!.ingestFrame(index: index, offset: offset, record: record)
    }
    guard let replay else { throw .headerCorrupt }  // Not reached: the header was parsed.
    return (scan, replay)
}

extension LedgerReplay {
    /// Decodes one frame's record strictly and ingests it.
    mutating func ingestFrame(index: UInt64, offset: Int, record: [UInt8]) throws(LedgerError) {
        let decoded: LedgerRecord
        do {
            decoded = try LedgerRecord.decode(record)
        } catch {
            throw .invalidRecord(index: index, offset: UInt64(offset), fault: .malformedEncoding)
        }
        try ingest(decoded, bytes: record.span, leafHash: MerkleHashing.leaf(record), offset: offset,
                   frameLength: record.count + frameOverhead)
    }
}
