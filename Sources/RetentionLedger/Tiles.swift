import RetentionVocabulary
// The ledger published as a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles): the `checkpoint`
// (the newest signed note), hash tiles `tile/<L>/<N>[.p/<W>]` and entry bundles
// `tile/entries/<N>[.p/<W>]` holding the canonical record bytes, which are the Merkle leaves.
// Only records and hashes are written, so no content can be there, as in the ledger itself.
// Any static file server can serve the directory; any tlog-tiles client can check it.

import Glibc
import VaultSystem

/// Hashes per full tile: tile height 8.
let tileWidth = 256
/// Bytes of a full hash tile.
let fullTileBytes = tileWidth * 32
/// The spec's bound on `<L>`.
let maximumTileLevel = 63

/// Why tiles could not be written or read. Messages name paths under the tiles directory
/// (which this code builds from numbers), sizes and indexes, never a record's bytes.
public enum TileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The ledger file failed (reading or verifying it), or the checkpoint note did.
    case ledger(LedgerError)
    /// A file operation on `path` (relative to the tiles directory) failed.
    case io(LedgerIOOperation, errno: Int32, path: String)
    /// A tile, entry bundle or the checkpoint is not there.
    case missing(path: String)
    /// The server holding the log answered `status` (an HTTP status other than 200 and 404)
    /// for `path`, or could not be reached (`status` 0).
    case unavailable(path: String, status: Int)
    /// A tile or entry bundle has the wrong length (truncated, padded).
    case wrongSize(path: String, expected: Int, actual: Int)
    /// An entry bundle is not `width` uint16-length-prefixed entries.
    case malformedEntryBundle(path: String)
    /// A tile coordinate the spec does not allow (level over 63, width not 1...256, index past
    /// what the tree holds).
    case invalidCoordinates(level: Int, index: UInt64, width: Int)
    /// The tiles or entries do not hash to the checkpoint's root.
    case rootMismatch(treeSize: UInt64)
    /// An entry does not hash to its leaf hash in the level-0 tile.
    case entryMismatch(leafIndex: UInt64)
    /// A tile already in the directory differs from the one this ledger gives (another log, or
    /// a fork): tiles are immutable, so it is never overwritten.
    case existingTileDiffers(path: String)
    /// The ledger has no signed checkpoint yet: nothing can be published.
    case noCheckpoint
    /// No discard receipt for the request in the entries the checkpoint covers.
    case requestNotFound
    /// The newest checkpoint's key is unknown without a verifier key (`--key`).
    case verifierKeyRequired

    public var description: String {
        switch self {
        case .ledger(let error): return "\(error)"
        case .io(let operation, let errno, let path): return "tiles I/O failed: \(operation.rawValue) \(path) (errno \(errno))"
        case .missing(let path): return "missing \(path)"
        case .unavailable(let path, let status):
            return status == 0 ? "\(path): the server could not be reached" : "\(path): the server answered \(status)"
        case .wrongSize(let path, let expected, let actual): return "\(path) has \(actual) bytes, expected \(expected)"
        case .malformedEntryBundle(let path): return "\(path) is not a well-formed entry bundle"
        case .invalidCoordinates(let level, let index, let width):
            return "no such tile: level \(level), index \(index), width \(width)"
        case .rootMismatch(let size): return "the tiles do not hash to the checkpoint's root (tree size \(size))"
        case .entryMismatch(let index): return "entry \(index) does not match its leaf hash in the level-0 tile"
        case .existingTileDiffers(let path): return "\(path) already exists with other contents; tiles are never overwritten"
        case .noCheckpoint: return "the ledger has no signed checkpoint yet"
        case .requestNotFound: return "no discard receipt for the request under the checkpoint"
        case .verifierKeyRequired: return "the newest checkpoint's key is not known: pass the verifier key"
        }
    }
}

/// The C2SP tlog-tiles resource paths, relative to the log's prefix.
public enum TilePath {
    /// `<N>` as zero-padded 3-digit path elements, all but the last prefixed `x`:
    /// 1234067 is `x001/x234/067`.
    public static func index(_ n: UInt64) -> String {
        var groups: [String] = []
        var rest = n
        repeat {
            let group = String(rest % 1000)
            groups.append(String(repeating: "0", count: 3 - group.count) + group)
            rest /= 1000
        } while rest > 0
        return groups.reversed().enumerated().map { $0.offset == groups.count - 1 ? $0.element : "x" + $0.element }
            .joined(separator: "/")
    }

    /// `tile/<L>/<N>`, with `.p/<W>` when `width` is under 256 (a partial tile).
    public static func tile(level: Int, index: UInt64, width: Int = 256) -> String {
        "tile/\(level)/\(Self.index(index))" + (width < tileWidth ? ".p/\(width)" : "")
    }

    /// `tile/entries/<N>`, with `.p/<W>` when `width` is under 256.
    public static func entries(index: UInt64, width: Int = 256) -> String {
        "tile/entries/\(Self.index(index))" + (width < tileWidth ? ".p/\(width)" : "")
    }

    /// The signed checkpoint.
    public static let checkpoint = "checkpoint"
}

/// The tiles a tree of `treeSize` leaves has at `level`: how many full ones, and the width of
/// the partial one after them (0 if none). `floor(s / 256^l)` hashes at level l.
func tileShape(treeSize: UInt64, level: Int) -> (full: UInt64, partialWidth: Int) {
    let shift = UInt64(8 * level)
    let hashes = shift >= 64 ? 0 : treeSize >> shift
    return (hashes / UInt64(tileWidth), Int(hashes % UInt64(tileWidth)))
}

/// The RFC 6962 root of a perfect subtree given its 2^k leaves (here, a tile's hashes).
func perfectRoot(_ hashes: [Hash32]) -> Hash32 {
    var nodes = hashes
    while nodes.count > 1 {
        var next: [Hash32] = []
        next.reserveCapacity(nodes.count / 2)
        var index = 0
        while index + 1 < nodes.count {
            next.append(MerkleHashing.node(nodes[index], nodes[index + 1]))
            index += 2
        }
        nodes = next
    }
    return nodes[0]
}

// MARK: - Writing

/// What one ``LedgerTiles/write(ledgerPath:to:verifierKey:)`` did.
public struct TileWriteReport: Sendable, Hashable {
    /// The tree size published: the newest signed checkpoint's.
    public let treeSize: UInt64
    /// Files written (paths relative to the directory), in order; `checkpoint` last if it changed.
    public let written: [String]
    /// Full tiles and full entry bundles that were already there (checked byte for byte, left alone).
    public let unchanged: Int
    /// Partial tiles and bundles removed because their full tile now exists.
    public let removed: [String]
}

/// Publishing a ledger as C2SP tlog-tiles, and reading one back.
public enum LedgerTiles {
    /// Writes or updates the tiles of the ledger at `ledgerPath` in `directory`, for the tree
    /// size of its newest signed checkpoint: every hash tile at every level, every entry bundle
    /// (the canonical record bytes), partial tiles for the right edge, then the `checkpoint`.
    ///
    /// Incremental: a full tile or bundle already present is compared with what the ledger gives
    /// and left alone (a difference throws ``TileError/existingTileDiffers(path:)``: tiles are
    /// immutable); partial tiles of earlier checkpoints stay until their full tile exists, as the
    /// spec requires, and are removed then. Each file is written to a temporary name, synced and
    /// renamed, so a server never serves half a file; the checkpoint goes last, so it never
    /// names tiles that are not there yet.
    ///
    /// With `verifierKey`, the whole ledger is verified along the key chain first. Without it,
    /// frames and roots are checked but not signatures, and the checkpoint's key must be known
    /// from the rotation chain or from the `checkpoint` a previous run wrote
    /// (``TileError/verifierKeyRequired`` otherwise); readers verify the signature anyway.
    public static func write(ledgerPath: String, to directory: String, verifierKey: VerifierKey?) throws(TileError) -> TileWriteReport {
        try write(ledgerPath: ledgerPath, to: directory, verifierKey: verifierKey, syncs: true)
    }

    /// Test seam: `syncs: false` skips the fsyncs (the tests write hundreds of files).
    static func write(ledgerPath: String, to directory: String, verifierKey: VerifierKey?, syncs: Bool) throws(TileError) -> TileWriteReport {
        let output = TileDirectory(root: directory, syncs: syncs)
        let checkpoint = try newestCheckpoint(ledgerPath: ledgerPath, verifierKey: verifierKey, output: output)
        let treeSize = checkpoint.treeSize
        var builder = TileBuilder(output: output)
        var bundle: [UInt8] = []
        var bundleCount = 0
        var bundleIndex: UInt64 = 0
        var frontier = MerkleFrontier()
        do {
            _ = try scanLedgerFile(path: ledgerPath) { (index: UInt64, _: Int, record: [UInt8]) throws(LedgerError) in
                guard index < treeSize else { return }
                let leaf = MerkleHashing.leaf(record)
                frontier.append(leafHash: leaf)
                // Records are at most 4096 bytes: the uint16 length always fits.
                bundle.append(UInt8(record.count >> 8))
                bundle.append(UInt8(truncatingIfNeeded: record.count))
                bundle.append(contentsOf: record)
                bundleCount += 1
                if bundleCount == tileWidth {
                    try builder.place(TilePath.entries(index: bundleIndex), bundle, full: true)
                    bundle.removeAll(keepingCapacity: true)
                    bundleCount = 0
                    bundleIndex += 1
                }
                try builder.append(leaf)
            }
        } catch {
            throw builder.failure ?? .ledger(error)
        }
        // A file cut or changed since the checkpoint was verified: what this run wrote came from
        // it, so it goes again (tiles are immutable once served); nothing else was touched yet.
        guard frontier.size == treeSize, frontier.currentRoot.bytes == checkpoint.rootHash else {
            for path in builder.written { unlink(output.absolute(path)) }
            throw .rootMismatch(treeSize: treeSize)
        }
        // Only now that the new full tiles are known good may the partials they replace go.
        for directory in builder.replacedPartials { builder.removed += output.removeDirectory(directory) }
        if bundleCount > 0 {
            try builder.placeChecked(TilePath.entries(index: bundleIndex, width: bundleCount), bundle, full: false)
        }
        try builder.finishPartials()
        var written = builder.written
        if output.read(TilePath.checkpoint, limit: 16 << 10) != Array(checkpoint.noteText.utf8) {
            try output.writeAtomically(TilePath.checkpoint, Array(checkpoint.noteText.utf8))
            written.append(TilePath.checkpoint)
        }
        return TileWriteReport(treeSize: treeSize, written: written, unchanged: builder.unchanged, removed: builder.removed)
    }

    /// The newest signed checkpoint of the ledger, its note rebuilt as the ledger writes it.
    private static func newestCheckpoint(ledgerPath: String, verifierKey: VerifierKey?, output: TileDirectory) throws(TileError) -> SignedCheckpoint {
        if let verifierKey {
            let latest: SignedCheckpoint?
            do { latest = try LedgerVerifier.latestCheckpoint(path: ledgerPath, verifierKey: verifierKey) } catch { throw .ledger(error) }
            guard let latest else { throw .noCheckpoint }
            return latest
        }
        // Unverified: the previous run's note, if any, gives the key ID of an epoch-0 key (whose
        // public key the ledger does not hold), provided it is one of this ledger's checkpoints.
        let previous = output.read(TilePath.checkpoint, limit: 16 << 10).flatMap { bytes in
            try? SignedCheckpoint.parseUnverified(note: String(decoding: bytes, as: UTF8.self))
        }
        let replay: LedgerReplay<MerkleFrontier>
        do {
            (_, replay) = try streamLedger(path: ledgerPath, pinnedKey: nil) { replay in
                if let previous { replay.watchedCheckpoint = (previous.treeSize, previous.rootHash) }
            }
        } catch { throw .ledger(error) }
        guard let entry = replay.lastCheckpoint else { throw .noCheckpoint }
        if let signed = replay.signedCheckpoint(entry) { return signed }
        guard entry.keyEpoch == 0, let previous, replay.sawWatchedCheckpoint, previous.origin == replay.origin,
              let (_, keyID, _) = (try? splitNote(previous.noteText))?.signatures.first(where: { $0.0 == replay.origin })
        else { throw .verifierKeyRequired }
        return SignedCheckpoint(origin: replay.origin, treeSize: entry.treeSize, rootHash: entry.rootHash,
                                keyName: replay.origin, keyID: keyID, signature: entry.signature)
    }
}

/// Streams leaf hashes into tiles: level l holds the hashes not yet making a full tile; a full
/// tile is placed and its root becomes the next hash of level l+1. At the end, what each level
/// holds is exactly its partial tile (`floor(s / 256^l) mod 256` hashes).
private struct TileBuilder {
    let output: TileDirectory
    var levels: [[Hash32]] = [[]]
    var fullCount: [UInt64] = [0]
    var written: [String] = []
    var unchanged = 0
    var removed: [String] = []
    /// `.p` directories of the full tiles written, removed once the run's root is checked.
    var replacedPartials: [String] = []
    /// The tile error behind a `LedgerError` the scan's closure had to throw.
    var failure: TileError?

    init(output: TileDirectory) { self.output = output }

    mutating func append(_ leaf: Hash32) throws(LedgerError) {
        var hash = leaf
        var level = 0
        while true {
            levels[level].append(hash)
            guard levels[level].count == tileWidth else { return }
            let tile = levels[level]
            try place(TilePath.tile(level: level, index: fullCount[level]), tile.flatMap(\.bytes), full: true)
            hash = perfectRoot(tile)
            levels[level].removeAll(keepingCapacity: true)
            fullCount[level] += 1
            level += 1
            if levels.count == level {
                levels.append([])
                fullCount.append(0)
            }
        }
    }

    /// `placeChecked` from inside the ledger scan, whose closure throws `LedgerError` only.
    mutating func place(_ path: String, _ bytes: [UInt8], full: Bool) throws(LedgerError) {
        do { try placeChecked(path, bytes, full: full) } catch {
            failure = error
            throw .closed  // Replaced by `failure` where the scan is caught.
        }
    }

    /// Writes `bytes` at `path` unless the same bytes are there; never replaces other bytes.
    mutating func placeChecked(_ path: String, _ bytes: [UInt8], full: Bool) throws(TileError) {
        if let existing = output.read(path, limit: bytes.count + 1) {
            guard existing == bytes else { throw .existingTileDiffers(path: path) }
            if full { unchanged += 1 }
            return
        }
        try output.writeAtomically(path, bytes)
        written.append(path)
        // The spec lets a log delete partial tiles once the full tile is there.
        if full { replacedPartials.append(path + ".p") }
    }

    mutating func finishPartials() throws(TileError) {
        for (level, hashes) in levels.enumerated() where !hashes.isEmpty {
            try placeChecked(TilePath.tile(level: level, index: fullCount[level], width: hashes.count), hashes.flatMap(\.bytes), full: false)
        }
    }
}

/// Files under a tiles directory: atomic writes, bounded reads, directories made on demand.
struct TileDirectory {
    let root: String
    var syncs = true

    func absolute(_ path: String) -> String { root + "/" + path }

    /// The file's bytes, or nil if it cannot be opened; at most `limit` bytes are read.
    func read(_ path: String, limit: Int) -> [UInt8]? {
        try? FileSystem.live.readFile(absolute(path), limit: limit)
    }

    /// Writes through a temporary file in the same directory and `rename(2)`.
    func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(TileError) {
        let files = FileSystem.live
        let target = absolute(path)
        try makeParents(of: path)
        let temporary = target + ".tmp-\(getpid())"
        let fd: Int32
        do { fd = try files.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode: 0o644) } catch {
            throw .io(.open, errno: error.rawValue, path: path)
        }
        do throws(TileError) {
            defer { files.close(fd) }
            do { try files.writeAll(fd, bytes) } catch { throw .io(.write, errno: error.rawValue, path: path) }
            if syncs {
                do { try files.fsync(fd) } catch { throw .io(.sync, errno: error.rawValue, path: path) }
            }
        } catch {
            unlink(temporary)
            throw error
        }
        do { try files.rename(temporary, to: target) } catch {
            unlink(temporary)
            throw .io(.rename, errno: error.rawValue, path: path)
        }
        if syncs { syncParentDirectory(of: target) }
    }

    /// `mkdir -p` of the directories above `path`, the root's own included.
    func makeParents(of path: String) throws(TileError) {
        if mkdir(root, 0o755) != 0 && errno != EEXIST { throw .io(.open, errno: errno, path: ".") }
        var current = root
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw .io(.open, errno: errno, path: path)
            }
        }
    }

    /// Removes a partial tile's `.p` directory and the `<W>` files in it (W is 1...255, nothing
    /// else is written there); returns the removed files' paths.
    func removeDirectory(_ path: String) -> [String] {
        guard access(absolute(path), F_OK) == 0 else { return [] }
        var removed: [String] = []
        for width in 1..<tileWidth where unlink(absolute(path + "/\(width)")) == 0 { removed.append(path + "/\(width)") }
        rmdir(absolute(path))
        return removed
    }
}
