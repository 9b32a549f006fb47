// A small C2SP tlog-witness for tests, written from the spec's text (c2sp.org/tlog-witness,
// add-checkpoint) rather than from the library's request builder: it parses the request body
// itself and applies the spec's checks in its order. It uses only the public API of
// RetentionLedger (to check the log's signature, the consistency proof, and to cosign), so
// zdrTests compiles this same file (Tests/zdrTests/Support/TestWitness.swift is a link to it).

import Foundation
import RetentionLedger
import Synchronization

/// A witness that keeps, per origin, the latest size and root hash it cosigned. `handle(_:)`
/// is its `POST <prefix>/add-checkpoint` handler: request body in, status and body out.
final class TestWitness: Sendable {
    /// An HTTP response: status code, `Content-Type` and body.
    struct Response: Sendable, Equatable {
        let status: Int
        let contentType: String?
        let body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let cosigner: Cosigner
    /// Origin → the log keys trusted for it (a witness operator may add a rotated key).
    private let logs: Mutex<[String: [VerifierKey]]>
    /// Origin → (size, root) of the latest cosigned checkpoint. One lock around the whole check
    /// and update, as the spec requires (the check and the persist are atomic).
    private let state = Mutex<[String: LatestCheckpoint]>([:])
    private let now: @Sendable () -> UInt64

    struct LatestCheckpoint: Sendable, Equatable {
        let size: UInt64
        let root: [UInt8]
    }

    /// A witness named `name` (a fresh key) that trusts `logs` (each log's origin is its key's
    /// name). `now` gives the cosignature timestamp.
    init(name: String, logs: [VerifierKey], now: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }) throws {
        cosigner = Cosigner(key: try SigningKey.generate(name: name))
        self.logs = Mutex(Dictionary(grouping: logs, by: \.name))
        self.now = now
    }

    /// Trusts `key` as well, for its name's origin (what an operator does to follow a rotation).
    func trust(_ key: VerifierKey) { logs.withLock { $0[key.name, default: []].append(key) } }

    /// The witness's vkey (type 0x04).
    var verifierKey: CosignerKey { cosigner.verifierKey }

    /// What the witness last cosigned for `origin`.
    func latest(_ origin: String) -> LatestCheckpoint? { state.withLock { $0[origin] } }

    func handle(_ request: [UInt8]) -> Response {
        // "old <size>\n", zero or more base64 proof lines, an empty line, then the checkpoint.
        var header: [String] = []
        var cursor = request.startIndex
        var noteStart: Int?
        while let newline = request[cursor...].firstIndex(of: 0x0A) {
            if newline == cursor { noteStart = newline + 1; break }
            header.append(String(decoding: request[cursor..<newline], as: UTF8.self))
            cursor = newline + 1
        }
        guard let noteStart, let oldLine = header.first, oldLine.hasPrefix("old "),
              let oldSize = Self.decimal(String(oldLine.dropFirst(4))), header.count - 1 <= 63
        else { return Self.status(400) }
        var proof: [[UInt8]] = []
        for line in header.dropFirst() {
            guard let data = Data(base64Encoded: line), data.count == 32 else { return Self.status(400) }
            proof.append(Array(data))
        }
        let note = String(decoding: request[noteStart...], as: UTF8.self)
        guard let originLine = note.split(separator: "\n", omittingEmptySubsequences: false).first else { return Self.status(400) }
        // Unknown origin: 404. No signature by a trusted key: 403.
        guard let logKeys = logs.withLock({ $0[String(originLine)] }), let firstKey = logKeys.first else { return Self.status(404) }
        var opened: SignedCheckpoint?
        for logKey in logKeys where opened == nil {
            do {
                opened = try SignedCheckpoint.open(note: note, verifierKey: logKey)
            } catch .bundleInvalid(.checkpointSignatureInvalid) {
                continue
            } catch {
                return Self.status(400)
            }
        }
        guard let checkpoint = opened else { return Self.status(403) }
        guard checkpoint.origin == firstKey.name else { return Self.status(403) }
        // The old size must not exceed the checkpoint's: 400.
        guard oldSize <= checkpoint.treeSize else { return Self.status(400) }
        // The proof must be empty from size zero.
        guard oldSize > 0 || proof.isEmpty else { return Self.status(400) }
        return state.withLock { latest -> Response in
            let known = latest[checkpoint.origin]
            // The old size must be the size last cosigned (0 if none): else 409 with that size.
            guard oldSize == (known?.size ?? 0) else {
                return Response(status: 409, contentType: "text/x.tlog.size", body: Array("\(known?.size ?? 0)\n".utf8))
            }
            if let known {
                if oldSize == checkpoint.treeSize {
                    // Same size: the root hashes must be identical, else 409.
                    guard known.root == checkpoint.rootHash else { return Self.status(409) }
                } else {
                    guard MerkleProofs.verifyConsistency(
                        firstSize: known.size, secondSize: checkpoint.treeSize, firstRoot: known.root,
                        secondRoot: checkpoint.rootHash, proof: proof)
                    else { return Self.status(422) }
                }
            }
            guard let cosignature = try? cosigner.cosign(body: Self.noteText(note), timestamp: now()) else {
                return Self.status(500)
            }
            latest[checkpoint.origin] = LatestCheckpoint(size: checkpoint.treeSize, root: checkpoint.rootHash)
            return Response(status: 200, contentType: "text/plain; charset=utf-8", body: Array(cosignature.line.utf8))
        }
    }

    /// The note text: everything up to the last blank line, its final newline included.
    private static func noteText(_ note: String) -> [UInt8] {
        let bytes = Array(note.utf8)
        var index = bytes.count - 2
        while index > 0 && !(bytes[index] == 0x0A && bytes[index + 1] == 0x0A) { index -= 1 }
        return Array(bytes[0...index])
    }

    /// ASCII decimal without leading zeroes ("0" alone is zero).
    private static func decimal(_ text: String) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || !text.hasPrefix("0") else { return nil }
        return UInt64(text)
    }

    private static func status(_ code: Int) -> Response { Response(status: code, contentType: nil, body: []) }
}
