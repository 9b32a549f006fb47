@testable import RetentionLedger

// The set-up most ledger tests start from, written once (LedgerTests, GroupCommitTests).

/// A fresh directory, the path of a ledger file in it (not created yet) and a new signer. The
/// caller removes the directory: `defer { directory.cleanup() }`.
func freshLedger() throws -> (directory: TemporaryDirectory, path: String, signer: SigningKey) {
    let directory = TemporaryDirectory()
    return (directory, directory.file("ledger.zdr"), try SigningKey.generate(name: "ledger.example"))
}

/// Saves `signer` to a key file in `directory` and returns a configuration that evolves the key
/// into that file every `checkpointsPerEpoch` checkpoints, with `pinned`, the verifier key of the
/// first epoch (what an auditor pins), read before any evolution.
func evolvingKey(
    _ signer: SigningKey, in directory: TemporaryDirectory, checkpointsPerEpoch: UInt32, checkpointEvery: UInt64? = nil
) throws -> (keyPath: String, pinned: String, configuration: LedgerConfiguration) {
    let keyPath = directory.file("signer.key")
    try signer.save(to: keyPath)
    let configuration = quietConfiguration(
        checkpointEvery: checkpointEvery,
        keyEvolution: KeyEvolution(checkpointsPerEpoch: checkpointsPerEpoch, keyFilePath: keyPath))
    return (keyPath, signer.verifierKey, configuration)
}
