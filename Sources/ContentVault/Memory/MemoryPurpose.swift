/// What a pool buffer holds. Each purpose has its own size classes and so its own regions, each
/// between guard pages: a linear over- or under-read of a content or scratch buffer faults at
/// its region's guard page before it can reach a key or a buffer of the other purpose
/// (issue 12 §1: a ±2 KiB read around a plaintext span returned another request's key).
/// Buffers of one purpose still share regions across requests.
enum MemoryPurpose: Int, CaseIterable {
    /// Sealed chunks (ciphertext), and every buffer handed out through the public API.
    case content = 0
    /// Plaintext scratch: what the access closures see, wiped when they end.
    case scratch = 1
    /// Slot keys (32 bytes, the 64 B class): only keys are ever adjacent to a key.
    case key = 2
}
