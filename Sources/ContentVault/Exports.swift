// The metadata vocabulary (RequestID, DataClass, MemoryBackend, DiscardReason, …) is defined once,
// in RetentionLedger, so the vault, the policy and the ledger speak the same types. Re-exported so
// that `import ContentVault` is enough to use the vault's API.
@_exported import RetentionLedger
