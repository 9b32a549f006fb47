// Shared by the libFuzzer targets (Fuzz/, as module FuzzEntries through a symlink) and the
// replay tests (Tests/FuzzReplayTests): both call the very same entry function, so an input
// saved under Fuzz/FailCases/<Target>/ replays exactly what the fuzzer ran. Files here may
// import only the library products both sides link: RetentionLedger, RetentionPolicy,
// ContentVault, ContentJSON.

/// A property an entry checks did not hold (a crash in library code needs no such value: it
/// ends the process, which both libFuzzer and the test runner report).
public struct FuzzPropertyViolation: Error, CustomStringConvertible {
    public let description: String
    /// Set when the violation is a reported library bug that is still open (an id naming it in
    /// Docs/Fuzzing.md). The fuzz driver then carries on, so the fuzzer can look past it (set
    /// ZDR_FUZZ_STRICT=1 to stop on it anyway); the replay test expects it as a known issue,
    /// and fails once the bug is fixed, as a reminder to drop the tag.
    public let knownIssue: String?
    public init(_ description: String, knownIssue: String? = nil) {
        self.description = description
        self.knownIssue = knownIssue
    }
}

/// One fuzz entry: takes arbitrary bytes; returns normally when the code under test behaved
/// (including rejecting the input with a typed error), throws when a property broke.
public typealias FuzzEntry = @Sendable ([UInt8]) throws(FuzzPropertyViolation) -> Void

/// Every entry by its fuzz target's name (the folder name under Fuzz/Corpus and Fuzz/FailCases).
public let fuzzEntries: [String: FuzzEntry] = [
    "FuzzPolicyJSON": fuzzPolicyJSON,
    "FuzzIdentifiers": fuzzIdentifiers,
    "FuzzLedgerRecord": fuzzLedgerRecord,
    "FuzzLedgerFile": fuzzLedgerFile,
    "FuzzSignedNote": fuzzSignedNote,
    "FuzzReceiptBundle": fuzzReceiptBundle,
    "FuzzMerkleProofs": fuzzMerkleProofs,
    "FuzzSealedChunk": fuzzSealedChunk,
    "FuzzCLIArguments": fuzzCLIArguments,
    "FuzzContentJSON": fuzzContentJSON,
]

/// Throws `FuzzPropertyViolation(message)` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzPropertyViolation) {
    if !condition { throw FuzzPropertyViolation(message()) }
}
