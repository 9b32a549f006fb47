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

extension SecureMemoryPool {
    /// The backend `preference` names, probed now (at pool start-up).
    static func selectBackend(
        _ preference: BackendPreference, system: SystemCalls
    ) throws(LockedMemoryError) -> BackendSelection {
        // Probe with a one-page region: the same calls a real region makes, so a refusal here is
        // the refusal a request would have met.
        func probe(_ backend: MemoryBackend) -> LockedMemoryError? {
            switch Region.map(minimumLength: systemPageSize, backend: backend, system: system) {
            case .success(let region):
                region.unmap(system: system)
                return nil
            case .failure(let error):
                return error
            }
        }
        switch preference {
        case .secretmem:
            if let error = probe(.secretmem) { throw error }
            return BackendSelection(backend: .secretmem, secretmemRefusal: nil)
        case .locked:
            if let error = probe(.locked) { throw error }
            return BackendSelection(backend: .locked, secretmemRefusal: nil)
        case .unprotected(let optIn):
            guard optIn else { throw .unprotectedBackendNotAllowed }
            if let error = probe(.unprotected) { throw error }
            return BackendSelection(backend: .unprotected, secretmemRefusal: nil)
        case .automatic:
            guard let secretError = probe(.secretmem) else {
                return BackendSelection(backend: .secretmem, secretmemRefusal: nil)
            }
            // Only a kernel refusal of secretmem itself may fall back, and the fallback is
            // recorded in the selection; a locked-memory failure is an error, never a downgrade.
            guard case .secretMemoryUnavailable(let refusal) = secretError else { throw secretError }
            if let error = probe(.locked) { throw error }
            return BackendSelection(backend: .locked, secretmemRefusal: refusal)
        }
    }
}
