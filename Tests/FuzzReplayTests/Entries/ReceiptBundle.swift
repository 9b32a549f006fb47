import RetentionLedger
import RetentionVocabulary

/// Receipt bundles as an auditor receives them: `ReceiptBundle(json:)` then `verify` under the
/// fixed test key. Properties: a bundle that parses survives its own `json`; a bundle that
/// verifies still verifies after that round trip, its proof leads to the checkpoint's root,
/// and the receipt is the bundle's record.
public func fuzzReceiptBundle(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let text = String(decoding: input, as: UTF8.self)
    guard let bundle = try? ReceiptBundle(json: text) else { return }
    let reparsed = try? ReceiptBundle(json: bundle.json)
    try require(reparsed == bundle, "a parsed bundle does not survive its own json")
    guard let verified = try? bundle.verify(verifierKey: FuzzLedgerKey.verifier) else { return }
    try require(verified.leafIndex == bundle.leafIndex, "verified leaf index differs from the bundle's")
    try require(verified.checkpoint.treeSize == bundle.treeSize, "verified tree size differs from the bundle's")
    let root = MerkleProofs.rootFromInclusionProof(
        leafIndex: bundle.leafIndex, treeSize: bundle.treeSize, leafHash: MerkleProofs.leafHash(bundle.record),
        proof: bundle.inclusionProof)
    try require(root == verified.checkpoint.rootHash, "verified bundle's proof does not lead to the signed root")
    let record = try? LedgerRecord(canonicalBytes: bundle.record)
    try require(record.map { $0.body == .discardReceipt(verified.receipt) } == true, "verified receipt is not the record")
    let again = try? ReceiptBundle.verify(json: bundle.json, verifierKey: FuzzLedgerKey.verifierKeyText)
    try require(again == verified, "the round-tripped bundle verifies differently")
}
