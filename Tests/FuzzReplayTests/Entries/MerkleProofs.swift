import RetentionLedger
import RetentionVocabulary

/// Differential: `MerkleProofs` (the RFC 9162 verifiers, iterative) against the RFC 6962
/// definitions (recursive `PATH` and `PROOF`) computed here over a tree built from the input.
/// The fuzzer edits a correct proof (drops, duplicates, swaps, replaces, flips bits, changes
/// the claimed index or first size); the verifier must accept exactly the proofs the reference
/// produces for the claim, since any other accepted proof would need a SHA-256 collision.
public func fuzzMerkleProofs(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    guard input.count >= 6 else { return }
    let size = (Int(input[0]) << 8 | Int(input[1])) % 300 + 1
    var tree = ReferenceMerkleTree(leafCount: size, salt: Array(input.prefix(6)))
    let root = tree.hash(0, size)
    var claimedIndex = (Int(input[2]) << 8 | Int(input[3])) % size
    var claimedFirstSize = (Int(input[4]) << 8 | Int(input[5])) % (size + 1)
    var inclusion = tree.path(claimedIndex, 0, size)
    var consistency = claimedFirstSize == 0 || claimedFirstSize == size ? [] : tree.subproof(claimedFirstSize, 0, size, true)
    var claimedLeaf = tree.leafHashes[claimedIndex]
    var claimedFirstRoot: [UInt8]? = nil
    let pool = tree.allHashes()

    // Each op is three bytes: kind, a, b. Both proofs get the same edits.
    var position = 6
    while position + 3 <= input.count {
        let (kind, a, b) = (input[position] % 8, Int(input[position + 1]), Int(input[position + 2]))
        position += 3
        for which in 0..<2 {
            func edit(_ proof: inout [[UInt8]]) {
                switch kind {
                case 0: if !proof.isEmpty { proof.remove(at: a % proof.count) }
                case 1: if !proof.isEmpty { proof.insert(proof[a % proof.count], at: a % proof.count) }
                case 2: if !proof.isEmpty { proof.swapAt(a % proof.count, b % proof.count) }
                case 3: if !proof.isEmpty { proof[a % proof.count] = pool[b % pool.count] }
                case 4: if !proof.isEmpty { proof[a % proof.count][(b >> 3) % 32] ^= 1 << (b & 7) }
                case 5: proof.insert(pool[b % pool.count], at: proof.isEmpty ? 0 : a % (proof.count + 1))
                default: break
                }
            }
            if which == 0 { edit(&inclusion) } else { edit(&consistency) }
        }
        switch kind {
        case 6:
            claimedIndex = (a << 8 | b) % (size + 2)
            claimedLeaf = claimedIndex < size ? tree.leafHashes[claimedIndex] : pool[b % pool.count]
            claimedFirstSize = (a << 8 | b) % (size + 2)
        case 7:
            claimedLeaf = pool[(a << 8 | b) % pool.count]
            claimedFirstRoot = pool[(b << 8 | a) % pool.count]
        default: break
        }
    }

    // Inclusion.
    let accepted = MerkleProofs.verifyInclusion(
        leafIndex: UInt64(claimedIndex), treeSize: UInt64(size), leafHash: claimedLeaf, proof: inclusion, root: root)
    let expected = claimedIndex < size && claimedLeaf == tree.leafHashes[claimedIndex]
        && inclusion == tree.path(claimedIndex, 0, size)
    try require(accepted == expected, """
        verifyInclusion(index \(claimedIndex), size \(size), \(inclusion.count) hashes) = \(accepted), \
        reference says \(expected)
        """)
    if expected {
        let computed = MerkleProofs.rootFromInclusionProof(
            leafIndex: UInt64(claimedIndex), treeSize: UInt64(size), leafHash: claimedLeaf, proof: inclusion)
        try require(computed == root, "rootFromInclusionProof disagrees with the reference root")
    }

    // Consistency.
    let firstRoot = claimedFirstRoot ?? (1...size ~= claimedFirstSize ? tree.hash(0, claimedFirstSize) : pool[0])
    let consistent = MerkleProofs.verifyConsistency(
        firstSize: UInt64(claimedFirstSize), secondSize: UInt64(size), firstRoot: firstRoot, secondRoot: root,
        proof: consistency)
    let expectedConsistent: Bool
    if claimedFirstSize > size {
        expectedConsistent = false
    } else if claimedFirstSize == size {
        expectedConsistent = consistency.isEmpty && firstRoot == root
    } else if claimedFirstSize == 0 {
        expectedConsistent = consistency.isEmpty
    } else {
        expectedConsistent = firstRoot == tree.hash(0, claimedFirstSize)
            && consistency == tree.subproof(claimedFirstSize, 0, size, true)
    }
    try require(consistent == expectedConsistent, """
        verifyConsistency(first \(claimedFirstSize), second \(size), \(consistency.count) hashes) = \(consistent), \
        reference says \(expectedConsistent)
        """)
}

/// RFC 6962 §2.1 by the letter: MTH, PATH and SUBPROOF as recursive definitions, memoized.
struct ReferenceMerkleTree {
    let leafHashes: [[UInt8]]
    private var memo: [Int: [UInt8]] = [:]

    /// Distinct leaves: each starts with its index, then a salt taken from the input.
    init(leafCount: Int, salt: [UInt8]) {
        leafHashes = (0..<leafCount).map { index in
            MerkleProofs.leafHash([UInt8(truncatingIfNeeded: index), UInt8(truncatingIfNeeded: index >> 8)] + salt)
        }
    }

    /// Largest power of two strictly below `n` (n ≥ 2).
    private static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH(D[low:high]).
    mutating func hash(_ low: Int, _ high: Int) -> [UInt8] {
        if high - low == 1 { return leafHashes[low] }
        let key = low << 16 | high
        if let known = memo[key] { return known }
        let k = Self.split(high - low)
        let value = MerkleProofs.nodeHash(hash(low, low + k), hash(low + k, high))!
        memo[key] = value
        return value
    }

    /// PATH(m, D[low:high]).
    mutating func path(_ m: Int, _ low: Int, _ high: Int) -> [[UInt8]] {
        let n = high - low
        if n == 1 { return [] }
        let k = Self.split(n)
        if m < k { return path(m, low, low + k) + [hash(low + k, high)] }
        return path(m - k, low + k, high) + [hash(low, low + k)]
    }

    /// SUBPROOF(m, D[low:high], b).
    mutating func subproof(_ m: Int, _ low: Int, _ high: Int, _ b: Bool) -> [[UInt8]] {
        let n = high - low
        if m == n { return b ? [] : [hash(low, high)] }
        let k = Self.split(n)
        if m <= k { return subproof(m, low, low + k, b) + [hash(low + k, high)] }
        return subproof(m - k, low + k, high, false) + [hash(low, low + k)]
    }

    /// Every leaf hash and every node hash computed so far (material for plausible edits).
    func allHashes() -> [[UInt8]] {
        leafHashes + memo.keys.sorted().map { memo[$0]! }
    }
}
