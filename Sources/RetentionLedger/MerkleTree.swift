// RFC 9162 §2.1 Merkle tree over the records. The tree keeps every perfect subtree root it has
// completed (level l holds the roots of the aligned 2^l-leaf subtrees), so an append costs
// amortized O(1) hashes, the root costs O(log n), and any proof is assembled from stored nodes
// (O(log² n) worst case) without rehashing leaves. Memory: about two hashes per record.

/// What a replay needs of a tree: its size, appending a leaf, and the root of all of it.
protocol MerkleAccumulator: Sendable {
    init()
    var size: UInt64 { get }
    mutating func append(leafHash: Hash32)
    /// MTH(D[0:size]).
    var currentRoot: Hash32 { get }
}

struct MerkleTree: MerkleAccumulator {
    /// levels[l][i] = MTH of leaves [i·2^l, (i+1)·2^l).
    private(set) var levels: [ChunkedArray<Hash32>] = [ChunkedArray()]

    var size: UInt64 { UInt64(levels[0].count) }

    func leafHash(at index: UInt64) -> Hash32 { levels[0][Int(index)] }

    mutating func append(leafHash: Hash32) {
        levels[0].append(leafHash)
        var level = 0
        // Completing the left sibling's pair at each level promotes one node upward.
        while levels[level].count % 2 == 0 {
            let count = levels[level].count
            let parent = MerkleHashing.node(levels[level][count - 2], levels[level][count - 1])
            if levels.count == level + 1 { levels.append(ChunkedArray()) }
            levels[level + 1].append(parent)
            level += 1
        }
    }

    var currentRoot: Hash32 { root(size: size) }

    /// MTH(D[0:size]) for any size ≤ the current size.
    func root(size: UInt64) -> Hash32 {
        size == 0 ? MerkleHashing.emptyRoot : subtreeHash(start: 0, count: size)
    }

    /// MTH of leaves [start, start+count), count ≥ 1, from stored perfect subtrees.
    func subtreeHash(start: UInt64, count: UInt64) -> Hash32 {
        if count & (count - 1) == 0 && start % count == 0 {
            let level = count.trailingZeroBitCount
            return levels[level][Int(start >> UInt64(level))]
        }
        let split = largestPowerOfTwo(below: count)
        return MerkleHashing.node(subtreeHash(start: start, count: split), subtreeHash(start: start + split, count: count - split))
    }

    /// RFC 9162 §2.1.3.1 PATH(index, D[0:size]).
    func inclusionProof(index: UInt64, size: UInt64) -> [Hash32] {
        precondition(index < size && size <= self.size, "internal: proof request outside tree")
        var proof: [Hash32] = []
        path(index: index, start: 0, count: size, into: &proof)
        return proof
    }

    private func path(index: UInt64, start: UInt64, count: UInt64, into proof: inout [Hash32]) {
        guard count > 1 else { return }
        let split = largestPowerOfTwo(below: count)
        if index < split {
            path(index: index, start: start, count: split, into: &proof)
            proof.append(subtreeHash(start: start + split, count: count - split))
        } else {
            path(index: index - split, start: start + split, count: count - split, into: &proof)
            proof.append(subtreeHash(start: start, count: split))
        }
    }

    /// RFC 9162 §2.1.4.1 PROOF(first, D[0:second]).
    func consistencyProof(first: UInt64, second: UInt64) -> [Hash32] {
        precondition(first <= second && second <= size, "internal: proof request outside tree")
        guard first > 0 && first < second else { return [] }
        var proof: [Hash32] = []
        subproof(first: first, start: 0, count: second, complete: true, into: &proof)
        return proof
    }

    private func subproof(first: UInt64, start: UInt64, count: UInt64, complete: Bool, into proof: inout [Hash32]) {
        if first == count {
            if !complete { proof.append(subtreeHash(start: start, count: count)) }
            return
        }
        let split = largestPowerOfTwo(below: count)
        if first <= split {
            subproof(first: first, start: start, count: split, complete: complete, into: &proof)
            proof.append(subtreeHash(start: start + split, count: count - split))
        } else {
            subproof(first: first - split, start: start + split, count: count - split, complete: false, into: &proof)
            proof.append(subtreeHash(start: start, count: split))
        }
    }
}

/// The tree as its frontier: the roots of the perfect subtrees that `size`'s binary digits
/// split it into, largest (leftmost) first. At most 64 hashes whatever the size, so a verifier
/// streaming a ledger of any length holds O(log n) hashes; it can check each checkpoint's root
/// as it passes but cannot build proofs (the writer's `MerkleTree` keeps every node for those).
struct MerkleFrontier: MerkleAccumulator {
    private(set) var size: UInt64 = 0
    /// Roots of the perfect subtrees, one per set bit of `size`, largest first.
    private(set) var nodes: [Hash32] = []

    init() { nodes.reserveCapacity(64) }

    mutating func append(leafHash: Hash32) {
        var hash = leafHash
        // Each trailing 1 bit of the old size is a subtree of the new leaf's size: merge it.
        var remaining = size
        while remaining & 1 == 1 {
            hash = MerkleHashing.node(nodes.removeLast(), hash)
            remaining >>= 1
        }
        nodes.append(hash)
        size += 1
    }

    /// RFC 6962's split at the largest power of two, applied from the right.
    var currentRoot: Hash32 {
        guard var hash = nodes.last else { return MerkleHashing.emptyRoot }
        for node in nodes.dropLast().reversed() { hash = MerkleHashing.node(node, hash) }
        return hash
    }
}

/// RFC 9162 PATH(index, D[0:size]) from leaf hashes streamed in order, in O(log² n) memory:
/// each proof element is the root of one range of leaves (the ranges and the leaf itself
/// partition [0, size)), built with a frontier while its leaves pass. For `zdr ledger prove`,
/// which does not hold the tree.
struct StreamingInclusionProof {
    /// The proof's ranges, in proof order (as `MerkleTree.inclusionProof` returns them).
    private var ranges: [(start: UInt64, count: UInt64)] = []
    private var frontiers: [MerkleFrontier]
    let size: UInt64
    private(set) var leavesSeen: UInt64 = 0

    init(index: UInt64, size: UInt64) {
        precondition(index < size, "internal: proof request outside tree")
        self.size = size
        Self.collect(index: index, start: 0, count: size, into: &ranges)
        frontiers = Array(repeating: MerkleFrontier(), count: ranges.count)
    }

    private static func collect(index: UInt64, start: UInt64, count: UInt64, into ranges: inout [(start: UInt64, count: UInt64)]) {
        guard count > 1 else { return }
        let split = largestPowerOfTwo(below: count)
        if index < split {
            collect(index: index, start: start, count: split, into: &ranges)
            ranges.append((start + split, count - split))
        } else {
            collect(index: index - split, start: start + split, count: count - split, into: &ranges)
            ranges.append((start, split))
        }
    }

    /// Feeds the next leaf (leaves past `size` are ignored).
    mutating func append(leafHash: Hash32) {
        let leaf = leavesSeen
        leavesSeen += 1
        guard leaf < size else { return }
        // At most 64 ranges: a linear search is cheaper than keeping them sorted.
        for k in ranges.indices where leaf >= ranges[k].start && leaf - ranges[k].start < ranges[k].count {
            frontiers[k].append(leafHash: leafHash)
            return
        }
    }

    /// The proof, once all `size` leaves have been fed; `nil` before.
    var proof: [Hash32]? {
        guard leavesSeen >= size else { return nil }
        return frontiers.map(\.currentRoot)
    }
}

/// MTH of several ranges of leaves streamed in order (ranges may overlap), each by its own
/// frontier: RFC 9162 consistency proofs and roots of any size without holding the tree.
struct StreamingRangeHashes {
    private let ranges: [(start: UInt64, count: UInt64)]
    private var frontiers: [MerkleFrontier]
    private var leavesSeen: UInt64 = 0

    init(ranges: [(start: UInt64, count: UInt64)]) {
        self.ranges = ranges
        frontiers = Array(repeating: MerkleFrontier(), count: ranges.count)
    }

    mutating func append(leafHash: Hash32) {
        let leaf = leavesSeen
        leavesSeen += 1
        for k in ranges.indices where leaf >= ranges[k].start && leaf - ranges[k].start < ranges[k].count {
            frontiers[k].append(leafHash: leafHash)
        }
    }

    /// Each range's MTH (the empty range's is the empty root), in the order given.
    var roots: [Hash32] { frontiers.map(\.currentRoot) }

    /// The ranges whose roots are RFC 9162 §2.1.4.1 PROOF(first, D[0:second]), in proof order
    /// (as `MerkleTree.consistencyProof` returns them).
    static func consistencyRanges(first: UInt64, second: UInt64) -> [(start: UInt64, count: UInt64)] {
        guard first > 0 && first < second else { return [] }
        var ranges: [(start: UInt64, count: UInt64)] = []
        subproof(first: first, start: 0, count: second, complete: true, into: &ranges)
        return ranges
    }

    private static func subproof(first: UInt64, start: UInt64, count: UInt64, complete: Bool, into ranges: inout [(start: UInt64, count: UInt64)]) {
        if first == count {
            if !complete { ranges.append((start, count)) }
            return
        }
        let split = largestPowerOfTwo(below: count)
        if first <= split {
            subproof(first: first, start: start, count: split, complete: complete, into: &ranges)
            ranges.append((start + split, count - split))
        } else {
            subproof(first: first - split, start: start + split, count: count - split, complete: false, into: &ranges)
            ranges.append((start, split))
        }
    }
}

/// The largest power of two strictly less than `n` (n ≥ 2).
@inline(__always)
func largestPowerOfTwo(below n: UInt64) -> UInt64 {
    UInt64(1) << UInt64(63 - (n - 1).leadingZeroBitCount)
}

/// RFC 9162 proof verification (§2.1.3.2 and §2.1.4.2), usable by anyone holding hashes.
public enum MerkleProofs {
    /// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
    public static func leafHash(_ leaf: [UInt8]) -> [UInt8] { MerkleHashing.leaf(leaf).bytes }

    /// RFC 6962 interior node hash: SHA-256(0x01 || left || right). Nil unless both are 32 bytes.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8]? {
        guard let l = Hash32(left), let r = Hash32(right) else { return nil }
        return MerkleHashing.node(l, r).bytes
    }

    /// The root an inclusion proof implies, or nil if the proof has the wrong shape.
    public static func rootFromInclusionProof(leafIndex: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]]) -> [UInt8]? {
        guard let leaf = Hash32(leafHash) else { return nil }
        var hashes: [Hash32] = []
        for element in proof {
            guard let hash = Hash32(element) else { return nil }
            hashes.append(hash)
        }
        return rootFromInclusionProof(leafIndex: leafIndex, treeSize: treeSize, leafHash: leaf, proof: hashes)?.bytes
    }

    static func rootFromInclusionProof(leafIndex: UInt64, treeSize: UInt64, leafHash: Hash32, proof: [Hash32]) -> Hash32? {
        guard leafIndex < treeSize else { return nil }
        var fn = leafIndex
        var sn = treeSize - 1
        var result = leafHash
        for element in proof {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                result = MerkleHashing.node(element, result)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                result = MerkleHashing.node(result, element)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? result : nil
    }

    /// Whether `proof` shows the leaf at `leafIndex` is in the tree of `treeSize` with `root`.
    public static func verifyInclusion(leafIndex: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard root.count == 32,
              let computed = rootFromInclusionProof(leafIndex: leafIndex, treeSize: treeSize, leafHash: leafHash, proof: proof)
        else { return false }
        return constantTimeEqual(computed, root)
    }

    /// Whether `proof` shows the tree of `firstSize` with `firstRoot` is a prefix of the tree
    /// of `secondSize` with `secondRoot`.
    public static func verifyConsistency(
        firstSize: UInt64, secondSize: UInt64, firstRoot: [UInt8], secondRoot: [UInt8], proof: [[UInt8]]
    ) -> Bool {
        guard let first = Hash32(firstRoot), let second = Hash32(secondRoot) else { return false }
        var path: [Hash32] = []
        for element in proof {
            guard let hash = Hash32(element) else { return false }
            path.append(hash)
        }
        return verifyConsistency(firstSize: firstSize, secondSize: secondSize, firstRoot: first, secondRoot: second, proof: path)
    }

    static func verifyConsistency(firstSize: UInt64, secondSize: UInt64, firstRoot: Hash32, secondRoot: Hash32, proof: [Hash32]) -> Bool {
        guard firstSize <= secondSize else { return false }
        if firstSize == secondSize { return proof.isEmpty && firstRoot == secondRoot }
        if firstSize == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        if firstSize & (firstSize - 1) == 0 { path.insert(firstRoot, at: 0) }
        var fn = firstSize - 1
        var sn = secondSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for element in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHashing.node(element, fr)
                sr = MerkleHashing.node(element, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = MerkleHashing.node(sr, element)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == firstRoot && sr == secondRoot && sn == 0
    }
}
