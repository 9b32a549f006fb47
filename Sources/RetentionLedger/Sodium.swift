internal import CVaultSodium

/// Calls `sodium_init()` once per process; libsodium makes repeated calls cheap and thread-safe,
/// and the static `let` makes the first one happen exactly once.
private let sodiumReady: Bool = sodium_init() >= 0

@inline(__always)
internal func ledgerSodiumInit() {
    precondition(sodiumReady, "libsodium failed to initialize")
}
