// One typed error for the whole module. Messages are content-free by construction: they name
// indexes, offsets, kinds and errno values, never a field's value (an undeclared "identifier"
// could be content someone tried to smuggle in, so it is never echoed back).

/// Which registry an identifier was checked against.
public enum IdentifierKind: String, Sendable, Hashable, CaseIterable {
    case workspace, agent, model, provider
}

/// Why a stored record failed verification.
public enum RecordFault: String, Sendable, Hashable {
    /// The frame's length words disagree (length vs its complement) or are out of range.
    case frameHeaderInvalid
    /// The frame's CRC-32C does not match its bytes.
    case checksumMismatch
    /// The record bytes are not a canonical encoding of any record.
    case malformedEncoding
    /// A checkpoint's root hash does not match the records before it.
    case checkpointRootMismatch
    /// A checkpoint's tree size is not its own leaf index.
    case checkpointSizeMismatch
    /// A checkpoint's signature does not verify under the current key.
    case checkpointSignatureInvalid
    /// A key-rotation record is out of sequence or not signed by the previous key.
    case keyRotationInvalid
    /// The header says sizes are bucketed, but this record holds an exact (non-bucket) size.
    case unbucketedSize
}

/// Which file operation failed.
public enum LedgerIOOperation: String, Sendable, Hashable {
    case open, read, write, sync, truncate, stat, rename, close
}

/// Why a receipt bundle was refused.
public enum BundleFault: String, Sendable, Hashable {
    case malformedJSON, malformedRecord, notADiscardReceipt, malformedProof, malformedCheckpoint
    case checkpointSignatureInvalid, keyChainInvalid, inclusionProofInvalid, leafOutsideTree
    /// The checkpoint's origin is not the log the verifier key (or `--origin`) names.
    case originMismatch
    /// Not the canonical form: an unknown or repeated key, keys out of order, extra whitespace,
    /// or a checkpoint note with lines beyond the checkpoint, its signature and cosignature
    /// lines. A bundle carries no field a writer could fill with free text (but the key names
    /// of cosignature lines: Docs/LedgerFormat.md §11).
    case notCanonical
    /// A signature line that should be a cosignature (key ID, u64 timestamp, 64-byte Ed25519
    /// signature, under a valid key name) is not.
    case malformedCosignature
    /// A cosignature names a pinned witness key (name and key ID) but does not verify.
    case cosignatureInvalid
    /// Fewer distinct pinned witness keys cosigned the checkpoint than the quorum requires.
    case witnessQuorumNotMet
    /// The `software_identity` member is not a kind-9 record before the receipt whose
    /// inclusion proof leads to the checkpoint's root.
    case softwareIdentityInvalid
}

/// Everything the ledger can refuse or fail at.
public enum LedgerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A system call failed.
    case io(LedgerIOOperation, errno: Int32)
    /// The file does not start with the ledger magic.
    case notALedger
    /// The file's format version is newer than this code understands.
    case unsupportedVersion(UInt16)
    /// The file header fails its checksum or is malformed.
    case headerCorrupt
    /// A record (0-based index, byte offset of its frame) failed verification.
    case invalidRecord(index: UInt64, offset: UInt64, fault: RecordFault)
    /// An identifier was not declared in the registry; the value is deliberately not reported.
    case undeclaredIdentifier(IdentifierKind)
    /// Checkpoint and key-rotation records are written by the ledger itself, never appended.
    case reservedRecordKind
    /// A record field is out of range (a count over its cap, a duplicate set element…).
    case invalidField(String)
    /// The ledger was closed.
    case closed
    /// No discard receipt is recorded for the request.
    case requestNotFound
    /// A key file is readable or writable by others than its owner (must be 0600).
    case keyFilePermissions
    /// A key file, signer key or verifier key is malformed.
    case malformedKey
    /// The signing key's name does not match the ledger's origin, or it is not the ledger's key.
    case signingKeyMismatch
    /// A receipt bundle or checkpoint failed verification.
    case bundleInvalid(BundleFault)
    /// A record or note exceeds a size limit.
    case tooLarge
    /// The ledger does not extend a checkpoint the caller trusted: it was rolled back or
    /// truncated (below the checkpoint, or at it, dropping the checkpoint record and everything
    /// after), or it forked (other records under the same key).
    case notConsistent(trustedSize: UInt64, currentSize: UInt64)

    public var description: String {
        switch self {
        case .io(let operation, let errno): return "ledger I/O failed: \(operation.rawValue) (errno \(errno))"
        case .notALedger: return "not a ledger file"
        case .unsupportedVersion(let version): return "unsupported ledger format version \(version)"
        case .headerCorrupt: return "ledger header is corrupt"
        case .invalidRecord(let index, let offset, let fault):
            return "ledger record \(index) at byte offset \(offset) is invalid: \(fault.rawValue)"
        case .undeclaredIdentifier(let kind): return "\(kind.rawValue) identifier is not declared in the registry"
        case .reservedRecordKind: return "checkpoint, key-rotation and software-identity records are written by the ledger only"
        case .invalidField(let field): return "record field out of range: \(field)"
        case .closed: return "ledger is closed"
        case .requestNotFound: return "no discard receipt recorded for the request"
        case .keyFilePermissions: return "key file must be a regular file with mode 0600"
        case .malformedKey: return "malformed key"
        case .signingKeyMismatch: return "signing key does not belong to this ledger"
        case .bundleInvalid(let fault): return "receipt bundle invalid: \(fault.rawValue)"
        case .tooLarge: return "record or note too large"
        case .notConsistent(let trusted, let current):
            return "the ledger (\(current) records) does not extend the trusted checkpoint of \(trusted) records: rolled back, truncated or forked"
        }
    }
}
