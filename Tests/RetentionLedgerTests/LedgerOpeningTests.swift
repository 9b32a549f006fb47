import Foundation
import Synchronization
import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// What happens around opening a ledger: the writer's lock, and which records the sinks are sent.
@Suite("Ledger opening") struct LedgerOpeningTests {
    /// Holds the writer's lock on `path` through a second open file description (as a child
    /// process being spawned would: flock belongs to the description), released by `release()`.
    private final class LockHolder: Sendable {
        let fd: Int32

        init(_ path: String) throws {
            fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw CocoaError(.fileLocking) }
        }

        func release() { close(fd) }
    }

    @Test("a writer lock held briefly by another description is waited for") func aBrieflyHeldLockIsWaitedFor() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration()).close()
        let holder = try LockHolder(path)
        let releasing = Mutex(false)
        // A thread of its own, not a Dispatch queue: parallel tests can keep the global queues'
        // threads busy for longer than the open waits (seen under AddressSanitizer).
        let releaser = Thread {
            usleep(200_000)
            releasing.withLock { $0 = true }
            holder.release()
        }
        releaser.start()
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        // The open succeeded, and only once the holder had begun to let go.
        #expect(releasing.withLock { $0 })
        try ledger.close()
    }

    @Test("a writer lock held past the wait is refused with EWOULDBLOCK") func aLockHeldPastTheWaitIsRefused() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration()).close()
        let holder = try LockHolder(path)
        defer { holder.release() }
        let started = ContinuousClock.now
        #expect(throws: LedgerError.io(.open, errno: EWOULDBLOCK)) {
            _ = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        }
        // It waited (about one second), and did not wait for ever.
        #expect(ContinuousClock.now - started >= .milliseconds(900))
    }

    @Test("a sink is sent only the kinds it asks for") func aSinkIsSentOnlyTheKindsItAsksFor() throws {
        final class CheckpointSink: LedgerSink {
            let seen = Mutex<[LedgerRecordKind]>([])
            var recordKinds: Set<LedgerRecordKind> { [.checkpoint] }
            func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8]) {
                seen.withLock { $0.append(record.body.kind) }
            }
        }
        final class EverythingSink: LedgerSink {
            let count = Mutex(0)
            func ledgerDidAppend(_ record: LedgerRecord, leafIndex: UInt64, canonicalBytes: [UInt8]) { count.withLock { $0 += 1 } }
        }
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let checkpoints = CheckpointSink(), everything = EverythingSink()
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer,
                                configuration: quietConfiguration(checkpointEvery: 6, sinks: [checkpoints, everything]))
        for record in sampleRecords(request(1)) { try ledger.append(record) }
        try ledger.close()
        #expect(checkpoints.seen.withLock { $0 } == [.checkpoint])
        #expect(everything.count.withLock { $0 } == 7)
    }
}
