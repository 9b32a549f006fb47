// Feeds a ledger's checkpoints to its witnesses (C2SP tlog-witness) from a background queue:
// issue 15's witness client. The library still does no networking: the host passes a
// `WitnessTransport` that POSTs bytes (the CLI's is URLSession; tests call a witness in-process).
//
// Rules, each tested in WitnessFeedTests:
// - only a durable checkpoint is sent: a witness that cosigned a checkpoint the crash then lost
//   would later see the log's next checkpoint at that size as a fork;
// - appends never wait: the feed learns of checkpoints through `LedgerSink` (a copy of a few
//   fields, under the writer's lock) and does everything else on its own queue;
// - only the newest checkpoint is sent (the ledger seals every flush, witnesses need one);
// - a witness that does not answer or refuses is retried with exponential back-off; one that
//   holds a larger size than the log's (a rollback) is reported and not asked again until the
//   log passes that size; one that holds another root at the same size (a fork) is reported and
//   never asked again: every later proof would be checked against the other root;
// - a witness's outcome changing (first answer, a failure, another failure, recovery) appends a
//   content-free witness-health record (kind 10) to the ledger itself.

public import RetentionVocabulary
import Dispatch
import Glibc
import Synchronization
import VaultSystem

/// A witness the feed submits checkpoints to: its cosigner key and its submission prefix
/// (`add-checkpoint` is POSTed to `<submissionPrefix>/add-checkpoint`).
public struct WitnessEndpoint: Sendable, Hashable {
    public let key: CosignerKey
    public let submissionPrefix: String

    public init(key: CosignerKey, submissionPrefix: String) {
        self.key = key
        self.submissionPrefix = submissionPrefix
    }
}

/// A witness's HTTP answer: status code, `Content-Type` (nil if absent) and body.
public struct WitnessResponse: Sendable, Hashable {
    public let status: Int
    public let contentType: String?
    public let body: [UInt8]

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// POSTs an add-checkpoint body to a URL. Supplied by the host (the library does no networking);
/// called on the feed's queue, never under the ledger's lock. Throw when no answer came.
public protocol WitnessTransport: Sendable {
    func post(_ body: [UInt8], to url: String) throws -> WitnessResponse
}

/// Why the last submission to a witness did not end in a cosignature.
public enum WitnessFeedProblem: Sendable, Hashable, CustomStringConvertible {
    /// The transport threw: no answer (retried).
    case noAnswer
    /// The witness refused (retried, since a witness may be reconfigured). After a key
    /// rotation a witness that pins the log's first key answers ``WitnessRefusal/forbidden``.
    /// The exception is ``WitnessRefusal/conflictingRoot``: the witness cosigned another tree of
    /// the same size, a fork, and is not asked again by this feed.
    case refused(WitnessRefusal)
    /// The witness has cosigned a larger tree than the log now has: the log was rolled back or
    /// forked. Never retried for this checkpoint.
    case rollback(witnessSize: UInt64)
    /// The consistency proof from the witness's size could not be built.
    case proofUnavailable

    public var description: String {
        switch self {
        case .noAnswer: return "no answer"
        case .refused(let refusal): return "refused: \(refusal)"
        case .rollback(let size): return "the witness holds size \(size), above the log's: rollback or fork"
        case .proofUnavailable: return "no consistency proof from the witness's size"
        }
    }
}

/// One witness's state as the feed sees it.
public struct WitnessFeedStatus: Sendable, Hashable {
    public let witness: CosignerKey
    /// The largest tree size this witness cosigned through the feed (nil before the first).
    public internal(set) var cosignedSize: UInt64?
    /// The size the witness last said it holds (from a 409 answer, or its cosignature).
    public internal(set) var witnessSize: UInt64?
    /// Submissions that ended without a cosignature since the last that ended with one.
    public internal(set) var consecutiveFailures: Int = 0
    public internal(set) var submissions: UInt64 = 0
    public internal(set) var lastProblem: WitnessFeedProblem?
}

/// Sends each new durable checkpoint of a ledger to every configured witness and keeps the
/// cosigned note (the log's signature and every cosignature of that checkpoint) at
/// `cosignedCheckpointPath`, atomically replaced, for `zdr ledger prove --cosigned`.
///
/// Pass the feed in ``LedgerConfiguration/sinks``, open the ledger, then call
/// ``start(ledger:)``; ``stop()`` before closing the ledger. Appends never wait for a witness.
public final class WitnessFeed: LedgerSink, Sendable {
    private struct Pending: Sendable {
        var treeSize: UInt64
        var rootHash: [UInt8]
        var signature: [UInt8]
        /// The checkpoint record's own leaf index: durable once the ledger's durable size passes it.
        var leafIndex: UInt64
        var key: VerifierKey
    }

    private struct State {
        var key: VerifierKey
        var newest: Pending?
        var submittedSize: UInt64?
        var statuses: [WitnessFeedStatus]
        var retryAfter: UInt64 = 0
        var failureStreak = 0
        var ledger: Ledger?
        var timer: DispatchSourceTimer?
        /// Per witness, the outcome the last witness-health record stated (nil: none yet).
        var recordedOutcomes: [WitnessOutcome?]
    }

    private let witnesses: [WitnessEndpoint]
    private let transport: any WitnessTransport
    private let cosignedCheckpointPath: String?
    private let intervalNanoseconds: UInt64
    private let maximumBackoffNanoseconds: UInt64
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "zdr.ledger.witness-feed")

    /// A feed for the log whose epoch-0 verifier key is `logKey`.
    ///
    /// - Parameters:
    ///   - logKey: the log's verifier key (epoch 0); its name is the checkpoints' origin, and
    ///     later epochs' keys follow from the rotation records the feed sees.
    ///   - witnesses: the witnesses to ask, in the order ``statuses`` reports them.
    ///   - transport: what POSTs the requests (the host's HTTP client).
    ///   - cosignedCheckpointPath: where the cosigned note is kept; nil keeps it in memory
    ///     only (``cosignedCheckpoint``).
    ///   - intervalNanoseconds: how often the feed looks for a new checkpoint (default 1 s);
    ///     also the first retry delay.
    ///   - maximumBackoffNanoseconds: the longest retry delay (default 60 s); the delay doubles
    ///     after each failed round up to it.
    public init(
        logKey: VerifierKey, witnesses: [WitnessEndpoint], transport: any WitnessTransport, cosignedCheckpointPath: String? = nil,
        intervalNanoseconds: UInt64 = 1_000_000_000, maximumBackoffNanoseconds: UInt64 = 60_000_000_000
    ) {
        self.witnesses = witnesses
        self.transport = transport
        self.cosignedCheckpointPath = cosignedCheckpointPath
        self.intervalNanoseconds = max(1_000_000, intervalNanoseconds)
        self.maximumBackoffNanoseconds = max(self.intervalNanoseconds, maximumBackoffNanoseconds)
        state = Mutex(State(
            key: logKey, statuses: witnesses.map { WitnessFeedStatus(witness: $0.key) },
            recordedOutcomes: Array(repeating: nil, count: witnesses.count)))

        cosigned = Mutex(nil)
    }

    private let cosigned: Mutex<String?>

    /// The errno of the last failed write of `cosignedCheckpointPath` (nil after a success):
    /// the note is still kept in memory, and the next cosigned checkpoint writes it again.
    public var storeError: Int32? { storeFailure.withLock { $0 } }
    private let storeFailure = Mutex<Int32?>(nil)

    /// The newest cosigned note, as written to `cosignedCheckpointPath`.
    public var cosignedCheckpoint: String? { cosigned.withLock { $0 } }

    /// The receipt bundle for `request` under the newest checkpoint the witnesses cosigned,
    /// carrying their cosignatures: what `zdr ledger check-receipt --witness … --quorum K`
    /// accepts. `nil` while no cosigned checkpoint covers the receipt yet (it was recorded after
    /// the newest one the witnesses saw: ask again after the next round).
    ///
    /// - Throws: ``LedgerError/requestNotFound`` when the ledger has no receipt for `request`,
    ///   and the ledger's other errors.
    public func cosignedReceiptBundle(forRequest request: RequestID, in ledger: Ledger) throws(LedgerError) -> ReceiptBundle? {
        guard ledger.hasReceipt(for: request) else { throw .requestNotFound }
        guard let note = cosignedCheckpoint else { return nil }
        let size = try SignedCheckpoint.parseUnverified(note: note).treeSize
        var bundle: ReceiptBundle
        do { bundle = try ledger.receiptBundle(forRequest: request, checkpointSize: size) } catch .requestNotFound { return nil }
        // The same checkpoint, with the cosignature lines after the log's signature.
        guard note.hasPrefix(bundle.checkpoint) else { throw .bundleInvalid(.malformedCheckpoint) }
        bundle.checkpoint = note
        return bundle
    }

    /// Each witness's state, in the order configured.
    public var statuses: [WitnessFeedStatus] { state.withLock { $0.statuses } }

    /// Starts looking for new checkpoints of `ledger` every interval.
    public func start(ledger: Ledger) {
        state.withLock {
            $0.ledger = ledger
            $0.timer?.cancel()
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .nanoseconds(Int(intervalNanoseconds)), repeating: .nanoseconds(Int(intervalNanoseconds)))
            timer.setEventHandler { [weak self] in self?.tick() }
            timer.resume()
            $0.timer = timer
        }
    }

    /// Stops the timer and waits for a round in progress to end.
    public func stop() {
        state.withLock {
            $0.timer?.cancel()
            $0.timer = nil
        }
        queue.sync {}
        state.withLock { $0.ledger = nil }
    }

    /// Runs one round now on the caller's thread, ignoring the back-off (tests; a host's
    /// shutdown), and returns the statuses after it.
    @discardableResult
    public func submitNow(ledger: Ledger) -> [WitnessFeedStatus] {
        queue.sync { round(ledger: ledger, now: UInt64.max) }
        return statuses
    }

    // MARK: - LedgerSink (under the writer's lock: copy and return)

    /// Checkpoints to send, and rotations to learn the key that signs the later ones.
    public var recordKinds: Set<LedgerRecordKind> { [.checkpoint, .keyRotation] }

    public func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8]) {
        switch record.body {
        case .checkpoint(let checkpoint):
            state.withLock {
                $0.newest = Pending(treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, signature: checkpoint.signature,
                                    leafIndex: leafIndex, key: $0.key)
            }
        case .keyRotation(let rotation):
            // Later checkpoints are signed by the evolved key.
            state.withLock { if let next = VerifierKey(name: $0.key.name, publicKey: rotation.newPublicKey) { $0.key = next } }
        default:
            break
        }
    }

    // MARK: - Rounds (on `queue`)

    private func tick() {
        guard let ledger = state.withLock({ $0.ledger }) else { return }
        round(ledger: ledger, now: monotonicNanoseconds())
    }

    private func round(ledger: Ledger, now: UInt64) {
        let (candidate, retryAfter) = state.withLock { ($0.newest, $0.retryAfter) }
        guard let pending = candidate, now >= retryAfter,
              state.withLock({ $0.submittedSize.map { $0 < pending.treeSize } ?? true || $0.failureStreak > 0 })
        else { return }
        // Only what a crash cannot take back: the checkpoint record itself must be durable.
        guard ledger.durableSize > pending.leafIndex else { return }
        let checkpoint = SignedCheckpoint(
            origin: pending.key.name, treeSize: pending.treeSize, rootHash: pending.rootHash,
            keyName: pending.key.name, keyID: pending.key.keyID, signature: pending.signature)
        var cosignatures: [Cosignature] = []
        var failed = false
        for (index, witness) in witnesses.enumerated() {
            let known = state.withLock { $0.statuses[index] }
            if known.cosignedSize == pending.treeSize { continue }
            // A witness ahead of the log stays reported until the log passes its size.
            if case .rollback(let size)? = known.lastProblem, size > pending.treeSize { continue }
            // A witness holding another root at a size this log has is evidence of a fork. It
            // stays reported; asking again could only fail (422) and would hide the first answer.
            if known.lastProblem == .refused(.conflictingRoot) { continue }
            var status = known
            let answer = submit(checkpoint, to: witness, from: status.witnessSize ?? 0, ledger: ledger, status: &status)
            if case .some(let lines) = answer {
                cosignatures += lines
                status.cosignedSize = pending.treeSize
                status.witnessSize = pending.treeSize
                status.consecutiveFailures = 0
                status.lastProblem = nil
            } else {
                status.consecutiveFailures += 1
                failed = true
            }
            let final = status
            let outcome = Self.outcome(of: final.lastProblem)
            let changed = state.withLock { (state: inout State) -> Bool in
                state.statuses[index] = final
                guard state.recordedOutcomes[index] != outcome.kind else { return false }
                state.recordedOutcomes[index] = outcome.kind
                return true
            }
            if changed {
                // Fails only once the ledger is closed or has failed, which its own flush reports.
                _ = try? ledger.append(.witnessHealth(WitnessHealthRecord(
                    witnessKeyID: witnesses[index].key.keyID, checkpointSize: pending.treeSize, cosignedSize: final.cosignedSize ?? 0,
                    witnessSize: final.witnessSize ?? 0, consecutiveFailures: UInt32(clamping: final.consecutiveFailures),
                    outcome: outcome.kind, httpStatus: outcome.httpStatus)))
            }
        }
        if !cosignatures.isEmpty { keep(checkpoint, cosignatures) }
        state.withLock {
            $0.submittedSize = pending.treeSize
            if failed {
                $0.failureStreak += 1
                let delay = min(maximumBackoffNanoseconds, intervalNanoseconds << UInt64(min($0.failureStreak - 1, 20)))
                $0.retryAfter = now == .max ? 0 : now &+ delay
            } else {
                $0.failureStreak = 0
                $0.retryAfter = 0
            }
        }
    }

    /// The record's outcome for a status's last problem (nil: cosigned).
    private static func outcome(of problem: WitnessFeedProblem?) -> (kind: WitnessOutcome, httpStatus: UInt16) {
        switch problem {
        case nil: return (.cosigned, 0)
        case .noAnswer?: return (.noAnswer, 0)
        case .rollback?: return (.rollback, 0)
        case .proofUnavailable?: return (.proofUnavailable, 0)
        case .refused(let refusal)?:
            switch refusal {
            case .badRequest: return (.badRequest, 0)
            case .forbidden: return (.forbidden, 0)
            case .unknownLog: return (.unknownLog, 0)
            case .conflictingRoot: return (.conflictingRoot, 0)
            case .invalidProof: return (.invalidProof, 0)
            case .noValidCosignature: return (.noValidCosignature, 0)
            case .malformedResponse: return (.malformedResponse, 0)
            case .unexpectedStatus(let code): return (.unexpectedStatus, UInt16(clamping: code))
            }
        }
    }

    /// One witness: from the size it is believed to hold, then once more from the size a 409
    /// names. Returns the verified cosignatures, or nil with `status.lastProblem` set.
    private func submit(
        _ checkpoint: SignedCheckpoint, to witness: WitnessEndpoint, from believedSize: UInt64, ledger: Ledger,
        status: inout WitnessFeedStatus
    ) -> [Cosignature]? {
        var oldSize = min(believedSize, checkpoint.treeSize)
        for attempt in 0..<2 {
            guard let proof = try? (oldSize == 0 ? [] : ledger.consistencyProof(from: oldSize, to: checkpoint.treeSize)),
                  let request = try? AddCheckpointRequest(oldSize: oldSize, consistencyProof: proof, checkpointNote: checkpoint.noteText)
            else {
                status.lastProblem = .proofUnavailable
                return nil
            }
            status.submissions += 1
            let response: WitnessResponse
            do { response = try transport.post(request.body, to: witness.submissionPrefix + "/add-checkpoint") } catch {
                status.lastProblem = .noAnswer
                return nil
            }
            switch AddCheckpointOutcome.interpret(
                status: response.status, contentType: response.contentType, body: response.body, checkpoint: checkpoint, witness: witness.key)
            {
            case .cosigned(let lines):
                return lines
            case .conflict(let witnessSize):
                status.witnessSize = witnessSize
                if witnessSize > checkpoint.treeSize {
                    status.lastProblem = .rollback(witnessSize: witnessSize)
                    return nil
                }
                guard attempt == 0 else {
                    status.lastProblem = .refused(.malformedResponse)
                    return nil
                }
                oldSize = witnessSize
            case .refused(let refusal):
                status.lastProblem = .refused(refusal)
                return nil
            }
        }
        return nil
    }

    /// The note with the log's signature line then the cosignature lines, kept in memory and,
    /// when configured, written through a temporary file, fsync and rename.
    private func keep(_ checkpoint: SignedCheckpoint, _ cosignatures: [Cosignature]) {
        let note = checkpoint.noteText + cosignatures.map(\.line).joined()
        cosigned.withLock { $0 = note }
        guard let path = cosignedCheckpointPath else { return }
        let files = FileSystem.live
        let temporary = path + ".tmp-\(getpid())"
        do throws(Errno) {
            let fd = try files.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode: 0o644)
            defer { files.close(fd) }
            try files.writeAll(fd, Array(note.utf8))
            try files.fsync(fd)
            try files.rename(temporary, to: path)
            storeFailure.withLock { $0 = nil }
        } catch {
            unlink(temporary)
            storeFailure.withLock { $0 = error.rawValue }
        }
    }
}

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
