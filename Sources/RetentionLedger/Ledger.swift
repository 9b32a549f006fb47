public import RetentionVocabulary
// The writer. Appends are cheap (encode, hash, buffer, O(1) amortized tree update, under one
// mutex). Durability is leader/follower group commit (GroupCommit.swift): `flush()` returns once
// every record appended before it was called is on disk, and one fdatasync serves every flush
// waiting for it. The background timer flushes through the same protocol and bounds how long a
// record can sit unsynced. I/O failure is sticky: after one, every call throws (fail closed).

import Dispatch
import Glibc
import Synchronization
import VaultSystem

/// An append-only, checkpointed, tamper-evident metadata ledger.
public final class Ledger: Sendable {
    private struct WriterState: Sendable {
        var fd: Int32
        /// The tree (the index's nodes below its base, memory above), receipts appended since
        /// the base (older ones are in the index's table), checkpoints and key chain.
        var replay: LedgerReplay<WriterTree>
        /// Frames appended but not yet handed to a flush.
        var pending: [UInt8] = []
        /// The previous batch's buffer, emptied, reused by the next flush (no reallocation).
        var spare: [UInt8] = []
        /// File offset where the next appended frame will land.
        var nextFrameOffset: Int
        /// Records (leaves) known to be on disk after fdatasync.
        var durableCount: UInt64
        /// File offset just past the last durable record.
        var durableOffset: Int = 0
        /// File offset just past the batch of the round in progress (one round at a time).
        var syncingEnd: Int = 0
        var checkpointsInEpoch: UInt32 = 0
        /// Host records since the last periodic checkpoint (the count trigger). Kept apart from
        /// the replay's count since any checkpoint, which every sealed flush resets.
        var recordsSincePeriodic: UInt64 = 0
        /// When the last periodic checkpoint was written (the time trigger).
        var lastPeriodicAt: Timestamp?
        /// Set when an evolved key must be saved once its rotation record is durable.
        var keySavePendingAt: UInt64?
        var failure: LedgerError?
        /// Appends are refused (set by `close()` before its last flush).
        var closed = false
        /// Set once `close()` has flushed and no round is running.
        var descriptorClosed = false
        /// Who leads the next write+fdatasync and who waits for it.
        var commit = GroupCommit()
        /// Test seam, see `interposeSync(_:)`.
        var syncInterposer: SyncInterposer?
        /// Frames replayed when the ledger was opened: all of them, or those from the index's
        /// checkpoint on (tests, Docs/Performance.md).
        var framesReplayedAtOpen: UInt64 = 0
        var openedFromIndex = false
    }

    /// The ledger's log origin (also the signing key's name).
    public let origin: String
    /// The ledger file's path (its index is `path + ".index"`).
    private let path: String
    private let header: LedgerHeader
    private let registry: IdentifierRegistry
    private let signer: SigningKey
    private let configuration: LedgerConfiguration
    private let sinks: SinkRoutes
    private let state: LedgerLock<WriterState>
    /// Runs the rounds that `flushAsync()` callers lead, so no cooperative thread blocks in
    /// fdatasync. It is serial, and at most one round runs at a time anyway.
    private let commitQueue = DispatchQueue(label: "zdr.ledger.commit")
    private let timer = LedgerLock<(any DispatchSourceTimer)?>(nil)
    /// Held while the index is written (the flusher's refresh, `close()`'s): one at a time.
    private let indexWriting = LedgerLock<Void>(())

    /// Opens (or creates) the ledger at `path`. A torn tail from an interrupted write is
    /// truncated; any other damage throws `invalidRecord` naming the first bad record. The
    /// signer's name becomes the origin of a new ledger and must match an existing one's.
    ///
    /// The writer holds an exclusive lock on the file while it is open. A lock that is busy is
    /// retried for up to one second (another thread's spawned child may hold it until its exec)
    /// before the open fails with ``LedgerError/io(_:errno:)`` (`.open`, `EWOULDBLOCK`).
    ///
    /// With ``LedgerConfiguration/maintainsIndex`` (the default), the ledger index beside the
    /// file (`path + ".index/"`, Docs/LedgerFormat.md §12) is used when it checks out against a
    /// signed checkpoint in the file: only the records from that checkpoint on are replayed,
    /// and the older tree nodes and receipt locations stay on disk, read when a proof or a
    /// lookup needs them. Otherwise (no index, or any doubt about it) the whole file is
    /// replayed, as without an index, and the index is rebuilt before this returns. The
    /// background flusher extends it every 2^20 durable records and `close()` to every record;
    /// it is a cache, never trusted for an answer.
    public init(
        path: String, registry: IdentifierRegistry, signer: SigningKey, configuration: LedgerConfiguration = LedgerConfiguration()
    ) throws(LedgerError) {
        self.origin = signer.name
        self.path = path
        self.registry = registry
        self.signer = signer
        self.configuration = configuration
        self.sinks = SinkRoutes(configuration.sinks)
        let files = configuration.fileSystem
        let fd: Int32
        do { fd = try files.open(path, O_RDWR | O_CREAT, mode: 0o600) } catch { throw .io(.open, errno: error.rawValue) }
        do throws(LedgerError) {
            try Self.lock(fd, files: files)
            let header = LedgerHeader(origin: signer.name, flags: configuration.bucketSizes ? .bucketedSizes : [])
            self.header = header
            let headerBytes = header.encoded
            var mapped = try MappedFile(fd: fd)
            let partialHeader = mapped.withBytes { (bytes: Span<UInt8>) -> Bool in
                bytes.count < headerBytes.count && bytes.indices.allSatisfy { bytes[$0] == headerBytes[$0] }
            }
            if partialHeader {
                // New file, or a creation interrupted before the header was complete.
                try writeAll(fd: fd, headerBytes, at: 0, files: files)
                do { try files.fsync(fd) } catch { throw .io(.sync, errno: error.rawValue) }
                syncParentDirectory(of: path)
                mapped = try MappedFile(fd: fd)
            }
            let indexed = configuration.maintainsIndex ? mapped.withBytes { (bytes) -> IndexedOpen? in
                openFromIndex(path: path, bytes: bytes, header: header, signerPublicKey: signer.publicKey,
                              countEpochCheckpoints: configuration.keyEvolution != nil)
            } : nil
            let replay: LedgerReplay<WriterTree>
            let validEnd: Int
            let tornTailBytes: Int
            if let indexed {
                (replay, validEnd, tornTailBytes) = (indexed.replay, indexed.validEnd, indexed.tornTailBytes)
            } else {
                let (scan, full) = try mapped.withBytes { (bytes) throws(LedgerError) in
                    try replayLedger(bytes, pinnedKey: nil, as: WriterTree.self)
                }
                guard scan.header == header else {
                    throw scan.header.origin != header.origin ? .signingKeyMismatch : .invalidField("configuration.bucketSizes")
                }
                (replay, validEnd, tornTailBytes) = (full, scan.validEnd, scan.tornTailBytes)
            }
            if tornTailBytes > 0 {
                do { try files.truncate(fd, to: validEnd) } catch { throw .io(.truncate, errno: error.rawValue) }
                do { try files.fsync(fd) } catch { throw .io(.sync, errno: error.rawValue) }
            }
            var writer = WriterState(fd: fd, replay: replay, nextFrameOffset: validEnd, durableCount: replay.tree.size)
            writer.durableOffset = validEnd
            writer.openedFromIndex = indexed != nil
            writer.framesReplayedAtOpen = indexed?.framesReplayed ?? replay.tree.size
            try Self.adoptSigner(signer, into: &writer, keyEvolution: configuration.keyEvolution)
            // Checkpoints already signed in the current epoch count towards the next rotation.
            // The file does not tell seals from periodic checkpoints, so all count: after a
            // reopen the key may evolve sooner than its cadence, never later. From an index,
            // those before its checkpoint were counted by a scan of the epoch's records.
            let earlier = indexed.map { replay.epoch == $0.baseEpoch ? $0.earlierCheckpointsInEpoch : 0 } ?? 0
            writer.checkpointsInEpoch = earlier + UInt32(replay.checkpoints.filter { $0.keyEpoch == replay.epoch }.count)
            // Likewise the periodic cadence resumes from the last checkpoint of either kind.
            writer.recordsSincePeriodic = replay.recordsSinceCheckpoint
            writer.lastPeriodicAt = replay.lastCheckpointAt
            if indexed == nil && configuration.maintainsIndex {
                // Any doubt about the index: rebuilt now from the full replay, so that memory
                // drops to the frontier and the next open is fast.
                Self.refreshIndex(path: path, header: header, writer: &writer)
            }
            state = LedgerLock(writer)
        } catch {
            files.close(fd)
            throw error
        }
        // Fully initialized now, so a failure here closes the file once, in deinit.
        try state.withLock { (writer: inout WriterState) throws(LedgerError) in try self.recordSoftwareIdentity(to: &writer) }
        startFlusher()
    }

    /// Matches the signer to the ledger's key chain: it must have signed the latest checkpoint,
    /// or (forward security) be an earlier key in the chain, which is then evolved forward.
    /// The writer's exclusive lock. A process spawning a child (fork, then exec) shares every
    /// open file description, and with it this lock, until the exec closes it (O_CLOEXEC): a
    /// lock held for that long is not another writer, so a busy lock is retried for up to one
    /// second before the open fails with EWOULDBLOCK (seen in CI: a reopen while another thread
    /// spawned a process).
    private static func lock(_ fd: Int32, files: FileSystem) throws(LedgerError) {
        var attempts = 0
        while true {
            do { try files.lockExclusively(fd); return } catch {
                guard error.rawValue == EWOULDBLOCK, attempts < 500 else { throw .io(.open, errno: error.rawValue) }
            }
            attempts += 1
            usleep(2_000)
        }
    }

    private static func adoptSigner(_ signer: SigningKey, into writer: inout WriterState, keyEvolution: KeyEvolution?) throws(LedgerError) {
        let replay = writer.replay
        guard let lastRotation = replay.rotations.last else {
            if let last = replay.checkpoints.last {
                let body = checkpointBody(origin: replay.origin, treeSize: last.treeSize, rootHash: last.rootHash)
                guard signer.verifier.isValidSignature(last.signature, of: body) else { throw .signingKeyMismatch }
            }
            writer.replay.epochKeys[0] = signer.publicKey
            return
        }
        let publicKey = signer.publicKey
        let startEpoch: UInt32 = replay.epochKeys.first { $0.value == publicKey }?.key ?? 0
        if startEpoch == 0 { writer.replay.epochKeys[0] = publicKey }
        signer.assumeEpoch(startEpoch)
        while signer.epoch < lastRotation.epoch {
            _ = try signer.evolve(treeSize: 0)
            guard replay.epochKeys[signer.epoch] == signer.publicKey else { throw .signingKeyMismatch }
        }
        guard signer.publicKey == lastRotation.newPublicKey else { throw .signingKeyMismatch }
        if startEpoch == 0 && replay.epochKeys[1] != nil {
            // The signer was the epoch-0 key: its rotation signature proves it.
            let first = replay.rotations[0]
            guard let record = try? LedgerRecord(canonicalBytes: first.recordBytes), case .keyRotation(let rotation) = record.body,
                  let original = VerifierKey(name: replay.origin, publicKey: publicKey),
                  original.isValidSignature(rotation.signature, of: keyRotationStatement(epoch: 1, newPublicKey: rotation.newPublicKey, treeSize: rotation.treeSize))
            else { throw .signingKeyMismatch }
        }
        if startEpoch != lastRotation.epoch, keyEvolution?.keyFilePath != nil {
            writer.keySavePendingAt = replay.tree.size
        }
    }

    /// Extends (or writes) the ledger index to every durable record, then drops from memory the
    /// tree nodes and receipts it now holds. Only when nothing is pending (open, close): the
    /// index never describes a record that is not durable in the ledger. Best effort: the index
    /// is a cache, so a failure leaves it absent (no manifest), costing the next open a full
    /// replay, and never fails the ledger.
    private static func refreshIndex(path: String, header: LedgerHeader, writer: inout WriterState) {
        let size = writer.replay.tree.size
        guard size > 0, writer.durableCount == size, writer.pending.isEmpty, writer.failure == nil else { return }
        if let base = writer.replay.tree.base, base.manifest.treeSize == size { return }
        let old = writer.replay.tree.base
        guard let firstLeaf = old.flatMap({ Hash32($0.manifest.firstLeafHash) }) ?? writer.replay.tree.memoryNode(level: 0, index: 0) else { return }
        let replay = writer.replay
        let contents = LedgerIndexContents(
            header: header, firstLeafHash: firstLeaf, treeSize: size, coveredBytes: UInt64(writer.nextFrameOffset),
            checkpoint: replay.lastCheckpoint.map { ($0.leafIndex, UInt64($0.offset)) },
            rotations: replay.rotations.map { (UInt64($0.offset), UInt32($0.recordBytes.count + frameOverhead)) },
            identities: replay.identities.map { ($0.leafIndex, UInt64($0.offset), UInt32($0.length)) })
        do throws(LedgerError) {
            let store = try writeLedgerIndex(ledger: path, old: old, tree: writer.replay.tree, receipts: &writer.replay.receipts, contents: contents)
            writer.replay.tree.rebase(onto: store, at: size)
            writer.replay.receipts.removeAll(before: size)
        } catch {
            // Whatever was written is not described by a manifest, so no reader uses it.
            unlink(LedgerIndexPaths(ledger: path).manifest)
        }
    }

    /// Frames replayed when the ledger was opened (all of them without a usable index).
    var framesReplayedAtOpen: UInt64 { state.withLock { $0.framesReplayedAtOpen } }

    /// Whether the ledger was opened from its index.
    var openedFromIndex: Bool { state.withLock { $0.openedFromIndex } }

    /// Records whose tree nodes are in the index rather than memory.
    var indexedBase: UInt64 { state.withLock { $0.replay.tree.baseSize } }

    deinit {
        timer.withLock { $0?.cancel() }
        state.withLock { writer in
            if !writer.descriptorClosed { configuration.fileSystem.close(writer.fd) }
        }
    }

    // MARK: - Appending

    /// Appends a record and returns its leaf index. The ledger stamps `recordedAt`, applies the
    /// configured coarsening, and refuses undeclared identifiers and reserved kinds. The record
    /// is durable once a later `flush()` returns (or the background flusher has run).
    @discardableResult
    public func append(_ record: LedgerRecord) throws(LedgerError) -> UInt64 {
        try registry.validate(record)
        try record.validateShape()
        var stamped = record
        stamped.recordedAt = configuration.clock()
        Coarsening.apply(to: &stamped, bucketSizes: configuration.bucketSizes,
                         timestampResolution: configuration.timestampResolutionNanoseconds)
        return try withFrame(of: stamped) { (frame: Span<UInt8>, leafHash: Hash32) throws(LedgerError) -> UInt64 in
            try state.withLock { (writer: inout WriterState) throws(LedgerError) -> UInt64 in
                try Self.checkWritable(writer)
                let index = self.appendLocked(stamped, frame: frame, leafHash: leafHash, to: &writer)
                writer.recordsSincePeriodic += 1
                if let every = configuration.checkpointEveryRecords, writer.recordsSincePeriodic >= every {
                    _ = try self.checkpointLocked(&writer)
                }
                return index
            }
        }
    }

    private static func checkWritable(_ writer: borrowing WriterState) throws(LedgerError) {
        if let failure = writer.failure { throw failure }
        if writer.closed { throw .closed }
    }

    /// Encodes `record` straight into a frame on the stack (length words, canonical bytes,
    /// CRC-32C) and hashes it, outside the writer lock; `body` copies the frame under the lock.
    private func withFrame<Result>(
        of record: LedgerRecord, _ body: (Span<UInt8>, Hash32) throws(LedgerError) -> Result
    ) throws(LedgerError) -> Result {
        var encoder = RecordEncoder(frameCapacity: encodingScratchLength)
        record.encode(into: &encoder)
        // Cannot happen for a record that passed `validateShape()` (all are far smaller).
        guard !encoder.overflowed else { throw .invalidField("record length") }
        encoder.sealFrame()
        let frame = encoder.storage.span.extracting(0..<(encoder.count + frameOverhead))
        return try body(frame, MerkleHashing.leaf(frame.extracting(8..<(frame.count - 4))))
    }

    /// Adds one framed record to the pending batch and to the tree and indexes.
    private func appendLocked(_ record: LedgerRecord, frame: Span<UInt8>, leafHash: Hash32, to writer: inout WriterState) -> UInt64 {
        let index = writer.replay.tree.size
        let offset = writer.nextFrameOffset
        writer.pending.append(copying: frame)
        writer.nextFrameOffset += frame.count
        let recordBytes = frame.extracting(8..<(frame.count - 4))
        // Cannot fail: sizes and kinds were checked before encoding.
        try? writer.replay.ingest(record, bytes: recordBytes, leafHash: leafHash, offset: offset, frameLength: frame.count)
        sinks.deliver(record, leafIndex: index, canonicalBytes: recordBytes)
        return index
    }

    /// The configured software identity, stamped now: at open and after each key rotation.
    private func recordSoftwareIdentity(to writer: inout WriterState) throws(LedgerError) {
        guard let identity = configuration.softwareIdentity else { return }
        let record = LedgerRecord(
            recordedAt: Coarsening.floor(configuration.clock(), resolution: configuration.timestampResolutionNanoseconds),
            .softwareIdentity(identity))
        try record.validateShape()
        try appendInternalLocked(record, to: &writer)
    }

    /// Appends an internal record (checkpoint, key rotation, software identity) under the writer lock.
    private func appendInternalLocked(_ record: LedgerRecord, to writer: inout WriterState) throws(LedgerError) {
        try withFrame(of: record) { (frame: Span<UInt8>, leafHash: Hash32) throws(LedgerError) in
            _ = self.appendLocked(record, frame: frame, leafHash: leafHash, to: &writer)
        }
    }

    // MARK: - Checkpoints

    /// Appends a signed checkpoint of every record so far and returns it (not yet durable: call
    /// `flush()` before publishing it).
    public func checkpoint() throws(LedgerError) -> SignedCheckpoint {
        try state.withLock { (writer: inout WriterState) throws(LedgerError) -> SignedCheckpoint in
            try Self.checkWritable(writer)
            return try self.checkpointLocked(&writer)
        }
    }

    /// Appends a checkpoint of every record so far. A `periodic` one (count, time, an explicit
    /// call) counts towards key evolution; the one that seals a flushed batch does not.
    private func checkpointLocked(_ writer: inout WriterState, periodic: Bool = true) throws(LedgerError) -> SignedCheckpoint {
        let size = writer.replay.tree.size
        let root = writer.replay.tree.currentRoot.bytes
        let signature = signer.sign(checkpointBody(origin: origin, treeSize: size, rootHash: root))
        let epoch = signer.epoch
        let record = LedgerRecord(
            recordedAt: Coarsening.floor(configuration.clock(), resolution: configuration.timestampResolutionNanoseconds),
            .checkpoint(CheckpointRecord(treeSize: size, rootHash: root, keyEpoch: epoch, signature: signature)))
        try appendInternalLocked(record, to: &writer)
        let signed = SignedCheckpoint(
            origin: origin, treeSize: size, rootHash: root, keyName: signer.name, keyID: signer.keyID, signature: signature)
        guard periodic else { return signed }
        writer.recordsSincePeriodic = 0
        writer.lastPeriodicAt = record.recordedAt
        writer.checkpointsInEpoch += 1
        if let evolution = configuration.keyEvolution, writer.checkpointsInEpoch >= evolution.checkpointsPerEpoch {
            let rotation = try signer.evolve(treeSize: writer.replay.tree.size)
            let rotationRecord = LedgerRecord(recordedAt: record.recordedAt, .keyRotation(rotation))
            try appendInternalLocked(rotationRecord, to: &writer)
            try recordSoftwareIdentity(to: &writer)
            writer.checkpointsInEpoch = 0
            if evolution.keyFilePath != nil { writer.keySavePendingAt = writer.replay.tree.size }
        }
        return signed
    }

    // MARK: - Durability

    /// What a synchronous flush does on arrival.
    private enum Arrival {
        case durable
        case lead
        case wait(FlushParker)
    }

    /// What an async flush does on arrival, decided under the writer lock.
    private enum AsyncArrival {
        case done(Result<Void, LedgerError>)
        case lead
        case queued
    }

    /// Returns once every record appended before the call is on disk (written and fdatasynced).
    ///
    /// Concurrent callers share syncs. One caller writes and syncs everything pending, and every
    /// caller covered by that sync returns with it. A call whose records are already durable
    /// returns without a syscall. This blocks the calling thread; from Swift concurrency, use
    /// ``flushAsync()``.
    ///
    /// - Throws: The I/O error that failed a write or sync. It is sticky: every later call throws
    ///   it too. Also the error from saving an evolved key (``KeyEvolution/keyFilePath``), which
    ///   the next flush retries.
    public func flush() throws(LedgerError) {
        let arrival = try state.withLock { (writer: inout WriterState) throws(LedgerError) -> Arrival in
            guard let target = try Self.flushTarget(writer) else { return .durable }
            if !writer.commit.roundInProgress {
                writer.commit.roundInProgress = true
                return .lead
            }
            let parker = FlushParker()
            writer.commit.wait(for: target, .thread(parker))
            return .wait(parker)
        }
        switch arrival {
        case .durable:
            return
        case .lead:
            try runRound().get()
        case .wait(let parker):
            switch parker.wait() {
            case .durable: return
            case .lead: try runRound().get()
            case .failed(let error): throw error
            }
        }
    }

    /// ``flush()`` for Swift concurrency. It suspends instead of blocking, and when it must lead
    /// the sync, the sync runs on the ledger's own commit queue, never on a cooperative thread.
    ///
    /// It cannot be cancelled: it returns when its records are durable or the flush has failed.
    /// (This is not an `async` overload of `flush()`, because existing synchronous calls inside
    /// async functions would then resolve to it and stop compiling without `await`.)
    ///
    /// - Throws: The same errors as ``flush()``.
    public func flushAsync() async throws(LedgerError) {
        let noted = try state.withLock { (writer: inout WriterState) throws(LedgerError) -> UInt64? in
            try Self.flushTarget(writer)
        }
        guard let target = noted else { return }
        let result = await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<Void, LedgerError>, Never>) in
            // Decided again: a round may have ended since the target was noted.
            let arrival = state.withLock { (writer: inout WriterState) -> AsyncArrival in
                if let failure = writer.failure { return .done(.failure(failure)) }
                if Self.isCovered(target, writer) { return .done(.success(())) }
                if !writer.commit.roundInProgress {
                    writer.commit.roundInProgress = true
                    return .lead
                }
                writer.commit.wait(for: target, .task(continuation))
                return .queued
            }
            switch arrival {
            case .done(let result): continuation.resume(returning: result)
            case .lead: leadOnCommitQueue(continuation)
            case .queued: break
            }
        }
        try result.get()
    }

    /// The target of a flush arriving now (the records appended so far), or `nil` if it has
    /// nothing to wait for.
    private static func flushTarget(_ writer: borrowing WriterState) throws(LedgerError) -> UInt64? {
        if let failure = writer.failure { throw failure }
        let target = writer.replay.tree.size
        return isCovered(target, writer) ? nil : target
    }

    /// Whether a flush with `target` has nothing left to wait for. Its records must be durable,
    /// and no evolved key whose rotation is durable may still wait to be saved: a flush saves
    /// it (the first flush after opening a ledger whose key evolved, or the next after a failed
    /// save).
    private static func isCovered(_ target: UInt64, _ writer: borrowing WriterState) -> Bool {
        guard writer.durableCount >= target else { return false }
        if let at = writer.keySavePendingAt, at <= writer.durableCount { return false }
        return true
    }

    /// Runs a round that a `flushAsync()` caller leads, on the commit queue, and resumes the caller.
    private func leadOnCommitQueue(_ continuation: UnsafeContinuation<Result<Void, LedgerError>, Never>) {
        commitQueue.async { continuation.resume(returning: self.runRound()) }
    }

    /// One round of group commit, run by its leader (whoever set `roundInProgress`). It writes
    /// and syncs everything pending, publishes the new durable count, and saves an evolved key
    /// whose rotation record is now durable. Then it hands the lead to the oldest waiter not
    /// covered and releases the waiters that are. Returns the leader's own result; the waiters
    /// it releases get the same one.
    private func runRound() -> Result<Void, LedgerError> {
        let files = configuration.fileSystem
        let (batch, offset, batchEnd, fd, interposer, signFailure) = state.withLock {
            (writer: inout WriterState) -> ([UInt8], Int, UInt64, Int32, SyncInterposer?, LedgerError?) in
            // Every record this round makes durable is signed by the time it returns: the batch
            // ends with a checkpoint of all of them (a key rotation after the last checkpoint
            // included, so that verify finds nothing after the seal).
            var signFailure: LedgerError?
            if configuration.signsEveryFlush, writer.failure == nil, writer.replay.recordsAfterLastCheckpoint > 0 {
                do throws(LedgerError) { _ = try self.checkpointLocked(&writer, periodic: false) } catch { signFailure = error }
            }
            let batch = writer.pending
            writer.pending = writer.spare
            writer.spare = []
            writer.syncingEnd = writer.nextFrameOffset
            return (batch, writer.nextFrameOffset - batch.count, writer.replay.tree.size, writer.fd, writer.syncInterposer,
                    signFailure)
        }
        var result: Result<Void, LedgerError> = signFailure.map { .failure($0) } ?? .success(())
        var synced = false
        // A round with an empty batch only saves a key: there is nothing to write or sync.
        if !batch.isEmpty, signFailure == nil {
            do throws(LedgerError) {
                try writeAll(fd: fd, batch, at: offset, files: files)
                // Counted as made even if it fails.
                synced = true
                try syncData(fd: fd, interposer: interposer, files: files)
            } catch {
                result = .failure(error)
            }
        }
        var emptied = batch
        emptied.removeAll(keepingCapacity: true)
        /// What the round does after publishing its sync.
        enum Published {
            case ended(RoundEnd)
            case saveKey(at: UInt64)
        }
        let published = state.withLock { [emptied, result, synced] (writer: inout WriterState) -> Published in
            if synced { writer.commit.syncCount += 1 }
            if writer.spare.capacity < emptied.capacity { writer.spare = emptied }
            if case .failure(let error) = result {
                writer.failure = error
                return .ended(writer.commit.endRound(durableCount: writer.durableCount, failed: true))
            }
            writer.durableCount = max(writer.durableCount, batchEnd)
            writer.durableOffset = max(writer.durableOffset, writer.syncingEnd)
            if let at = writer.keySavePendingAt, at <= writer.durableCount {
                writer.keySavePendingAt = nil
                return .saveKey(at: at)
            }
            return .ended(writer.commit.endRound(durableCount: writer.durableCount, failed: false))
        }
        let end: RoundEnd
        switch published {
        case .ended(let ended):
            end = ended
        case .saveKey(let keySaveAt):
            // The evolved key replaces the old one on disk only once its rotation record is
            // durable. Only a leader saves, so saves never overlap.
            if let path = configuration.keyEvolution?.keyFilePath {
                do throws(LedgerError) {
                    try signer.save(to: path, overwrite: true)
                } catch {
                    result = .failure(error)
                }
            }
            end = state.withLock { [result] (writer: inout WriterState) in
                // A failed save is not sticky: the next flush retries it.
                if case .failure = result, writer.keySavePendingAt == nil { writer.keySavePendingAt = keySaveAt }
                return writer.commit.endRound(durableCount: writer.durableCount, failed: false)
            }
        }
        // The next round starts first, so its sync overlaps the wake-ups below. (Waking the
        // covered waiters first lets more of them append into that round: 35-38 receipts per
        // sync instead of 24-29 at 64 writers, but no more receipts/s and a higher p50 wait
        // when syncs are slow. See Docs/Performance.md.)
        switch end.nextLeader {
        case .thread(let parker): parker.wake(.lead)
        case .task(let continuation): leadOnCommitQueue(continuation)
        case nil: break
        }
        for waiter in end.released { waiter.release(result) }
        return result
    }

    /// Records appended so far (including checkpoints and key rotations).
    public var size: UInt64 { state.withLock { $0.replay.tree.size } }

    /// Records known to be on disk.
    public var durableSize: UInt64 { state.withLock { $0.durableCount } }

    /// fdatasync calls that flushes have made since the ledger was opened. Together with
    /// ``durableSize``, it tells how many records each sync made durable, which is what group
    /// commit saves.
    public var syncCount: UInt64 { state.withLock { $0.commit.syncCount } }

    /// Flushes waiting for the round in progress.
    var waitingFlushCount: Int { state.withLock { $0.commit.waiters.count } }

    /// Test seam: `body` runs before each fdatasync a flush makes, outside the writer lock. A
    /// non-zero result is taken as that call's errno, and the real call is skipped. The seam is
    /// per ledger, so parallel tests do not interfere; `nil` (the default) makes only the real call.
    func interposeSync(_ body: SyncInterposer?) {
        state.withLock { $0.syncInterposer = body }
    }

    /// Flushes, stops the background flusher and closes the file. Appends made after the call
    /// starts throw ``LedgerError/closed``, even if it throws; calling it again retries.
    public func close() throws(LedgerError) {
        timer.withLock { timer in
            timer?.cancel()
            timer = nil
        }
        // Refuse appends before the last flush, so that none lands after it and is lost.
        state.withLock { $0.closed = true }
        try flush()
        // A background refresh of the index in progress finishes first.
        if configuration.maintainsIndex {
            indexWriting.withLock { _ in
                state.withLock { (writer: inout WriterState) in
                    if !writer.descriptorClosed { Self.refreshIndex(path: path, header: header, writer: &writer) }
                }
            }
        }
        // A round may still be saving a key (the records are all durable): close once it ends.
        while let parker = state.withLock({ (writer: inout WriterState) -> FlushParker? in
            if writer.commit.roundInProgress {
                let parker = FlushParker()
                writer.commit.wait(for: 0, .thread(parker))
                return parker
            }
            if !writer.descriptorClosed {
                configuration.fileSystem.close(writer.fd)
                writer.descriptorClosed = true
            }
            return nil
        }) {
            switch parker.wait() {
            case .durable: continue
            case .lead: try runRound().get()  // Not reached: target 0 is always covered.
            case .failed(let error): throw error
            }
        }
    }

    private func startFlusher() {
        guard let interval = configuration.flushIntervalNanoseconds, interval > 0 else { return }
        timer.withLock { slot in
            let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "zdr.ledger.flusher"))
            source.schedule(deadline: .now() + .nanoseconds(Int(interval)), repeating: .nanoseconds(Int(interval)))
            source.setEventHandler { [weak self] in self?.backgroundTick() }
            source.resume()
            slot = source
        }
    }

    /// Time-triggered periodic checkpoint, then flush, then indexing of new receipts. Errors become
    /// sticky in `flush` and surface on the next caller; the flusher itself has no one to report to.
    private func backgroundTick() {
        if let interval = configuration.checkpointIntervalNanoseconds {
            let now = configuration.clock()
            try? state.withLock { (writer: inout WriterState) throws(LedgerError) in
                // From the last periodic checkpoint: the seals of sealed flushes would otherwise
                // keep the interval from ever passing, and key evolution with it.
                guard writer.failure == nil, !writer.closed, writer.recordsSincePeriodic > 0 else { return }
                let last = writer.lastPeriodicAt?.nanosecondsSinceEpoch ?? 0
                if now.nanosecondsSinceEpoch &- last >= interval { _ = try self.checkpointLocked(&writer) }
            }
        }
        try? flush()
        // Keep the request-id index current off the append path, 1,024 receipts per lock hold
        // (a few hundred µs: each insert into a large table is a cache miss), so appends never
        // wait long and a later lookup finds little to do.
        // Bounded by what is there now, so a steady stream of appends cannot keep the flusher here.
        var remaining = state.withLock { $0.replay.receipts.unindexedCount }
        while remaining > 0 {
            let step = min(remaining, 1024)
            state.withLock { $0.replay.receipts.fold(limit: step) }
            remaining -= step
        }
        if configuration.maintainsIndex { extendIndexInBackground() }
    }

    /// What the flusher's refresh copies under the lock: the tree and receipts are values
    /// (copy-on-write), so the copy is cheap and appends continue while the index is written.
    private struct IndexSnapshot {
        var old: LedgerIndexStore?
        var tree: WriterTree
        var receipts: ReceiptIndex
        var contents: LedgerIndexContents
    }

    /// Extends the index to the durable records once `indexRefreshEveryRecords` of them are past
    /// its end, writing outside the writer lock: taken only to copy the state, then to drop
    /// from memory what the index now holds. Lookups meanwhile read the old table, which only
    /// gains slots (a slot read half-written is checked against its frame, LedgerFormat §12.5),
    /// and tree nodes below the old end, which are not rewritten. Best effort, as at close.
    private func extendIndexInBackground() {
        indexWriting.withLock { _ in
            let every = max(1, configuration.indexRefreshEveryRecords)
            guard let snapshot = state.withLock({ (writer: inout WriterState) -> IndexSnapshot? in
                let n = writer.durableCount
                let tree = writer.replay.tree
                guard writer.failure == nil, !writer.closed, n >= tree.baseSize + every, n > 0,
                      let checkpoint = writer.replay.checkpoints.last(where: { $0.leafIndex < n }),
                      let firstLeaf = tree.base.flatMap({ Hash32($0.manifest.firstLeafHash) }) ?? tree.memoryNode(level: 0, index: 0)
                else { return nil }
                let replay = writer.replay
                let contents = LedgerIndexContents(
                    header: header, firstLeafHash: firstLeaf, treeSize: n, coveredBytes: UInt64(writer.durableOffset),
                    checkpoint: (checkpoint.leafIndex, UInt64(checkpoint.offset)),
                    rotations: replay.rotations.filter { $0.leafIndex < n }.map { (UInt64($0.offset), UInt32($0.recordBytes.count + frameOverhead)) },
                    identities: replay.identities.filter { $0.leafIndex < n }.map { ($0.leafIndex, UInt64($0.offset), UInt32($0.length)) })
                return IndexSnapshot(old: tree.base, tree: tree, receipts: replay.receipts, contents: contents)
            }) else { return }
            var receipts = snapshot.receipts
            do throws(LedgerError) {
                let store = try writeLedgerIndex(ledger: path, old: snapshot.old, tree: snapshot.tree, receipts: &receipts, contents: snapshot.contents)
                state.withLock { (writer: inout WriterState) in
                    guard writer.replay.tree.base === snapshot.old else { return }
                    writer.replay.tree.rebase(onto: store, at: snapshot.contents.treeSize)
                    writer.replay.receipts.removeAll(before: snapshot.contents.treeSize)
                }
            } catch {
                unlink(LedgerIndexPaths(ledger: path).manifest)
            }
        }
    }

    /// The RFC 9162 consistency proof from tree size `oldSize` to `newSize` (both at most
    /// ``size``), as a witness asks for it (``WitnessFeed``).
    ///
    /// - Throws: ``LedgerError/invalidField(_:)`` for sizes out of order or beyond the tree.
    public func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws(LedgerError) -> [[UInt8]] {
        try state.withLock { (writer: inout WriterState) throws(LedgerError) -> [[UInt8]] in
            guard oldSize <= newSize, newSize <= writer.replay.tree.size else { throw .invalidField("tree size") }
            let tree = writer.replay.tree
            // Nodes read from the index are believed only once the proof checks out against a
            // root from memory (sizes from the index's base on): else the ledger is read.
            if tree.rootIsInMemory(size: newSize), let proof = try? tree.consistencyProof(first: oldSize, second: newSize),
               let oldRoot = try? tree.root(size: oldSize), let newRoot = try? tree.root(size: newSize),
               oldSize == 0 || MerkleProofs.verifyConsistency(firstSize: oldSize, secondSize: newSize, firstRoot: oldRoot, secondRoot: newRoot, proof: proof) {
                return proof.map(\.bytes)
            }
            return try self.streamedConsistencyProof(from: oldSize, to: newSize, writer: writer)
        }
    }

    /// A consistency proof hashed from the ledger file itself (the index could not be used).
    private func streamedConsistencyProof(from oldSize: UInt64, to newSize: UInt64, writer: borrowing WriterState) throws(LedgerError) -> [[UInt8]] {
        let ranges = StreamingRangeHashes.consistencyRanges(first: oldSize, second: newSize)
        var hashes = StreamingRangeHashes(ranges: ranges)
        try scanDurable(upTo: newSize, writer: writer) { (_, record) in hashes.append(leafHash: MerkleHashing.leaf(record)) }
        return hashes.roots.map(\.bytes)
    }

    /// Scans the ledger file's records [0, limit) (written ones: the caller holds the lock,
    /// and records not yet written are not needed: proofs and lookups here concern sizes the
    /// index's base covers, which are durable).
    private func scanDurable(upTo limit: UInt64, writer: borrowing WriterState, _ visit: (UInt64, [UInt8]) -> Void) throws(LedgerError) {
        guard limit > 0 else { return }
        guard limit <= writer.durableCount else { throw .invalidField("tree size") }
        do {
            _ = try scanLedgerFile(path: path, files: configuration.fileSystem) { (index: UInt64, _: Int, record: [UInt8]) throws(LedgerError) in
                guard index < limit else { throw scanFinished }
                visit(index, record)
            }
        } catch let error where error == scanFinished {
            return
        }
    }

    // MARK: - Receipts

    /// A discard-receipt bundle for `request`, verifiable offline with only the verifier key:
    /// the receipt record, its inclusion proof and a signed checkpoint covering it. Flushes
    /// first, and writes a fresh checkpoint if none covers the receipt yet.
    public func receiptBundle(forRequest request: RequestID) throws(LedgerError) -> ReceiptBundle {
        try flush()
        let (needsCheckpoint, location) = try state.withLock {
            (writer: inout WriterState) throws(LedgerError) -> (Bool, RecordLocation) in
            guard let location = try self.receiptLocation(of: request, in: &writer) else { throw .requestNotFound }
            if writer.replay.checkpoint(covering: location.leafIndex) == nil {
                try Self.checkWritable(writer)
                _ = try self.checkpointLocked(&writer)
                return (true, location)
            }
            return (false, location)
        }
        if needsCheckpoint { try flush() }
        return try bundle(for: location) { (writer) throws(LedgerError) in
            guard let entry = writer.replay.checkpoint(covering: location.leafIndex) else { throw .requestNotFound }
            return entry
        }
    }

    /// As ``receiptBundle(forRequest:)``, under the checkpoint of exactly `checkpointSize`
    /// records (one the witnesses cosigned, say: ``WitnessFeed/cosignedReceiptBundle(forRequest:in:)``).
    ///
    /// - Throws: ``LedgerError/requestNotFound`` when the request has no receipt before that
    ///   checkpoint, or the ledger has no checkpoint of that size.
    public func receiptBundle(forRequest request: RequestID, checkpointSize: UInt64) throws(LedgerError) -> ReceiptBundle {
        let location = try state.withLock { (writer: inout WriterState) throws(LedgerError) -> RecordLocation in
            guard let location = try self.receiptLocation(of: request, in: &writer), location.leafIndex < checkpointSize else {
                throw .requestNotFound
            }
            return location
        }
        return try bundle(for: location) { (writer) throws(LedgerError) in
            let replay = writer.replay
            // Checkpoints are in size order; several may share a size (none was appended between).
            if let entry = replay.checkpoints.last(where: { $0.treeSize == checkpointSize && replay.epochKeys[$0.keyEpoch] != nil }) {
                return entry
            }
            // One signed before the index's base checkpoint is not in memory: the ledger is read.
            guard let first = replay.checkpoints.first, checkpointSize < first.treeSize,
                  let entry = try self.scannedCheckpoint(size: checkpointSize, writer: writer), replay.epochKeys[entry.keyEpoch] != nil
            else { throw .requestNotFound }
            return entry
        }
    }

    /// The checkpoint record of `size` records, read from the file (it is record `size`).
    private func scannedCheckpoint(size: UInt64, writer: borrowing WriterState) throws(LedgerError) -> CheckpointEntry? {
        var found: CheckpointEntry?
        try scanDurable(upTo: min(size + 1, writer.durableCount), writer: writer) { (index, record) in
            guard index == size, let decoded = try? LedgerRecord.decode(record), case .checkpoint(let checkpoint) = decoded.body,
                  checkpoint.treeSize == size
            else { return }
            found = CheckpointEntry(
                leafIndex: index, treeSize: size, rootHash: checkpoint.rootHash, keyEpoch: checkpoint.keyEpoch,
                signature: checkpoint.signature, recordedAt: decoded.recordedAt)
        }
        return found
    }

    /// The latest receipt's location for `request`: appended since the index's base (memory),
    /// else the index's table. A slot is used only if the frame it names is intact and is a
    /// receipt of this request; a slot that is not is a damaged table, and the ledger is read.
    /// (A request missing from a damaged table is reported missing: the table is not scanned.)
    private func receiptLocation(of request: RequestID, in writer: inout WriterState) throws(LedgerError) -> RecordLocation? {
        if let location = writer.replay.receipts.location(of: request) { return location }
        let base = writer.replay.tree.baseSize
        guard let store = writer.replay.tree.base, let found = store.location(of: request) else { return nil }
        if found.leafIndex < base, let bytes = try? readRecord(fd: writer.fd, at: found, files: configuration.fileSystem),
           let record = try? LedgerRecord.decode(bytes), case .discardReceipt(let receipt) = record.body, receipt.requestID == request {
            return found
        }
        var latest: RecordLocation?
        do {
            _ = try scanLedgerFile(path: path, files: configuration.fileSystem) { (index: UInt64, at: Int, record: [UInt8]) throws(LedgerError) in
                guard index < base else { throw scanFinished }
                if let decoded = try? LedgerRecord.decode(record), case .discardReceipt(let receipt) = decoded.body, receipt.requestID == request {
                    latest = RecordLocation(leafIndex: index, offset: at, length: record.count + frameOverhead)
                }
            }
        } catch let error where error == scanFinished {}
        return latest
    }

    /// Whether a discard receipt for `request` was appended (durable or not).
    func hasReceipt(for request: RequestID) -> Bool {
        state.withLock { (writer: inout WriterState) -> Bool in (try? self.receiptLocation(of: request, in: &writer)) ?? nil != nil }
    }

    /// The bundle of the receipt at `location` under the checkpoint `choose` picks.
    private func bundle(
        for location: RecordLocation, under choose: (borrowing WriterState) throws(LedgerError) -> CheckpointEntry
    ) throws(LedgerError) -> ReceiptBundle {
        try state.withLock { (writer: inout WriterState) throws(LedgerError) -> ReceiptBundle in
            try Self.checkWritable(writer)
            let entry = try choose(writer)
            guard let signed = writer.replay.signedCheckpoint(entry) else { throw .requestNotFound }
            let record = try readRecord(fd: writer.fd, at: location, files: configuration.fileSystem)
            let proof = try self.inclusionProof(of: record, at: location.leafIndex, under: entry, writer: writer)
            let identity = try writer.replay.identity(before: location.leafIndex).map { (found) throws(LedgerError) in
                let identityRecord = try readRecord(fd: writer.fd, at: found, files: configuration.fileSystem)
                return SoftwareIdentityProof(
                    record: identityRecord, leafIndex: found.leafIndex,
                    inclusionProof: try self.inclusionProof(of: identityRecord, at: found.leafIndex, under: entry, writer: writer))
            }
            return ReceiptBundle(
                record: record, leafIndex: location.leafIndex, treeSize: entry.treeSize,
                inclusionProof: proof, checkpoint: signed.noteText, keyRotations: writer.replay.keyChain(for: entry),
                softwareIdentity: identity)
        }
    }
}

extension Ledger {
    /// The inclusion proof of `record` (leaf `leaf`) under the checkpoint `entry`, checked
    /// against its signed root before it is returned: nodes read from the index are not
    /// believed otherwise. If it does not check out, the proof is hashed from the ledger file.
    private func inclusionProof(
        of record: [UInt8], at leaf: UInt64, under entry: CheckpointEntry, writer: borrowing WriterState
    ) throws(LedgerError) -> [[UInt8]] {
        let leafHash = MerkleHashing.leaf(record)
        let root = Hash32(entry.rootHash)
        func checks(_ proof: [Hash32]) -> Bool {
            root != nil && MerkleProofs.rootFromInclusionProof(leafIndex: leaf, treeSize: entry.treeSize, leafHash: leafHash, proof: proof) == root
        }
        if let proof = try? writer.replay.tree.inclusionProof(index: leaf, size: entry.treeSize), checks(proof) { return proof.map(\.bytes) }
        var streamed = StreamingInclusionProof(index: leaf, size: entry.treeSize)
        try scanDurable(upTo: entry.treeSize, writer: writer) { (_, bytes) in streamed.append(leafHash: MerkleHashing.leaf(bytes)) }
        guard let proof = streamed.proof, checks(proof) else { throw .io(.read, errno: EIO) }
        return proof.map(\.bytes)
    }
}

/// Stops a scan of the ledger file early (never leaves Ledger.swift).
private let scanFinished = LedgerError.invalidField("scan finished")

/// See `Ledger.interposeSync(_:)`.
typealias SyncInterposer = @Sendable () -> Int32

/// fdatasync through the test seam.
private func syncData(fd: Int32, interposer: SyncInterposer?, files: FileSystem) throws(LedgerError) {
    if let forced = interposer?(), forced != 0 { throw .io(.sync, errno: forced) }
    do { try files.fdatasync(fd) } catch { throw .io(.sync, errno: error.rawValue) }
}

/// Reads and checks one framed record at `location`.
func readRecord(fd: Int32, at location: RecordLocation, files: FileSystem = .live) throws(LedgerError) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: location.length)
    var filled = 0
    while filled < frame.count {
        let count: Int
        do { count = try files.read(fd, into: &frame, from: filled, at: location.offset + filled) } catch {
            throw .io(.read, errno: error.rawValue)
        }
        guard count > 0 else { throw .io(.read, errno: EIO) }
        filled += count
    }
    let record = Array(frame[8..<(frame.count - 4)])
    var check: [UInt8] = []
    appendFrame(record, to: &check)
    guard check == frame else {
        throw .invalidRecord(index: location.leafIndex, offset: UInt64(location.offset), fault: .checksumMismatch)
    }
    return record
}
