#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Foundation
import RetentionLedger

/// `zdr ledger witness-request`: asks each configured witness to cosign the ledger's newest
/// checkpoint (C2SP tlog-witness `add-checkpoint`) and stores the cosigned note.
enum LedgerWitnessRequestCommand: ZDRCommand {
    // Options, declared once: the spec lists them and run(_:console:) reads them by these keys.
    static let key = OptionSpec.required("key", "VKEY", LedgerCommands.keyHelp)
    static let witness = OptionSpec.repeatable(
        "witness", "VKEY=URL",
        "A witness: its cosigner key (type 0x04), '=', and its submission prefix (add-checkpoint is POSTed to URL/add-checkpoint).")
    static let quorum = OptionSpec.value(
        "quorum", "K", "Cosignatures needed for success (default: every witness).")
    static let out = OptionSpec.value(
        "out", "PATH", "Write the cosigned checkpoint note here (default: standard output).")
    static let timeout = OptionSpec.value("timeout", "SECONDS", "Per-request timeout (default 10).")
    static let json = OptionSpec.flag("json", "Print each witness's outcome as JSON.")

    static let spec = CommandSpec(
        path: ["ledger", "witness-request"],
        summary: "Get the ledger's newest checkpoint cosigned by witnesses (C2SP tlog-witness).",
        discussion: """
            Verifies the ledger, then POSTs add-checkpoint (old size, consistency proof, the \
            checkpoint) to each witness. A first request from old size 0 learns the size the \
            witness last cosigned from its 409 answer; the request is then sent again with the \
            consistency proof from that size. A witness holding a larger size than the ledger's \
            saw a checkpoint this ledger no longer extends (rolled back, or forked): reported, \
            never retried. The checkpoint with every valid cosignature appended is written to \
            --out; pass it to `zdr ledger prove --cosigned` so receipt bundles carry it.
            Exit status: 0 at least --quorum witnesses cosigned, 1 fewer (a witness refused, or \
            the ledger is invalid), 2 failure (no checkpoint, or the quorum missed only because \
            witnesses did not answer), 64 usage error.
            """,
        options: [key, witness, quorum, out, timeout, json],
        positionals: [PositionalSpec(name: "LEDGER", help: "The ledger file.", isOptional: false)]
    )

    /// One witness's answer, for the report.
    private struct Result {
        let witness: CosignerKey
        let url: String
        var cosignatures: [Cosignature] = []
        var problem: String?
        var witnessSize: UInt64?
    }

    static func run(_ arguments: ParsedArguments, console: Console) throws(CLIError) -> ExitCode {
        let path = arguments.positional(0)!
        let keyText = try LedgerCommands.verifierKey(try arguments.required(Self.key))
        let configured = try arguments.values(Self.witness).map { text throws(CLIError) -> (CosignerKey, String) in
            // A key name may hold '=' (a vkey's base64 of 33 bytes has no padding), so split
            // where the URL starts.
            guard let equals = [text.range(of: "=http://"), text.range(of: "=https://")].compactMap({ $0 }).map(\.lowerBound).min()
            else {
                throw arguments.usage("--witness expects VKEY=URL (a cosigner key, '=', an http or https submission prefix)")
            }
            return (try LedgerCommands.cosignerKey(String(text[..<equals])), String(text[text.index(after: equals)...]))
        }
        guard !configured.isEmpty else { throw arguments.usage("pass at least one --witness VKEY=URL") }
        let quorum = try arguments.integer(Self.quorum, default: configured.count, in: 1...configured.count)
        let timeout = try arguments.integer(Self.timeout, default: 10, in: 1...600)
        let json = arguments.flag(Self.json)

        let verifier: VerifierKey
        let latest: SignedCheckpoint?
        do {
            verifier = try VerifierKey(keyText)
            latest = try LedgerVerifier.latestCheckpoint(path: path, verifierKey: verifier)
        } catch {
            throw LedgerCommands.cliError(error, path: path)
        }
        guard let checkpoint = latest else { throw .failure("ledger \(path) has no signed checkpoint yet") }

        var results: [Result] = []
        var networkFailures = 0
        for (witness, url) in configured {
            var result = Result(witness: witness, url: url)
            var old: UInt64 = 0
            attempts: for _ in 0..<3 {
                let request: AddCheckpointRequest
                do {
                    let proof = try LedgerVerifier.consistencyProof(path: path, firstSize: old, secondSize: checkpoint.treeSize)
                    request = try AddCheckpointRequest(oldSize: old, consistencyProof: proof, checkpointNote: checkpoint.noteText)
                } catch {
                    result.problem = "cannot build the request from size \(old)"
                    break attempts
                }
                let endpoint = url.hasSuffix("/") ? url + "add-checkpoint" : url + "/add-checkpoint"
                guard let response = post(endpoint, body: request.body, timeout: timeout) else {
                    result.problem = "no HTTP response from \(endpoint)"
                    networkFailures += 1
                    break attempts
                }
                switch AddCheckpointOutcome.interpret(
                    status: response.status, contentType: response.contentType, body: response.body,
                    checkpoint: checkpoint, witness: witness) {
                case .cosigned(let cosignatures):
                    result.cosignatures = cosignatures
                    break attempts
                case .conflict(let size):
                    result.witnessSize = size
                    if size > checkpoint.treeSize {
                        result.problem = "the witness cosigned size \(size), above the ledger's \(checkpoint.treeSize): rolled back or forked"
                        break attempts
                    }
                    if size == old {
                        result.problem = "the witness answered 409 for the size it holds"
                        break attempts
                    }
                    old = size
                case .refused(let refusal):
                    result.problem = "refused: \(refusal)"
                    break attempts
                }
            }
            if result.cosignatures.isEmpty && result.problem == nil { result.problem = "no cosignature after retries" }
            results.append(result)
        }

        // The checkpoint as the ledger signed it, then every cosignature once.
        var note = checkpoint.noteText
        var seen = Set<Cosignature>()
        for cosignature in results.flatMap(\.cosignatures) where seen.insert(cosignature).inserted { note += cosignature.line }
        let cosigned = results.filter { !$0.cosignatures.isEmpty }.count
        if let out = arguments.value(Self.out) {
            try LedgerCommands.writeFile(note, to: out, mode: 0o644)
        } else if !json {
            console.out(String(note.dropLast()))
        }
        if json {
            console.out(JSON.object([
                ("ledger", .string(path)),
                ("treeSize", .uint(checkpoint.treeSize)),
                ("quorum", .int(quorum)),
                ("cosigned", .int(cosigned)),
                ("witnesses", .array(results.map { result in
                    .object([
                        ("name", .string(result.witness.name)),
                        ("url", .string(result.url)),
                        ("cosigned", .bool(!result.cosignatures.isEmpty)),
                        ("witnessTreeSize", result.witnessSize.map { .uint($0) } ?? .null),
                        ("problem", .optional(result.problem)),
                    ])
                })),
                ("note", arguments.value(Self.out) == nil ? .string(note) : .null),
            ]).rendered())
        } else {
            for result in results {
                let outcome = result.cosignatures.isEmpty ? console.paint(result.problem ?? "refused", .red) : console.paint("cosigned", .green)
                console.error("zdr: witness \(result.witness.name): \(outcome)")
            }
            console.error("zdr: checkpoint of size \(checkpoint.treeSize) cosigned by \(cosigned) of \(results.count) witnesses (quorum \(quorum))")
        }
        if cosigned >= quorum { return .ok }
        if networkFailures > 0 && networkFailures + cosigned == results.count { throw .failure("witnesses unreachable") }
        return .finding
    }

    /// A response: status, Content-Type, body.
    private struct HTTPResponse: Sendable {
        let status: Int
        let contentType: String?
        let body: [UInt8]
    }

    /// Filled by the URLSession callback, read after the semaphore.
    private final class Box: @unchecked Sendable {
        var response: HTTPResponse?
    }

    /// POSTs `body` to `url` and waits for the answer; nil when there is none (refused
    /// connection, timeout, not HTTP).
    private static func post(_ url: String, body: [UInt8], timeout: Int) -> HTTPResponse? {
        guard let target = URL(string: url) else { return nil }
        var request = URLRequest(url: target, timeoutInterval: TimeInterval(timeout))
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        request.setValue("text/plain; charset=utf-8", forHTTPHeaderField: "Content-Type")
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let session = URLSession(configuration: .ephemeral)
        let task = session.dataTask(with: request) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                box.response = HTTPResponse(
                    status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type"),
                    body: Array(data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        session.finishTasksAndInvalidate()
        return box.response
    }
}
