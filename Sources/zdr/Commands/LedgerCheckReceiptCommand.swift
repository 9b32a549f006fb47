import ZeroRetention
import RetentionLedger

/// `zdr ledger check-receipt`: an auditor's offline check of one bundle.
enum LedgerCheckReceiptCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let request = OptionSpec.value("request", "ID", "Require the receipt to be for this request id.")
    static let origin = OptionSpec.value(
        "origin", "ORIGIN", "The log the checkpoint must be of (default: the verifier key's name).")
    static let witness = OptionSpec.repeatable(
        "witness", "VKEY",
        "A witness's cosigner key, name+keyid+base64 of type 0x04 (C2SP tlog-cosignature), or a file holding it.")
    static let quorum = OptionSpec.value(
        "quorum", "K", "Valid cosignatures required from distinct --witness keys (default: all of them).")
    static let expectBinary = OptionSpec.value(
        "expect-binary", "SHA256",
        "Require the bundle to name a software identity with this executable SHA-256 (64 hex digits).")
    static let json = OptionSpec.flag("json", "Print the result as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "check-receipt"],
        summary: "Verify a receipt bundle offline against a verifier key.",
        discussion: """
            Follows the key chain from the pinned key, checks the checkpoint signature, then the \
            inclusion proof of the receipt under the checkpoint's root. The checkpoint must be of \
            the log the key names (or --origin), and the bundle in its canonical form (no field \
            beyond those it proves). Pass --request to also require that the receipt is for the \
            request you expect.
            With --witness (repeatable), the checkpoint must also carry valid cosignatures \
            (C2SP tlog-cosignature) from at least --quorum distinct of those witnesses; \
            cosignature lines of other keys are ignored, and one of a given key that does not \
            verify makes the bundle invalid.
            A bundle that names the software identity in force (the last software-identity record \
            before the receipt) carries that record's own inclusion proof, checked under the same \
            checkpoint; --expect-binary requires it, with this executable hash. The identity is \
            the host's own report (Docs/ThreatModel.md).
            Exit status: 0 valid, 1 invalid or for another request, 2 failure, 64 usage error.
            """,
        options: [key, request, origin, witness, quorum, expectBinary, json],
        positionals: [PositionalSpec(name: "BUNDLE", help: "The receipt bundle file.", isOptional: false)]
    )

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let key = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let expected = try arguments.value(Self.request).map { text throws(CLIError) in
            try LedgerCommands.requestID(text, arguments: arguments)
        }
        let json = arguments.flag(Self.json)
        let expectedBinary = try arguments.value(Self.expectBinary).map { text throws(CLIError) -> [UInt8] in
            guard text.utf8.count == 64, let bytes = LedgerCommands.hexDecode(text) else {
                throw arguments.usage("--expect-binary takes a SHA-256 as 64 hex digits")
            }
            return bytes
        }
        let witnesses = try arguments.values(Self.witness).map { text throws(CLIError) in try LedgerCommands.cosignerKey(text) }
        let distinct = witnesses.reduce(into: [CosignerKey]()) { if !$0.contains($1) { $0.append($1) } }
        let quorum: Int
        if let text = arguments.value(Self.quorum) {
            guard !witnesses.isEmpty else { throw arguments.usage("--quorum needs at least one --witness") }
            quorum = try arguments.parseInteger(text, option: Self.quorum, in: 1...max(1, distinct.count))
        } else {
            quorum = distinct.count
        }
        guard case .success(let bytes) = ProcFS.readBytes(path, limit: 512 * 1024) else {
            throw .failure("cannot read bundle \(path)")
        }
        let verified: VerifiedReceipt
        do {
            verified = try ReceiptBundle(json: String(decoding: bytes, as: UTF8.self)).verify(
                verifierKey: VerifierKey(key), origin: arguments.value(Self.origin), witnesses: distinct, quorum: quorum)
        } catch {
            guard LedgerCommands.isVerificationFailure(error) else { throw LedgerCommands.cliError(error, path: path) }
            if json {
                console.out(JSON.object([("bundle", .string(path)), ("valid", .bool(false)),
                                         ("error", LedgerCommands.errorJSON(error))]).rendered())
            } else {
                console.out("receipt \(path): " + console.paint("INVALID", .red))
                console.out("  \(error)")
            }
            return .finding
        }
        let receipt = verified.receipt
        let requestMatches = expected.map { $0 == receipt.requestID } ?? true
        let identity = verified.softwareIdentity
        let binaryMatches = expectedBinary.map { $0 == identity?.identity.executableSHA256 } ?? true
        let matches = requestMatches && binaryMatches
        if json {
            console.out(JSON.object([
                ("bundle", .string(path)),
                ("valid", .bool(matches)),
                ("requestID", .string(receipt.requestID.description)),
                ("expectedRequestMatches", expected == nil ? .null : .bool(requestMatches)),
                ("reason", .string(LedgerCommands.name(receipt.reason))),
                ("discardedAt", .string(LedgerCommands.isoTime(receipt.discardedAt))),
                ("backend", .string(LedgerCommands.name(receipt.backend))),
                ("totalBytesHeld", .uint(receipt.totalBytesHeld)),
                ("bytesVerifiedZero", .uint(receipt.bytesVerifiedZero)),
                ("slotsWiped", .uint(receipt.slotsWiped)),
                ("keyDestroyed", .bool(receipt.keyDestroyed)),
                ("leafIndex", .uint(verified.leafIndex)),
                ("checkpointTreeSize", .uint(verified.checkpoint.treeSize)),
                ("checkpointOrigin", .string(verified.checkpoint.origin)),
                ("keyEpoch", .int(Int(verified.keyEpoch))),
                ("witnessQuorum", .int(Int64(quorum))),
                ("cosigners", .array(verified.cosigners.map { .string($0.name) })),
                ("softwareIdentity", identity.map { found in
                    .object([
                        ("leafIndex", .uint(found.leafIndex)),
                        ("executableSHA256", .string(LedgerCommands.hexBytes(found.identity.executableSHA256))),
                        ("policySHA256", .string(LedgerCommands.hexBytes(found.identity.policySHA256))),
                        ("configurationSHA256", .string(LedgerCommands.hexBytes(found.identity.configurationSHA256))),
                        ("version", .string(found.identity.version.description)),
                    ])
                } ?? .null),
                ("expectedBinaryMatches", expectedBinary == nil ? .null : .bool(binaryMatches)),
            ]).rendered())
        } else {
            if matches {
                console.out("receipt \(path): " + console.paint("valid", .green))
            } else if !requestMatches {
                console.out("receipt \(path): " + console.paint("valid signature, but for request \(receipt.requestID), not \(expected!)", .red))
            } else if identity == nil {
                console.out("receipt \(path): " + console.paint("valid signature, but the bundle names no software identity", .red))
            } else {
                console.out("receipt \(path): " + console.paint("valid signature, but produced under another executable", .red))
            }
            console.out("  request \(receipt.requestID): \(LedgerCommands.summary(.discardReceipt(receipt)))")
            console.out("  discarded \(LedgerCommands.isoTime(receipt.discardedAt)), leaf \(verified.leafIndex) under checkpoint \(verified.checkpoint.origin) size \(verified.checkpoint.treeSize), key epoch \(verified.keyEpoch)")
            if let identity {
                console.out("  produced under \(LedgerCommands.summary(.softwareIdentity(identity.identity))) (leaf \(identity.leafIndex))")
            }
            if !distinct.isEmpty {
                console.out("  cosigned by \(verified.cosigners.count) of \(distinct.count) pinned witnesses (quorum \(quorum)): \(verified.cosigners.map(\.name).joined(separator: ", "))")
            }
        }
        return matches ? .ok : .finding
    }
}
