enum RetentionLedgerPlaceholder {}
