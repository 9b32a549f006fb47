import VaultSystem
public import RetentionVocabulary
/// Which backend a pool should use.
public enum BackendPreference: Hashable, Sendable {
    /// `secretmem` when the kernel grants it, otherwise `locked`. Never `unprotected`.
    case automatic
    /// Only `secretmem`; fails with ``LockedMemoryError/secretMemoryUnavailable(errno:)`` otherwise.
    case secretmem
    /// Only `locked`.
    case locked
    /// The unprotected backend. Allowed only with `developmentOptIn: true`; announces itself on
    /// standard error and in every description.
    case unprotected(developmentOptIn: Bool)
}

/// How a pool's backend was chosen, for diagnostics and receipts.
public struct BackendSelection: Hashable, Sendable, CustomStringConvertible {
    /// The backend in use.
    public let backend: MemoryBackend
    /// When `automatic` fell back from `secretmem` to `locked`, the errno `memfd_secret` gave.
    public let secretmemRefusal: Int32?

    public var description: String {
        if let refusal = secretmemRefusal {
            return "\(backend) (secretmem refused: \(Errno(rawValue: refusal).name))"
        }
        return backend.description
    }
}
