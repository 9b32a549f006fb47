// C2SP tlog-witness `add-checkpoint`, as pure functions: the request body a log POSTs to
// `<submission prefix>/add-checkpoint`, and what the witness's answer means. No networking
// here: the CLI (or any HTTP client) sends the bytes. Docs/LedgerFormat.md §11.

/// The content type of a witness's 409 Conflict body (the size it last cosigned).
public let tlogSizeContentType = "text/x.tlog.size"

/// Most consistency proof lines a request may carry (the spec's limit).
public let maximumConsistencyProofLines = 63

/// Why an add-checkpoint request could not be built or parsed. Cases name the problem only.
public enum WitnessRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The old size is above the checkpoint's size.
    case oldSizeAboveCheckpoint
    /// A proof was given with an old size of zero (the spec requires it empty).
    case proofWithoutOldSize
    /// More than 63 proof lines, or a proof hash not 32 bytes.
    case malformedProof
    /// The body is not `old <size>`, proof lines, a blank line and a checkpoint note.
    case malformedBody
    /// The checkpoint note is not a checkpoint in a signed note.
    case malformedCheckpoint

    public var description: String {
        switch self {
        case .oldSizeAboveCheckpoint: return "add-checkpoint: the old size is above the checkpoint's size"
        case .proofWithoutOldSize: return "add-checkpoint: a consistency proof needs an old size above zero"
        case .malformedProof: return "add-checkpoint: malformed consistency proof"
        case .malformedBody: return "add-checkpoint: malformed request body"
        case .malformedCheckpoint: return "add-checkpoint: malformed checkpoint"
        }
    }
}

/// An add-checkpoint request: old size, consistency proof from it, the new signed checkpoint.
public struct AddCheckpointRequest: Sendable, Hashable {
    /// The size of the checkpoint the witness last cosigned for this log (0 if none).
    public let oldSize: UInt64
    /// RFC 6962 §2.1.2 consistency proof from `oldSize` to the checkpoint's size.
    public let consistencyProof: [[UInt8]]
    /// The checkpoint's signed note (it may carry several signatures).
    public let checkpointNote: String
    /// The checkpoint's tree size (parsed, not verified).
    public let checkpointSize: UInt64

    /// A request for `checkpointNote` from `oldSize` with `consistencyProof` (as
    /// ``LedgerVerifier/consistencyProof(path:firstSize:secondSize:)`` gives it). Checks the
    /// shape the spec requires; the signature is the witness's to check.
    public init(oldSize: UInt64, consistencyProof: [[UInt8]], checkpointNote: String) throws(WitnessRequestError) {
        let size: UInt64
        do { size = try SignedCheckpoint.parseUnverified(note: checkpointNote).treeSize } catch {
            throw .malformedCheckpoint
        }
        guard oldSize <= size else { throw .oldSizeAboveCheckpoint }
        guard consistencyProof.count <= maximumConsistencyProofLines, consistencyProof.allSatisfy({ $0.count == 32 }) else {
            throw .malformedProof
        }
        guard oldSize > 0 || consistencyProof.isEmpty else { throw .proofWithoutOldSize }
        self.oldSize = oldSize
        self.consistencyProof = consistencyProof
        self.checkpointNote = checkpointNote
        self.checkpointSize = size
    }

    /// The request body: `old <size>\n`, one base64 hash per line, an empty line, the note.
    public var body: [UInt8] {
        var text = "old \(oldSize)\n"
        for hash in consistencyProof { text += Base64.encode(hash) + "\n" }
        return Array((text + "\n" + checkpointNote).utf8)
    }

    /// Parses a request body (the witness side). The shape is checked as in
    /// ``init(oldSize:consistencyProof:checkpointNote:)``; nothing is verified.
    public init(body: [UInt8]) throws(WitnessRequestError) {
        guard body.count <= 64 * 1024 else { throw .malformedBody }
        // Header lines up to the first empty line; the rest is the checkpoint note.
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var noteStart: Int?
        var index = 0
        while index < body.count {
            if body[index] == 0x0A {
                if index == start { noteStart = index + 1; break }
                lines.append(body[start..<index])
                start = index + 1
            }
            index += 1
        }
        guard let noteStart, let first = lines.first, first.starts(with: Array("old ".utf8)),
              let oldSize = parseDecimal(first.dropFirst(4)), lines.count - 1 <= maximumConsistencyProofLines
        else { throw .malformedBody }
        var proof: [[UInt8]] = []
        for line in lines.dropFirst() {
            guard let hash = Base64.decode(String(decoding: line, as: UTF8.self)), hash.count == 32 else { throw .malformedProof }
            proof.append(hash)
        }
        guard let note = String(validating: body[noteStart...], as: UTF8.self) else { throw .malformedCheckpoint }
        try self.init(oldSize: oldSize, consistencyProof: proof, checkpointNote: note)
    }
}

/// Why a witness did not cosign, from its status code (C2SP tlog-witness).
public enum WitnessRefusal: Sendable, Hashable, CustomStringConvertible {
    /// 400: the request was malformed (for instance an old size above the checkpoint's).
    case badRequest
    /// 403: no signature on the checkpoint verified under a log key the witness trusts.
    case forbidden
    /// 404: the witness does not know the checkpoint's origin.
    case unknownLog
    /// 409 without a size: the witness holds another root hash at the same size (a fork).
    case conflictingRoot
    /// 422: the consistency proof did not verify.
    case invalidProof
    /// 200 without a valid cosignature from the witness key asked.
    case noValidCosignature
    /// A 409 whose body is not a size, or another malformed answer.
    case malformedResponse
    /// Any other status code.
    case unexpectedStatus(Int)

    public var description: String {
        switch self {
        case .badRequest: return "400 bad request"
        case .forbidden: return "403 checkpoint signature not trusted"
        case .unknownLog: return "404 unknown log"
        case .conflictingRoot: return "409 conflicting root hash at the same size"
        case .invalidProof: return "422 consistency proof does not verify"
        case .noValidCosignature: return "200 without a valid cosignature from the witness key"
        case .malformedResponse: return "malformed response"
        case .unexpectedStatus(let code): return "unexpected status \(code)"
        }
    }
}

/// What an add-checkpoint response means.
public enum AddCheckpointOutcome: Sendable, Hashable {
    /// 200: the cosignatures from the witness key that verified over the checkpoint.
    case cosigned([Cosignature])
    /// 409 with `text/x.tlog.size`: the witness's latest cosigned size differs from the old
    /// size sent. Retry from that size (or, if it is above the log's, the log rolled back).
    case conflict(witnessSize: UInt64)
    /// Any other answer.
    case refused(WitnessRefusal)

    /// Interprets a response to an add-checkpoint request for `checkpoint` sent to the witness
    /// `witness`: status code, `Content-Type` (nil if absent) and body. Cosignatures from other
    /// keys are ignored, as the spec requires; one from `witness` that does not verify makes
    /// the answer ``WitnessRefusal/noValidCosignature``.
    public static func interpret(
        status: Int, contentType: String?, body: [UInt8], checkpoint: SignedCheckpoint, witness: CosignerKey
    ) -> AddCheckpointOutcome {
        switch status {
        case 200:
            guard let text = String(validating: body, as: UTF8.self),
                  let lines = try? Cosignature.parseLines(text),
                  let noteBody = try? splitNote(checkpoint.noteText).body
            else { return .refused(.malformedResponse) }
            let mine = lines.filter { $0.name == witness.name && $0.keyID == witness.keyID }
            guard !mine.isEmpty, mine.allSatisfy({ witness.verifies($0, body: noteBody) }) else {
                return .refused(.noValidCosignature)
            }
            return .cosigned(mine)
        case 409:
            let type = contentType.map { $0.split(separator: ";").first.map { $0.trimmingSpaces } ?? "" }
            guard type == nil || type == tlogSizeContentType else { return .refused(.conflictingRoot) }
            guard body.last == 0x0A, let size = parseDecimal(body.dropLast()) else {
                return type == nil ? .refused(.conflictingRoot) : .refused(.malformedResponse)
            }
            return .conflict(witnessSize: size)
        case 400: return .refused(.badRequest)
        case 403: return .refused(.forbidden)
        case 404: return .refused(.unknownLog)
        case 422: return .refused(.invalidProof)
        default: return .refused(.unexpectedStatus(status))
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()).lowercased()
    }
}
