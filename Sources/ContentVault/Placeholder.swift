enum ContentVaultPlaceholder {}
