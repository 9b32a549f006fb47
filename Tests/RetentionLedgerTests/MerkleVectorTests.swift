// RFC 6962 / RFC 9162 hashing and proofs against published vectors.
//
// Source: transparency-dev/merkle, proof/verify_test.go (Apache-2.0), commit
// 02194e9afb6c1d95b5381350007963aa70fff472 — the `leaves`, `roots`, `inclusionProofs` and
// `consistencyProofs` tables (originally from certificate-transparency-go / Trillian).
// Indices there are 1-based (leaf n of a tree of size m); converted to 0-based here.

import Testing
@testable import RetentionLedger
import RetentionVocabulary

private let vectorLeaves: [[UInt8]] = [
    [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
    hexBytes("5051525354555657"), hexBytes("606162636465666768696a6b6c6d6e6f"),
]

private let vectorRoots: [String] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

/// (1-based leaf, tree size, proof)
private let inclusionVectors: [(UInt64, UInt64, [String])] = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]

/// (size1, size2, proof)
private let consistencyVectors: [(UInt64, UInt64, [String])] = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]

private func vectorTree() -> MerkleTree {
    var tree = MerkleTree()
    for leaf in vectorLeaves { tree.append(leafHash: MerkleHashing.leaf(leaf)) }
    return tree
}

@Suite("Merkle tree: RFC 6962 vectors and generated proofs")
struct MerkleVectorTests {
    @Test("the empty tree's root is SHA-256 of the empty string") func emptyTreeRootIsSHA256OfEmptyString() {
        #expect(Hex.encode(MerkleTree().root(size: 0).bytes) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("roots match published vectors for every prefix") func rootsMatchPublishedVectorsForEveryPrefix() {
        let tree = vectorTree()
        for size in 1...8 {
            #expect(Hex.encode(tree.root(size: UInt64(size)).bytes) == vectorRoots[size - 1], "size \(size)")
        }
        // Incremental roots must match too (the frontier is not a separate code path to trust).
        var incremental = MerkleTree()
        for (index, leaf) in vectorLeaves.enumerated() {
            incremental.append(leafHash: MerkleHashing.leaf(leaf))
            #expect(Hex.encode(incremental.root(size: incremental.size).bytes) == vectorRoots[index])
        }
    }

    @Test("inclusion proofs match published vectors and verify") func inclusionProofsMatchPublishedVectorsAndVerify() {
        let tree = vectorTree()
        for (leaf, size, expected) in inclusionVectors {
            let proof = tree.inclusionProof(index: leaf - 1, size: size).map { Hex.encode($0.bytes) }
            #expect(proof == expected, "leaf \(leaf) size \(size)")
            let root = hexBytes(vectorRoots[Int(size) - 1])
            let leafHash = MerkleProofs.leafHash(vectorLeaves[Int(leaf) - 1])
            let proofBytes = expected.map(hexBytes)
            #expect(MerkleProofs.verifyInclusion(leafIndex: leaf - 1, treeSize: size, leafHash: leafHash, proof: proofBytes, root: root))
            // Corruptions from the same source's corruptInclusionProof.
            #expect(!MerkleProofs.verifyInclusion(leafIndex: leaf, treeSize: size, leafHash: leafHash, proof: proofBytes, root: root))
            #expect(!MerkleProofs.verifyInclusion(leafIndex: leaf - 1, treeSize: size * 2, leafHash: leafHash, proof: proofBytes, root: root))
            #expect(!MerkleProofs.verifyInclusion(leafIndex: leaf - 1, treeSize: size, leafHash: leafHash, proof: proofBytes + [root], root: root))
            for index in proofBytes.indices {
                var wrong = proofBytes
                wrong[index][0] ^= 8
                #expect(!MerkleProofs.verifyInclusion(leafIndex: leaf - 1, treeSize: size, leafHash: leafHash, proof: wrong, root: root))
            }
            if !proofBytes.isEmpty {
                #expect(!MerkleProofs.verifyInclusion(leafIndex: leaf - 1, treeSize: size, leafHash: leafHash, proof: Array(proofBytes.dropLast()), root: root))
            }
        }
    }

    @Test("consistency proofs match published vectors and verify") func consistencyProofsMatchPublishedVectorsAndVerify() {
        let tree = vectorTree()
        for (first, second, expected) in consistencyVectors {
            let proof = tree.consistencyProof(first: first, second: second).map { Hex.encode($0.bytes) }
            #expect(proof == expected, "\(first) -> \(second)")
            let root1 = hexBytes(vectorRoots[Int(first) - 1])
            let root2 = hexBytes(vectorRoots[Int(second) - 1])
            let proofBytes = expected.map(hexBytes)
            #expect(MerkleProofs.verifyConsistency(firstSize: first, secondSize: second, firstRoot: root1, secondRoot: root2, proof: proofBytes))
            guard !proofBytes.isEmpty else { continue }
            #expect(!MerkleProofs.verifyConsistency(firstSize: first, secondSize: second, firstRoot: root2, secondRoot: root1, proof: proofBytes))
            #expect(!MerkleProofs.verifyConsistency(firstSize: first + 1, secondSize: second, firstRoot: root1, secondRoot: root2, proof: proofBytes))
            #expect(!MerkleProofs.verifyConsistency(firstSize: first, secondSize: second, firstRoot: root1, secondRoot: root2, proof: Array(proofBytes.dropLast())))
            for index in proofBytes.indices {
                var wrong = proofBytes
                wrong[index][0] ^= 16
                #expect(!MerkleProofs.verifyConsistency(firstSize: first, secondSize: second, firstRoot: root1, secondRoot: root2, proof: wrong))
            }
        }
    }

    @Test("generated proofs verify for every leaf and size up to 70") func generatedProofsVerifyForEveryLeafAndSizeUpTo70() {
        var tree = MerkleTree()
        for n in 0..<70 { tree.append(leafHash: MerkleHashing.leaf([UInt8(n), 0xAA])) }
        for size in UInt64(1)...70 {
            let root = tree.root(size: size)
            for index in 0..<size {
                let proof = tree.inclusionProof(index: index, size: size)
                #expect(MerkleProofs.rootFromInclusionProof(leafIndex: index, treeSize: size, leafHash: tree.leafHash(at: index), proof: proof) == root)
            }
            for first in 1...size {
                let proof = tree.consistencyProof(first: first, second: size)
                #expect(MerkleProofs.verifyConsistency(firstSize: first, secondSize: size, firstRoot: tree.root(size: first), secondRoot: root, proof: proof))
            }
        }
    }
}
