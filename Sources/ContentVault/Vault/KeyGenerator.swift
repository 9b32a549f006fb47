internal import CVaultSystem
import RetentionVocabulary

/// Random bytes for slot keys and request ids, from the fast-key-erasure generator in
/// `KeyGenerator.c`: its state is locked, excluded from core dumps and wiped on fork (a forked
/// child reseeds), and each refill erases the key that made it. A scope used to make one
/// `getrandom` syscall (~0.8 µs, 7–8 % of a 4 KiB request); one ChaCha20 refill now serves
/// about ten scopes.
enum KeyGenerator {
    /// Fills `buffer` (locked memory, for keys) with random bytes.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(VaultError) {
        guard let base = buffer.baseAddress else { return }
        guard cvault_random_bytes(base, buffer.count) == 0 else {
            throw .randomnessUnavailable(errno: cvault_errno())
        }
    }

    /// A fresh request id (not secret: 16 random bytes that name a request).
    static func requestID() throws(VaultError) -> RequestID {
        var words: (UInt64, UInt64) = (0, 0)
        let status = withUnsafeMutableBytes(of: &words) { cvault_random_bytes($0.baseAddress!, $0.count) }
        guard status == 0 else { throw .randomnessUnavailable(errno: cvault_errno()) }
        return RequestID(high: words.0, low: words.1)
    }

    /// Whether the generator keeps locked, wipe-on-fork state (`true`), or could not set it up
    /// and asks the kernel on every call (`false`, as safe and slower).
    static var isBuffered: Bool { cvault_random_mode() == 1 }
}
