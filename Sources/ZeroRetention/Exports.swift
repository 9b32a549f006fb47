// What a server needs, behind one `import ZeroRetention`: the vocabulary, the vault, the policy,
// and of the ledger what a host opens, appends to, checkpoints and serves receipts from. The
// ledger's verification API (LedgerVerifier, MerkleProofs, VerifiedReceipt, the key-rotation and
// checkpoint records) is an auditor's: import RetentionLedger for it. ContentJSON comes whole: a
// server reads its request bodies with it. No lower module re-exports anything.

@_exported import RetentionVocabulary
@_exported import ContentVault
@_exported import RetentionPolicy
@_exported import ContentJSON

@_exported import class RetentionLedger.Ledger
@_exported import struct RetentionLedger.LedgerConfiguration
@_exported import struct RetentionLedger.SoftwareIdentityRecord
@_exported import struct RetentionLedger.SoftwareVersion
@_exported import struct RetentionLedger.KeyEvolution
@_exported import struct RetentionLedger.IdentifierRegistry
@_exported import class RetentionLedger.SigningKey
@_exported import struct RetentionLedger.VerifierKey
@_exported import struct RetentionLedger.SignedCheckpoint
@_exported import struct RetentionLedger.ReceiptBundle
@_exported import struct RetentionLedger.SoftwareIdentityProof
@_exported import class RetentionLedger.WitnessFeed
@_exported import struct RetentionLedger.WitnessEndpoint
@_exported import protocol RetentionLedger.WitnessTransport
@_exported import struct RetentionLedger.WitnessResponse
@_exported import struct RetentionLedger.WitnessFeedStatus
@_exported import enum RetentionLedger.WitnessFeedProblem
@_exported import enum RetentionLedger.WitnessRefusal
@_exported import struct RetentionLedger.CosignerKey
@_exported import struct RetentionLedger.WitnessHealthRecord
@_exported import enum RetentionLedger.WitnessOutcome
@_exported import enum RetentionLedger.LedgerError
@_exported import enum RetentionLedger.LedgerIOOperation
@_exported import enum RetentionLedger.IdentifierKind
@_exported import enum RetentionLedger.RecordFault
@_exported import enum RetentionLedger.BundleFault
@_exported import struct RetentionLedger.LedgerRecord
@_exported import enum RetentionLedger.LedgerRecordBody
@_exported import enum RetentionLedger.LedgerRecordKind
@_exported import struct RetentionLedger.RequestOpenedRecord
@_exported import struct RetentionLedger.PolicyDecisionRecord
@_exported import struct RetentionLedger.UpstreamEgressRecord
@_exported import struct RetentionLedger.UsageRecord
@_exported import struct RetentionLedger.ServiceHealthRecord
