// The host's identity as the ledger records it (issue 15): hashes only, computed once at start-up.

import VaultSystem

extension SoftwareIdentityRecord {
    /// The running process's identity: `/proc/self/exe` hashed (read whole, once, at start-up),
    /// and the policy document's and configuration's bytes hashed.
    ///
    /// - Throws: ``LedgerError/io(_:errno:)`` when the executable cannot be read.
    public static func current(policyDocument: [UInt8], configuration: [UInt8], version: SoftwareVersion) throws(LedgerError) -> SoftwareIdentityRecord {
        let executable: [UInt8]
        do throws(Errno) { executable = try FileSystem.live.readFile("/proc/self/exe", limit: 4 << 30) } catch {
            throw .io(.read, errno: error.rawValue)
        }
        return SoftwareIdentityRecord(
            executableSHA256: SHA256.hash(executable).bytes, policySHA256: SHA256.hash(policyDocument).bytes,
            configurationSHA256: SHA256.hash(configuration).bytes, version: version)
    }
}

/// How many discard receipts each recorded identity produced: the identity in force at a
/// receipt is the last software-identity record before it.
public struct IdentityTally: Sendable, Hashable {
    /// Receipts per executable hash (the identity in force when each was recorded).
    public var receiptsByExecutable: [[UInt8]: UInt64] = [:]
    /// Receipts recorded before any software-identity record.
    public var receiptsWithoutIdentity: UInt64 = 0
    /// The distinct identities recorded, in the order first seen.
    public var identities: [SoftwareIdentityRecord] = []

    /// Receipts produced under an executable other than `executableSHA256`, or under none.
    public func receiptsNotProduced(by executableSHA256: [UInt8]) -> UInt64 {
        receiptsWithoutIdentity + receiptsByExecutable.filter { $0.key != executableSHA256 }.values.reduce(0, +)
    }
}

extension LedgerVerifier {
    /// Which recorded identity each discard receipt was produced under, reading the file
    /// through a window (call ``verify(path:verifierKey:)-(_,VerifierKey)`` first: this checks frames and
    /// encodings, not signatures).
    public static func identityTally(path: String) throws(LedgerError) -> IdentityTally {
        var tally = IdentityTally()
        var current: SoftwareIdentityRecord?
        try forEachEntry(path: path) { (entry) throws(LedgerError) in
            switch entry.record.body {
            case .softwareIdentity(let identity):
                current = identity
                if !tally.identities.contains(identity) { tally.identities.append(identity) }
            case .discardReceipt:
                if let current {
                    tally.receiptsByExecutable[current.executableSHA256, default: 0] += 1
                } else {
                    tally.receiptsWithoutIdentity += 1
                }
            default:
                break
            }
        }
        return tally
    }
}
