internal import CVaultSodium

/// `sodium_init()` exactly once per process; the static `let` initializer is thread-safe.
private let sodiumInitialized: Bool = sodium_init() >= 0

@inline(__always)
func sodiumReady() {
    // sodium_init only fails when the system has no usable randomness source; nothing in this
    // package can work then, and continuing would produce predictable keys.
    precondition(sodiumInitialized, "libsodium could not be initialized")
}
