import RetentionPolicy
import RetentionVocabulary

/// Policy JSON loader: any bytes either load or throw `PolicyConfigurationError`; a policy that
/// loads must survive `jsonRepresentation` unchanged, and that representation is a fixed point.
public func fuzzPolicyJSON(_ input: [UInt8]) throws(FuzzPropertyViolation) {
    let policy: RetentionPolicy
    do { policy = try RetentionPolicy(json: input) } catch { return }
    let written = policy.jsonRepresentation
    let reloaded: RetentionPolicy
    do {
        reloaded = try RetentionPolicy(json: Array(written.utf8))
    } catch {
        throw FuzzPropertyViolation("jsonRepresentation of a loaded policy does not load: \(error)")
    }
    try require(reloaded == policy, "jsonRepresentation loads as a different policy")
    try require(reloaded.jsonRepresentation == written, "jsonRepresentation is not a fixed point")
}
