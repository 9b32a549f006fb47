import Foundation
import RetentionVocabulary
import Testing
@testable import ContentVault

/// An error that quotes the content it failed on, as a decoder's or parser's would.
private struct QuotingError: Error, CustomStringConvertible, CustomDebugStringConvertible, LocalizedError {
    let quoted: String
    var description: String { "unexpected token in \(quoted)" }
    var debugDescription: String { description }
    var errorDescription: String? { description }
}

private let canary = "ZDR-CANARY-7f3a9c-closure-error"

/// Every access method with a closure, each throwing `error` from inside it.
private var accessMethods: [(String, (RequestScope, ThrownErrorHandling?, any Error) throws -> Void)] { [
    ("withPlaintext", { scope, handling, error in
        if let handling {
            try scope.withPlaintext(of: .textInput, thrownErrors: handling) { _ in throw error }
        } else {
            try scope.withPlaintext(of: .textInput) { _ in throw error }
        }
    }),
    ("withUnsafePlaintext", { scope, handling, error in
        if let handling {
            try scope.withUnsafePlaintext(of: .textInput, thrownErrors: handling) { _ in throw error }
        } else {
            try scope.withUnsafePlaintext(of: .textInput) { _ in throw error }
        }
    }),
    ("withUnsafePlaintext (empty slot)", { scope, handling, error in
        if let handling {
            try scope.withUnsafePlaintext(of: .completion, thrownErrors: handling) { _ in throw error }
        } else {
            try scope.withUnsafePlaintext(of: .completion) { _ in throw error }
        }
    }),
    ("forEachChunk", { scope, handling, error in
        if let handling {
            try scope.forEachChunk(of: .textInput, thrownErrors: handling) { _, _ in throw error }
        } else {
            try scope.forEachChunk(of: .textInput) { _, _ in throw error }
        }
    }),
    ("write", { scope, handling, error in
        if let handling {
            try scope.write(to: .completion, byteCount: 64, thrownErrors: handling) { _ in throw error }
        } else {
            try scope.write(to: .completion, byteCount: 64) { _ in throw error }
        }
    }),
    ("writeUnsafe", { scope, handling, error in
        if let handling {
            try scope.writeUnsafe(to: .completion, byteCount: 64, thrownErrors: handling) { _ in throw error }
        } else {
            try scope.writeUnsafe(to: .completion, byteCount: 64) { _ in throw error }
        }
    }),
] }

@Suite("Errors thrown inside access closures are withheld by default (they may quote content)")
struct ClosureErrorTests {
    /// Runs `method` on a scope holding the canary, throwing a `QuotingError` of it; returns what
    /// reached the caller.
    private func caught(_ method: (RequestScope, ThrownErrorHandling?, any Error) throws -> Void,
                        _ handling: ThrownErrorHandling?) throws -> any Error {
        let vault = try makeVault()
        let scope = try vault.openScope()
        defer { scope.discard(reason: .completed) }
        try scope.append(Array(canary.utf8), to: .textInput)
        do {
            try method(scope, handling, QuotingError(quoted: canary))
        } catch {
            return error
        }
        Issue.record("the closure's error did not reach the caller")
        return CancellationError()
    }

    @Test("by default the caller sees only the error's type", arguments: accessMethods.indices)
    func redactedByDefault(method: Int) throws {
        let (name, body) = accessMethods[method]
        let error = try caught(body, nil)
        let texts = [String(describing: error), String(reflecting: error), error.localizedDescription,
                     "\(error)", String(describing: Mirror(reflecting: error).children.map(\.value))]
        for text in texts {
            #expect(!text.contains(canary), "\(name): the canary reached the caller: \(text)")
        }
        let withheld = try #require(error as? AccessClosureError, "\(name): \(type(of: error))")
        #expect(withheld.errorType.hasSuffix("QuotingError"), "\(name): \(withheld.errorType)")
        #expect(try caught(body, .redacted) is AccessClosureError, "\(name): explicit .redacted")
    }

    @Test("passThrough is the explicit opt-in that keeps the original", arguments: accessMethods.indices)
    func passThroughOptIn(method: Int) throws {
        let (name, body) = accessMethods[method]
        let error = try caught(body, .passThrough)
        #expect((error as? QuotingError)?.quoted == canary, "\(name): \(type(of: error))")
    }

    @Test("content-free errors pass unchanged: a VaultError thrown from inside the closure")
    func vaultErrorsPass() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        defer { scope.discard(reason: .completed) }
        try scope.append(content(10), to: .textInput)
        #expect(throws: VaultError.slotFinished(slot: .audioInput)) {
            try scope.withPlaintext(of: .textInput) { _ in throw VaultError.slotFinished(slot: .audioInput) }
        }
        #expect(throws: CancellationError.self) {
            try scope.withPlaintext(of: .textInput) { _ in throw CancellationError() }
        }
    }
}
