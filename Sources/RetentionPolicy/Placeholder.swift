enum RetentionPolicyPlaceholder {}
