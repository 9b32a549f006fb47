public import RetentionVocabulary
// Reading a tlog-tiles directory with nothing else: the checkpoint is verified under the pinned
// key (following the key chain found in the entries), tiles are fetched only as a proof needs
// them, and every hash taken from a tile ends up checked against the signed root. A malformed
// tile is a typed error, never a trap: sizes are checked before any hash is taken.

import Glibc
import VaultSystem

/// A reader of the tiles ``LedgerTiles/write(ledgerPath:to:verifierKey:)`` writes (or any
/// C2SP tlog-tiles log of this ledger's records), from the log's files alone: a directory, or
/// whatever `fetch` reaches (the CLI fetches over HTTP from any static server, object store or
/// CDN).
public struct TileReader: Sendable {
    /// Gets one of the log's files: its path relative to the log's prefix (`checkpoint`,
    /// `tile/0/x001/067`, `tile/entries/000.p/5`) and the most bytes it may have, to its bytes.
    /// More than `limit` bytes may be cut to `limit + 1` (no size check accepts that). Throw
    /// ``TileError/missing(path:)`` for a file that is not there (an HTTP 404), so that a
    /// reader can fall back from a partial tile to its full tile as the spec allows.
    public typealias Fetch = @Sendable (_ path: String, _ limit: Int) throws(TileError) -> [UInt8]

    /// The pinned verifier key (epoch 0, as an auditor holds it).
    public let verifierKey: VerifierKey
    private let fetchFile: Fetch

    /// A reader of the tiles in `directory`, trusting only `verifierKey`. Nothing is read yet.
    public init(directory: String, verifierKey: VerifierKey) {
        self.init(verifierKey: verifierKey, fetch: { (path, limit) throws(TileError) -> [UInt8] in
            do throws(Errno) { return try FileSystem.live.readFile(directory + "/" + path, limit: limit + 1) } catch {
                if error.rawValue == ENOENT || error.rawValue == ENOTDIR { throw .missing(path: path) }
                throw .io(.read, errno: error.rawValue, path: path)
            }
        })
    }

    /// A reader of the tiles `fetch` gets, trusting only `verifierKey`. Nothing is fetched yet;
    /// nothing fetched is trusted before it hashes to a root `verifierKey`'s chain signed.
    public init(verifierKey: VerifierKey, fetch: @escaping Fetch) {
        self.verifierKey = verifierKey
        self.fetchFile = fetch
    }

    /// The hashes of one tile: `width` 32-byte hashes (256 for a full tile). A missing partial
    /// tile is read from the prefix of its full tile, as the spec lets clients fall back.
    public func tile(level: Int, index: UInt64, width: Int) throws(TileError) -> [[UInt8]] {
        try tileHashes(level: level, index: index, width: width).map(\.bytes)
    }

    /// The entries (canonical record bytes) of one entry bundle of `width` entries.
    public func entryBundle(index: UInt64, width: Int) throws(TileError) -> [[UInt8]] {
        guard width >= 1 && width <= tileWidth else { throw .invalidCoordinates(level: 0, index: index, width: width) }
        let path = TilePath.entries(index: index, width: width)
        let bytes: [UInt8]
        do { bytes = try fetch(path, limit: tileWidth * (2 + 65_535)) } catch .missing where width < tileWidth {
            // Its full bundle holds the same entries first. Missing too: the partial is named.
            let full: [UInt8]
            do { full = try fetch(TilePath.entries(index: index), limit: tileWidth * (2 + 65_535)) } catch .missing {
                throw .missing(path: path)
            }
            return try Self.parseBundle(full, width: width, path: TilePath.entries(index: index), allowTrailing: true)
        }
        return try Self.parseBundle(bytes, width: width, path: path, allowTrailing: false)
    }

    /// `width` uint16-length-prefixed entries and, unless `allowTrailing`, nothing after them.
    static func parseBundle(_ bytes: [UInt8], width: Int, path: String, allowTrailing: Bool) throws(TileError) -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var offset = 0
        while entries.count < width {
            guard offset + 2 <= bytes.count else { throw .malformedEntryBundle(path: path) }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
            guard offset + length <= bytes.count else { throw .malformedEntryBundle(path: path) }
            entries.append(Array(bytes[offset..<(offset + length)]))
            offset += length
        }
        guard allowTrailing || offset == bytes.count else { throw .malformedEntryBundle(path: path) }
        return entries
    }

    /// The `checkpoint`, verified: signed by the pinned key or by the key the rotation records
    /// in the entries lead to, and the tiles hash to its root. Other signature lines (a
    /// witness's cosignature) are allowed and ignored, as the signed-note spec says.
    public func checkpoint() throws(TileError) -> SignedCheckpoint {
        try verifiedCheckpoint().checkpoint
    }

    /// The `checkpoint`, verified as ``checkpoint()`` does, with the cosignature lines the
    /// served note carries (C2SP tlog-cosignature; not verified until
    /// ``CosignedCheckpoint/requireQuorum(_:of:)`` is asked with the witnesses' keys).
    public func cosignedCheckpoint() throws(TileError) -> CosignedCheckpoint {
        let (signed, key) = try verifiedCheckpoint()
        do { return try CosignedCheckpoint.open(note: signed.noteText, verifierKey: key) } catch { throw .ledger(error) }
    }

    /// The RFC 9162 consistency proof PROOF(`oldSize`, D[0:n]) for the tree of `checkpoint`
    /// (from ``checkpoint()``), built from its tiles. Nothing in it is trusted until
    /// ``MerkleProofs/verifyConsistency(firstSize:secondSize:firstRoot:secondRoot:proof:)``
    /// checks it against both roots. `oldSize` past the checkpoint is
    /// ``TileError/invalidCoordinates(level:index:width:)``.
    public func consistencyProof(from oldSize: UInt64, to checkpoint: SignedCheckpoint) throws(TileError) -> [[UInt8]] {
        guard oldSize <= checkpoint.treeSize else { throw .invalidCoordinates(level: 0, index: oldSize, width: 0) }
        var tree = TileTree(reader: self, treeSize: checkpoint.treeSize)
        return try tree.consistencyProof(first: oldSize).map(\.bytes)
    }

    /// Requires `checkpoint` (from ``checkpoint()``) to extend `trusted`, a checkpoint of this
    /// log seen earlier (a monitor's state): the same origin, a size at least `trusted`'s, and
    /// a consistency proof from the tiles that verifies against both roots (for size 0, the
    /// empty tree's root, which RFC 9162 leaves to the caller). A smaller size
    /// (rollback) or another tree at `trusted`'s size (fork) is
    /// ``LedgerError/notConsistent(trustedSize:currentSize:)``, wrapped in
    /// ``TileError/ledger(_:)``; tiles that cannot be read are their own errors.
    public func requireConsistency(from trusted: SignedCheckpoint, to checkpoint: SignedCheckpoint) throws(TileError) {
        let inconsistent = TileError.ledger(.notConsistent(trustedSize: trusted.treeSize, currentSize: checkpoint.treeSize))
        guard trusted.origin == checkpoint.origin, trusted.treeSize <= checkpoint.treeSize else { throw inconsistent }
        // RFC 9162 proves nothing from size 0; the empty tree has one root.
        guard trusted.treeSize > 0 || trusted.rootHash == MerkleHashing.emptyRoot.bytes else { throw inconsistent }
        let proof = try consistencyProof(from: trusted.treeSize, to: checkpoint)
        guard MerkleProofs.verifyConsistency(
            firstSize: trusted.treeSize, secondSize: checkpoint.treeSize,
            firstRoot: trusted.rootHash, secondRoot: checkpoint.rootHash, proof: proof)
        else { throw inconsistent }
    }

    /// The RFC 9162 inclusion proof of the leaf at `leafIndex` under `checkpoint` (from
    /// ``checkpoint()``), built from the tiles and verified against its root with the entry's
    /// own hash. Returns the entry and the proof.
    public func inclusionProof(leafIndex: UInt64, checkpoint: SignedCheckpoint) throws(TileError) -> (entry: [UInt8], proof: [[UInt8]]) {
        let size = checkpoint.treeSize
        guard leafIndex < size else { throw .invalidCoordinates(level: 0, index: leafIndex, width: 0) }
        let bundleIndex = leafIndex / UInt64(tileWidth)
        let (full, partial) = tileShape(treeSize: size, level: 0)
        let entries = try entryBundle(index: bundleIndex, width: bundleIndex < full ? tileWidth : partial)
        let entry = entries[Int(leafIndex % UInt64(tileWidth))]
        var tree = TileTree(reader: self, treeSize: size)
        guard try tree.leaf(leafIndex) == MerkleHashing.leaf(entry) else { throw .entryMismatch(leafIndex: leafIndex) }
        let proof = try tree.inclusionProof(index: leafIndex)
        guard let root = Hash32(checkpoint.rootHash),
              MerkleProofs.rootFromInclusionProof(leafIndex: leafIndex, treeSize: size, leafHash: MerkleHashing.leaf(entry), proof: proof) == root
        else { throw .rootMismatch(treeSize: size) }
        return (entry, proof.map(\.bytes))
    }

    /// Folds `step` over the entries [`start`, size) of `checkpoint`'s tree (from
    /// ``checkpoint()``), reading only the entry bundles that hold them, and returns the result
    /// only once every entry is shown to be that tree's leaf: the hashes of the first `start`
    /// leaves (from the tiles) must have `rootAtStart`, a root kept from an earlier read, and
    /// with the entries' leaf hashes appended they must have the checkpoint's root. A monitor
    /// so counts a growing log incrementally without counting an entry that is not the log's.
    /// For `start` 0, `rootAtStart` is the empty tree's root.
    ///
    /// - Throws: ``TileError/invalidCoordinates(level:index:width:)`` for `start` past the
    ///   checkpoint; `rootAtStart` not the root of the tree's first `start` leaves is
    ///   ``LedgerError/notConsistent(trustedSize:currentSize:)`` (wrapped in
    ///   ``TileError/ledger(_:)``); entries that do not lead to the checkpoint's root are
    ///   ``TileError/rootMismatch(treeSize:)``; and what `step` throws.
    public func reduceEntries<State>(
        from start: UInt64, rootAtStart: [UInt8], to checkpoint: SignedCheckpoint, into initial: State,
        _ step: (inout State, _ leafIndex: UInt64, _ entry: [UInt8]) throws(TileError) -> Void
    ) throws(TileError) -> State {
        let size = checkpoint.treeSize
        guard start <= size else { throw .invalidCoordinates(level: 0, index: start, width: 0) }
        // The first `start` leaves as the roots of their perfect subtrees, largest first (the
        // frontier a writer keeps), taken from the tiles and checked against `rootAtStart`.
        var tree = TileTree(reader: self, treeSize: size)
        var frontier = TileFrontier()
        var offset: UInt64 = 0
        for height in stride(from: 63, through: 0, by: -1) where start & (UInt64(1) << UInt64(height)) != 0 {
            frontier.push(try tree.perfect(height: height, index: offset >> UInt64(height)), height: height)
            offset += UInt64(1) << UInt64(height)
        }
        guard frontier.root.bytes == rootAtStart else {
            throw .ledger(.notConsistent(trustedSize: start, currentSize: size))
        }
        var state = initial
        let (full, partial) = tileShape(treeSize: size, level: 0)
        var bundle = start / UInt64(tileWidth)
        while bundle * UInt64(tileWidth) < size {
            let entries = try entryBundle(index: bundle, width: bundle < full ? tileWidth : partial)
            for (position, entry) in entries.enumerated() {
                let leafIndex = bundle * UInt64(tileWidth) + UInt64(position)
                guard leafIndex >= start else { continue }
                frontier.append(leafHash: MerkleHashing.leaf(entry))
                try step(&state, leafIndex, entry)
            }
            bundle += 1
        }
        guard frontier.root.bytes == checkpoint.rootHash else { throw .rootMismatch(treeSize: size) }
        return state
    }

    /// The receipt bundle for `request` from the tiles alone, in the format
    /// ``ReceiptBundle/json`` writes (`zdr ledger check-receipt` accepts it): the request's latest
    /// discard receipt among the entries the checkpoint covers, its inclusion proof from the
    /// tiles, the checkpoint and the key rotations before it. Every entry bundle is read, and
    /// all entries must hash to the checkpoint's root; the bundle is verified before it is
    /// returned.
    public func receiptBundle(request: RequestID) throws(TileError) -> ReceiptBundle {
        let note = try checkpointNote()
        let scan = try scanEntries(note: note, request: request)
        guard let leafIndex = scan.receiptIndex else { throw .requestNotFound }
        let (entry, proof) = try inclusionProof(leafIndex: leafIndex, checkpoint: scan.checkpoint)
        let identity = try scan.identityIndex.map { (index) throws(TileError) in
            let (record, path) = try inclusionProof(leafIndex: index, checkpoint: scan.checkpoint)
            return SoftwareIdentityProof(record: record, leafIndex: index, inclusionProof: path)
        }
        // The bundle carries the note as this ledger writes it: the log's own signature line
        // only (a bundle is canonical, §7), whatever cosignatures the served note has.
        guard let signature = (try? splitNote(note))?.signatures.first(where: { $0.0 == scan.key.name && $0.1 == scan.key.keyID })?.2
        else { throw .ledger(.bundleInvalid(.checkpointSignatureInvalid)) }
        let canonical = SignedCheckpoint(
            origin: scan.checkpoint.origin, treeSize: scan.checkpoint.treeSize, rootHash: scan.checkpoint.rootHash,
            keyName: scan.key.name, keyID: scan.key.keyID, signature: signature).noteText
        let bundle = ReceiptBundle(record: entry, leafIndex: leafIndex, treeSize: scan.checkpoint.treeSize, inclusionProof: proof,
                                   checkpoint: canonical, keyRotations: scan.rotations, softwareIdentity: identity)
        do { _ = try bundle.verify(verifierKey: verifierKey) } catch { throw .ledger(error) }
        return bundle
    }

    // MARK: - Internals

    /// The checkpoint and the key of the chain that signed it, its root checked against the tiles.
    private func verifiedCheckpoint() throws(TileError) -> (checkpoint: SignedCheckpoint, key: VerifierKey) {
        let note = try checkpointNote()
        let signed: SignedCheckpoint
        let key: VerifierKey
        do throws(LedgerError) {
            let opened = try SignedCheckpoint.open(note: note, verifierKey: verifierKey)
            guard opened.origin == verifierKey.name else { throw .bundleInvalid(.originMismatch) }
            signed = opened
            key = verifierKey
        } catch .bundleInvalid(.checkpointSignatureInvalid) {
            // Perhaps a later epoch's key: the entries hold the rotations.
            let scan = try scanEntries(note: note, request: nil)
            signed = scan.checkpoint
            key = scan.key
        } catch {
            throw .ledger(error)
        }
        var tree = TileTree(reader: self, treeSize: signed.treeSize)
        guard try tree.root().bytes == signed.rootHash else { throw .rootMismatch(treeSize: signed.treeSize) }
        return (signed, key)
    }

    private func checkpointNote() throws(TileError) -> String {
        let bytes = try fetch(TilePath.checkpoint, limit: 16 << 10)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads every entry the note covers: checks they hash to its root (once its signature is
    /// verified along the key chain they hold) and finds the request's latest receipt.
    private func scanEntries(note: String, request: RequestID?) throws(TileError)
        -> (checkpoint: SignedCheckpoint, key: VerifierKey, rotations: [[UInt8]], receiptIndex: UInt64?, identityIndex: UInt64?)
    {
        // The size is read before the signature is checked only to know how far to read.
        let claimed: SignedCheckpoint
        do { claimed = try SignedCheckpoint.parseUnverified(note: note) } catch { throw .ledger(error) }
        let size = claimed.treeSize
        var frontier = MerkleFrontier()
        var key = verifierKey
        var rotations: [[UInt8]] = []
        var receiptIndex: UInt64?
        // The software identity in force at the receipt: the last kind-9 entry before it.
        var latestIdentity: UInt64?
        var identityIndex: UInt64?
        let (full, partial) = tileShape(treeSize: size, level: 0)
        let bundles = full + (partial > 0 ? 1 : 0)
        var bundle: UInt64 = 0
        while bundle < bundles {
            let entries = try entryBundle(index: bundle, width: bundle < full ? tileWidth : partial)
            for (offset, entry) in entries.enumerated() {
                let leafIndex = bundle * UInt64(tileWidth) + UInt64(offset)
                frontier.append(leafHash: MerkleHashing.leaf(entry))
                // Only rotations, identities and receipts matter here: the kind byte (after the
                // version) spares decoding the rest.
                guard entry.count > 2, entry[1] == LedgerRecordKind.keyRotation.rawValue || entry[1] == LedgerRecordKind.discardReceipt.rawValue
                        || entry[1] == LedgerRecordKind.softwareIdentity.rawValue,
                      let record = try? LedgerRecord(canonicalBytes: entry)
                else { continue }
                switch record.body {
                case .keyRotation(let rotation):
                    // Self-authenticating: signed by the key before it.
                    guard key.isValidSignature(rotation.signature, of: keyRotationStatement(
                        epoch: rotation.epoch, newPublicKey: rotation.newPublicKey, treeSize: rotation.treeSize)),
                          let next = VerifierKey(name: key.name, publicKey: rotation.newPublicKey)
                    else { throw .ledger(.bundleInvalid(.keyChainInvalid)) }
                    key = next
                    rotations.append(entry)
                case .discardReceipt(let receipt) where receipt.requestID == request:
                    receiptIndex = leafIndex
                    identityIndex = latestIdentity
                case .softwareIdentity:
                    latestIdentity = leafIndex
                default:
                    break
                }
            }
            bundle += 1
        }
        let signed: SignedCheckpoint
        do { signed = try SignedCheckpoint.open(note: note, verifierKey: key) } catch { throw .ledger(error) }
        guard signed.origin == verifierKey.name else { throw .ledger(.bundleInvalid(.originMismatch)) }
        guard frontier.currentRoot.bytes == signed.rootHash else { throw .rootMismatch(treeSize: size) }
        return (signed, key, rotations, receiptIndex, identityIndex)
    }

    func tileHashes(level: Int, index: UInt64, width: Int) throws(TileError) -> [Hash32] {
        guard level >= 0 && level <= maximumTileLevel, width >= 1 && width <= tileWidth else {
            throw .invalidCoordinates(level: level, index: index, width: width)
        }
        let path = TilePath.tile(level: level, index: index, width: width)
        let bytes: [UInt8]
        var source = path
        do { bytes = try fetch(path, limit: fullTileBytes + 1) } catch .missing where width < tileWidth {
            source = TilePath.tile(level: level, index: index)
            let full: [UInt8]
            do { full = try fetch(source, limit: fullTileBytes + 1) } catch .missing { throw .missing(path: path) }
            guard full.count == fullTileBytes else { throw .wrongSize(path: source, expected: fullTileBytes, actual: full.count) }
            return Self.hashes(Array(full[0..<(width * 32)]))
        }
        guard bytes.count == width * 32 else { throw .wrongSize(path: source, expected: width * 32, actual: bytes.count) }
        return Self.hashes(bytes)
    }

    private static func hashes(_ bytes: [UInt8]) -> [Hash32] {
        stride(from: 0, to: bytes.count, by: 32).map { Hash32(Array(bytes[$0..<($0 + 32)]))! }
    }

    /// One of the log's files, at most `limit` bytes (more reads as `limit + 1`, which no size
    /// check accepts; a fetch that returns more is cut to that too). Paths are built here from
    /// numbers, never taken from input.
    private func fetch(_ path: String, limit: Int) throws(TileError) -> [UInt8] {
        let bytes = try fetchFile(path, limit)
        return bytes.count > limit ? Array(bytes.prefix(limit + 1)) : bytes
    }
}

/// The roots of the perfect subtrees of a tree's leaves so far, largest first, each with its
/// height: the frontier, seeded from tile hashes for a tree read from the middle.
struct TileFrontier {
    private var nodes: [(hash: Hash32, height: Int)] = []

    /// Adds the next perfect subtree, no larger than the last one.
    mutating func push(_ hash: Hash32, height: Int) { nodes.append((hash, height)) }

    /// Appends a leaf, merging the equal-height subtrees it completes.
    mutating func append(leafHash: Hash32) {
        var hash = leafHash
        var height = 0
        while let last = nodes.last, last.height == height {
            hash = MerkleHashing.node(last.hash, hash)
            nodes.removeLast()
            height += 1
        }
        nodes.append((hash, height))
    }

    /// RFC 6962's root: the subtrees combined from the right.
    var root: Hash32 {
        guard var hash = nodes.last?.hash else { return MerkleHashing.emptyRoot }
        for node in nodes.dropLast().reversed() { hash = MerkleHashing.node(node.hash, hash) }
        return hash
    }
}

/// The Merkle tree of `treeSize` leaves as its tiles: any node is a tile hash, or the root of
/// up to 128 consecutive hashes of one tile. Tiles are fetched once and kept for the call.
struct TileTree {
    let reader: TileReader
    let treeSize: UInt64
    private var cache: [Int: [UInt64: [Hash32]]] = [:]

    init(reader: TileReader, treeSize: UInt64) {
        self.reader = reader
        self.treeSize = treeSize
    }

    /// Hash `index` of tile level `level`: MTH of leaves [index·256^l, (index+1)·256^l).
    mutating func tileLevelHash(level: Int, index: UInt64) throws(TileError) -> Hash32 {
        let (full, partial) = tileShape(treeSize: treeSize, level: level)
        let tileIndex = index / UInt64(tileWidth)
        let width = tileIndex < full ? tileWidth : partial
        guard tileIndex <= full, Int(index % UInt64(tileWidth)) < width else {
            throw .invalidCoordinates(level: level, index: tileIndex, width: width)
        }
        if let hashes = cache[level]?[tileIndex] { return hashes[Int(index % UInt64(tileWidth))] }
        let hashes = try reader.tileHashes(level: level, index: tileIndex, width: width)
        cache[level, default: [:]][tileIndex] = hashes
        return hashes[Int(index % UInt64(tileWidth))]
    }

    mutating func leaf(_ index: UInt64) throws(TileError) -> Hash32 { try tileLevelHash(level: 0, index: index) }

    /// MTH of the aligned perfect subtree of height `height` (2^height leaves) number `index`.
    mutating func perfect(height: Int, index: UInt64) throws(TileError) -> Hash32 {
        let level = height / 8
        let within = height % 8
        var nodes: [Hash32] = []
        for offset in 0..<(UInt64(1) << UInt64(within)) {
            nodes.append(try tileLevelHash(level: level, index: (index << UInt64(within)) + offset))
        }
        return perfectRoot(nodes)
    }

    /// MTH of leaves [start, start+count), count ≥ 1, split as RFC 6962 does.
    mutating func subtree(start: UInt64, count: UInt64) throws(TileError) -> Hash32 {
        if count & (count - 1) == 0 && start % count == 0 {
            let height = count.trailingZeroBitCount
            return try perfect(height: height, index: start >> UInt64(height))
        }
        let split = largestPowerOfTwo(below: count)
        return MerkleHashing.node(try subtree(start: start, count: split), try subtree(start: start + split, count: count - split))
    }

    mutating func root() throws(TileError) -> Hash32 {
        treeSize == 0 ? MerkleHashing.emptyRoot : try subtree(start: 0, count: treeSize)
    }

    /// RFC 9162 §2.1.4.1 PROOF(first, D[0:treeSize]): empty when `first` is 0 or the whole tree.
    mutating func consistencyProof(first: UInt64) throws(TileError) -> [Hash32] {
        guard first > 0 && first < treeSize else { return [] }
        var proof: [Hash32] = []
        try subproof(first: first, start: 0, count: treeSize, complete: true, into: &proof)
        return proof
    }

    private mutating func subproof(first: UInt64, start: UInt64, count: UInt64, complete: Bool, into proof: inout [Hash32]) throws(TileError) {
        if first == count {
            if !complete { proof.append(try subtree(start: start, count: count)) }
            return
        }
        let split = largestPowerOfTwo(below: count)
        if first <= split {
            try subproof(first: first, start: start, count: split, complete: complete, into: &proof)
            proof.append(try subtree(start: start + split, count: count - split))
        } else {
            try subproof(first: first - split, start: start + split, count: count - split, complete: false, into: &proof)
            proof.append(try subtree(start: start, count: split))
        }
    }

    /// RFC 9162 PATH(index, D[0:treeSize]), leaf side first.
    mutating func inclusionProof(index: UInt64) throws(TileError) -> [Hash32] {
        var proof: [Hash32] = []
        var ranges: [(UInt64, UInt64)] = []
        var start: UInt64 = 0
        var count = treeSize
        var target = index
        // Walk down from the root, noting the sibling range at each split; the proof is their
        // hashes from the leaf up.
        while count > 1 {
            let split = largestPowerOfTwo(below: count)
            if target < split {
                ranges.append((start + split, count - split))
                count = split
            } else {
                ranges.append((start, split))
                start += split
                target -= split
                count -= split
            }
        }
        for (rangeStart, rangeCount) in ranges.reversed() { proof.append(try subtree(start: rangeStart, count: rangeCount)) }
        return proof
    }
}
