import Foundation
import RetentionLedger
import RetentionVocabulary

/// Record decoding (`LedgerRecord(canonicalBytes:)`): bytes either decode or throw
/// `LedgerError`; what decodes is canonical (encoding it gives back the very input), decodes
/// again to an equal record, and exports as one line holding one valid JSON object.
public func fuzzLedgerRecord(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let record: LedgerRecord
    do { record = try LedgerRecord(canonicalBytes: input) } catch { return }
    try require(record.canonicalBytes == input, "a decoded record does not re-encode to its input")
    let again: LedgerRecord
    do { again = try LedgerRecord(canonicalBytes: record.canonicalBytes) } catch {
        throw FuzzPropertyViolation("canonicalBytes of a decoded record does not decode: \(error)")
    }
    try require(again == record, "canonicalBytes decodes to a different record")
    let line = record.jsonLine(leafIndex: 7)
    try require(!line.isEmpty && !line.utf8.contains(0x0A), "jsonLine is empty or spans lines")
    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    try require(object != nil, "jsonLine is not a JSON object")
    try require(object?["leaf_index"] as? Int == 7, "jsonLine does not carry its leaf index")
}
