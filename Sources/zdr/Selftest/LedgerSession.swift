#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import RetentionLedger
import VaultSystem

/// A ledger the selftest or a drill writes its records to: the file given with `--ledger`, or a
/// temporary one removed at the end; signed with `--signing-key`, or with a fresh key whose
/// verifier key is reported.
final class LedgerSession {
    let path: String
    let verifierKey: String
    /// The path, when the caller asked to keep the ledger.
    let keptPath: String?
    /// The open ledger, for ``AuditedVault``.
    let ledger: Ledger
    private let temporaryDirectory: String?

    /// Opens or creates the ledger.
    ///
    /// - Parameters:
    ///   - path: `--ledger`, or nil for a temporary ledger.
    ///   - signingKeyPath: `--signing-key`, or nil for a fresh key named `keyName`. An existing
    ///     ledger needs its own key.
    static func open(
        path: String?, signingKeyPath: String?, keyName: String, registry: IdentifierRegistry,
        arguments: ParsedArguments
    ) throws(CLIError) -> LedgerSession {
        if signingKeyPath == nil, let path, ProcFS.exists(path) {
            throw arguments.usage("\(path) exists: pass --signing-key with the key that signs it")
        }
        let signer: SigningKey
        do throws(LedgerError) {
            if let signingKeyPath {
                signer = try SigningKey(loadingFrom: signingKeyPath)
            } else {
                signer = try SigningKey.generate(name: keyName)
            }
        } catch {
            throw LedgerCommands.cliError(error, path: signingKeyPath ?? "the signing key")
        }
        var temporaryDirectory: String?
        let ledgerPath: String
        if let path {
            ledgerPath = path
        } else {
            let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            var template = Array((base + "/zdr-ledger-XXXXXX").utf8CString)
            guard mkdtemp(&template) != nil else {
                throw .failure("cannot create a temporary directory: \(Errno.current)")
            }
            let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            temporaryDirectory = directory
            ledgerPath = directory + "/zdr.ledger"
        }
        let ledger: Ledger
        do {
            // No background flusher or automatic checkpoints: the session flushes and signs
            // once, at the end, so the run is deterministic.
            ledger = try Ledger(
                path: ledgerPath, registry: registry, signer: signer,
                configuration: LedgerConfiguration(
                    flushIntervalNanoseconds: nil, checkpointEveryRecords: nil, checkpointIntervalNanoseconds: nil))
        } catch {
            if let temporaryDirectory { rmdir(temporaryDirectory) }
            throw LedgerCommands.cliError(error, path: ledgerPath)
        }
        return LedgerSession(
            path: ledgerPath, verifierKey: signer.verifierKey, keptPath: path, ledger: ledger,
            temporaryDirectory: temporaryDirectory)
    }

    private init(path: String, verifierKey: String, keptPath: String?, ledger: Ledger, temporaryDirectory: String?) {
        self.path = path
        self.verifierKey = verifierKey
        self.keptPath = keptPath
        self.ledger = ledger
        self.temporaryDirectory = temporaryDirectory
    }

    func append(_ record: LedgerRecord) throws(CLIError) {
        do {
            try ledger.append(record)
        } catch {
            throw .failure("the ledger refused a record: \(error)")
        }
    }

    /// Signs a checkpoint over everything appended, collects the receipt bundle of each of
    /// `requests` (JSON, as a customer would receive it), and closes the file.
    @discardableResult
    func finish(bundlesFor requests: [RequestID] = []) throws(CLIError) -> [(RequestID, Result<String, LedgerError>)] {
        do {
            _ = try ledger.checkpoint()
            let bundles = requests.map { request in
                (request, Result { () throws(LedgerError) in try ledger.receiptBundle(forRequest: request).json })
            }
            try ledger.close()
            return bundles
        } catch {
            throw LedgerCommands.cliError(error, path: path)
        }
    }

    /// Removes a temporary ledger (a kept one stays). Idempotent.
    func removeTemporary() {
        guard let temporaryDirectory else { return }
        unlink(path)
        rmdir(temporaryDirectory)
    }
}
