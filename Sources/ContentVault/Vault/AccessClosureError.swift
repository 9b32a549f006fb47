/// What the access methods of ``RequestScope`` do with an error thrown by their closure.
///
/// Code that reads content throws errors that quote it (a `DecodingError` names the offending
/// value, a parser error prints the line), and such errors end up in logs and error trackers.
public enum ThrownErrorHandling: Hashable, Sendable {
    /// The default: the caller receives an ``AccessClosureError`` that names only the original
    /// error's type. Errors that are content-free by construction pass unchanged:
    /// ``VaultError``, ``LockedMemoryError``, `CancellationError` and ``AccessClosureError``.
    case redacted
    /// The original error reaches the caller unchanged. Opt in only when every error the closure
    /// can throw is known not to carry content.
    case passThrough
}

/// An error thrown inside an access closure, withheld because it may quote the content the
/// closure was reading (see ``ThrownErrorHandling/redacted``).
public struct AccessClosureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The thrown error's type, fully qualified (`Swift.DecodingError`): a name in code, never
    /// a value.
    public let errorType: String

    public init(errorType: String) {
        self.errorType = errorType
    }

    public var description: String {
        "an error of type \(errorType) was thrown inside an access closure (withheld: it may quote content)"
    }
}

extension ThrownErrorHandling {
    /// Runs `body`, converting what it throws as this handling says.
    @inline(__always)
    package func apply<Result>(_ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch {
            throw filter(error)
        }
    }

    package func filter(_ error: any Error) -> any Error {
        guard case .redacted = self else { return error }
        switch error {
        case is VaultError, is LockedMemoryError, is CancellationError, is AccessClosureError: return error
        default: return AccessClosureError(errorType: String(reflecting: type(of: error)))
        }
    }
}
