// Group commit under concurrency (issue 13 §3): one fdatasync covers every append made before it
// started, a flush whose records are already durable makes no syscall, waiters the sync covers
// return (or all fail, stickily), and async callers wait without holding a cooperative thread.
//
// Writers run on threads of their own: a synchronous flush blocks, and the cooperative pool has
// only as many threads as cores. A gate on the ledger's sync seam holds the leader's fdatasync
// open so that followers can be lined up behind it deterministically.

import Foundation
import Synchronization
import Testing
@testable import RetentionLedger

@Suite("Group commit")
struct GroupCommitTests {
    @Test("One sync covers many writers, and each flush returns only once its own record is durable")
    func concurrentWritersShareSyncs() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration(checkpointEvery: 100))
        let writers = 16, rounds = 50
        let problems = Problems()
        await onThreads(writers) { writer in
            for round in 0..<rounds {
                do {
                    let index = try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(writer * 1_000 + round)))))
                    try ledger.flush()
                    if ledger.durableSize <= index { problems.note("flush returned before record \(index) was durable") }
                } catch {
                    problems.note("\(error)")
                }
            }
        }
        #expect(problems.all.isEmpty)
        let receipts = UInt64(writers * rounds)
        let syncs = ledger.syncCount
        // The shipped ledger made about 0.8 syncs per receipt at 8 writers; group commit a few
        // per hundred. Half is far from both.
        #expect(syncs <= receipts / 2, "\(syncs) fdatasync calls for \(receipts) receipts")
        #expect(ledger.durableSize == ledger.size)
        try ledger.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey).recordCount == receipts + receipts / 100)
    }

    @Test("A flush with nothing new pending makes no sync, from one thread or many")
    func nothingPendingNoSync() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        try ledger.flush()
        #expect(ledger.syncCount == 0)
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        try ledger.flush()
        #expect(ledger.syncCount == 1)
        try ledger.flush()
        let failures = Problems()
        await onThreads(8) { _ in
            for _ in 0..<20 {
                do { try ledger.flush() } catch { failures.note("\(error)") }
            }
        }
        try await ledger.flushAsync()
        #expect(failures.all.isEmpty)
        #expect(ledger.syncCount == 1)
        #expect(ledger.durableSize == 1)
        try ledger.close()
    }

    @Test("A flush covered by the sync in progress does not sync again for records appended meanwhile")
    func coveredFollowerDoesNotSyncAgain() async throws {
        let (directory, _, _, ledger, gate) = try gatedLedger()
        defer { directory.cleanup() }
        let problems = Problems()
        // The leader's sync (of record 0) is held open by the gate.
        let leader = StartedThread {
            do { try ledger.flush() } catch { problems.note("leader: \(error)") }
        }
        #expect(await eventually { gate.arrivals == 1 })
        // A follower whose target is record 0, already in the leader's batch.
        let follower = StartedThread {
            do { try ledger.flush() } catch { problems.note("follower: \(error)") }
        }
        #expect(await eventually { ledger.waitingFlushCount == 1 })
        // Appended after the follower noted its target: nobody has asked for it to be durable.
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        gate.open()
        _ = (await leader.value, await follower.value)
        #expect(problems.all.isEmpty)
        #expect(ledger.syncCount == 1)
        #expect(ledger.durableSize == 1)
        try ledger.close()
    }

    @Test("64 concurrent async flushes wait without holding cooperative threads, share one sync and are all durable")
    func asyncFlushesFromManyTasks() async throws {
        let (directory, path, signer, ledger, gate) = try gatedLedger()
        defer { directory.cleanup() }
        let problems = Problems()
        let leader = StartedThread {
            do { try ledger.flush() } catch { problems.note("leader: \(error)") }
        }
        #expect(await eventually { gate.arrivals == 1 })
        let tasks = 64
        let allQueued = openGate(gate, once: tasks, waitOn: ledger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 1...tasks {
                group.addTask {
                    let index = try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(task)))))
                    try await ledger.flushAsync()
                    if ledger.durableSize <= index { problems.note("async flush returned before record \(index) was durable") }
                }
            }
            try await group.waitForAll()
        }
        #expect(await allQueued.value, "only \(ledger.waitingFlushCount) of \(tasks) async flushes were waiting at once")
        await leader.value
        #expect(problems.all.isEmpty)
        // The leader's sync of record 0, then one for all 64.
        #expect(ledger.syncCount == 2)
        try ledger.close()
        let reopened = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        #expect(reopened.size == UInt64(tasks) + 1)
        try reopened.close()
        #expect(try LedgerVerifier.entries(path: path).count == tasks + 1)
    }

    @Test("A failed sync fails every waiting flush and every later call (sticky)")
    func failureReachesEveryWaiter() async throws {
        let (directory, _, _, ledger, gate) = try gatedLedger(syncErrno: EIO)
        defer { directory.cleanup() }
        let results = Results()
        let leader = StartedThread { results.record { () throws(LedgerError) in try ledger.flush() } }
        #expect(await eventually { gate.arrivals == 1 })
        let followers = 8
        let waiting = openGate(gate, once: followers, waitOn: ledger)
        await onThreads(followers) { n in
            results.record { () throws(LedgerError) in
                try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n + 1)))))
                try ledger.flush()
            }
        }
        #expect(await waiting.value)
        await leader.value
        let expected = LedgerError.io(.sync, errno: EIO)
        #expect(results.all == Array(repeating: expected, count: followers + 1))
        #expect(gate.arrivals == 1)
        #expect(throws: expected) { try ledger.append(.discardReceipt(sampleReceipt(request(99)))) }
        #expect(throws: expected) { try ledger.flush() }
        await #expect(throws: expected) { try await ledger.flushAsync() }
        #expect(throws: expected) { try ledger.close() }
    }

    @Test("A failed sync fails every waiting async flush")
    func failureReachesAsyncWaiters() async throws {
        let (directory, _, _, ledger, gate) = try gatedLedger(syncErrno: EIO)
        defer { directory.cleanup() }
        let results = Results()
        let leader = StartedThread { results.record { () throws(LedgerError) in try ledger.flush() } }
        #expect(await eventually { gate.arrivals == 1 })
        let tasks = 16
        let waiting = openGate(gate, once: tasks, waitOn: ledger)
        await withTaskGroup(of: Void.self) { group in
            for n in 1...tasks {
                group.addTask {
                    do throws(LedgerError) {
                        try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n)))))
                        try await ledger.flushAsync()
                        results.record(nil)
                    } catch {
                        results.record(error)
                    }
                }
            }
        }
        #expect(await waiting.value)
        await leader.value
        #expect(results.all == Array(repeating: LedgerError.io(.sync, errno: EIO), count: tasks + 1))
        #expect(gate.arrivals == 1)
    }

    @Test("Evolved keys are saved once their rotation is durable while many writers flush")
    func keySavesUnderConcurrentFlushes() async throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        // A checkpoint every 20 records, a new key epoch at each: many saves under concurrent flushes.
        let (keyPath, pinned, configuration) = try evolvingKey(signer, in: directory, checkpointsPerEpoch: 1, checkpointEvery: 20)
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
        let problems = Problems()
        await onThreads(8) { writer in
            for round in 0..<25 {
                do {
                    try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(writer * 1_000 + round)))))
                    try ledger.flush()
                } catch {
                    problems.note("\(error)")
                }
            }
        }
        #expect(problems.all.isEmpty)
        try ledger.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: pinned)
        #expect(report.keyEpoch == 10)
        // The key on disk is the latest one: the ledger reopens with it and continues.
        let reopened = try Ledger(path: path, registry: testRegistry, signer: try SigningKey(loadingFrom: keyPath), configuration: configuration)
        _ = try reopened.checkpoint()
        try reopened.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: pinned).keyEpoch == 11)
    }

    @Test("A failed key save fails its flush and is retried by the next one, even with nothing to sync")
    func failedKeySaveIsRetried() throws {
        let (directory, path, signer) = try freshLedger()
        defer { directory.cleanup() }
        // The key's directory does not exist yet, so the first save fails.
        let keyDirectory = directory.file("keys")
        let keyPath = keyDirectory + "/signer.key"
        let pinned = signer.verifierKey
        let configuration = quietConfiguration(keyEvolution: KeyEvolution(checkpointsPerEpoch: 1, keyFilePath: keyPath))
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: configuration)
        try ledger.append(.discardReceipt(sampleReceipt(request(1))))
        _ = try ledger.checkpoint()  // rotates to epoch 1: the evolved key is saved once durable
        #expect(throws: LedgerError.io(.open, errno: ENOENT)) { try ledger.flush() }
        // Not sticky: the records are durable and the ledger goes on.
        #expect(ledger.durableSize == ledger.size)
        let syncs = ledger.syncCount
        #expect(mkdir(keyDirectory, 0o700) == 0)
        try ledger.flush()
        #expect(ledger.syncCount == syncs)
        try ledger.close()
        let reopened = try Ledger(path: path, registry: testRegistry, signer: try SigningKey(loadingFrom: keyPath), configuration: configuration)
        try reopened.close()
        #expect(try LedgerVerifier.verify(path: path, verifierKey: pinned).keyEpoch == 1)
    }
}

// MARK: - Helpers

/// A ledger in a fresh directory whose every fdatasync waits at the returned gate (and then
/// returns `syncErrno`, 0 for the real sync), with record 0 appended: the next flush leads a
/// round and is held in its sync. The caller removes the directory.
private func gatedLedger(syncErrno: Int32 = 0) throws -> (
    directory: TemporaryDirectory, path: String, signer: SigningKey, ledger: Ledger, gate: SyncGate
) {
    let (directory, path, signer) = try freshLedger()
    do {
        let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration())
        let gate = SyncGate(errno: syncErrno)
        ledger.interposeSync(gate.interposer)
        try ledger.append(.discardReceipt(sampleReceipt(request(0))))
        return (directory, path, signer, ledger, gate)
    } catch {
        directory.cleanup()
        throw error
    }
}

/// Opens `gate` once `count` flushes wait on `ledger`, or after 120 s, so that a flush that
/// blocks fails the test instead of hanging it; the result says whether they all waited. On a
/// thread of its own: the cooperative pool may be full.
private func openGate(_ gate: SyncGate, once count: Int, waitOn ledger: Ledger) -> StartedThread<Bool> {
    StartedThread {
        defer { gate.open() }
        return waitUntil(seconds: 120) { ledger.waitingFlushCount == count }
    }
}

/// Holds every fdatasync a ledger's flushes make until `open()`, then lets them through; each
/// returns `errno` (0: the real sync runs).
private final class SyncGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false
    private var arrived = 0
    private let errno: Int32

    init(errno: Int32 = 0) { self.errno = errno }

    var interposer: SyncInterposer {
        { [self] in
            condition.lock()
            defer { condition.unlock() }
            arrived += 1
            while !isOpen { condition.wait() }
            return errno
        }
    }

    /// Syncs that have reached the gate so far.
    var arrivals: Int {
        condition.lock()
        defer { condition.unlock() }
        return arrived
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A list appended to from many threads, behind an NSLock: ThreadSanitizer does not see
/// Synchronization.Mutex's futex and reported its state as raced in the full suite.
private final class SharedList<Element: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var elements: [Element] = []
    func append(_ element: Element) { lock.lock(); elements.append(element); lock.unlock() }
    var all: [Element] { lock.lock(); defer { lock.unlock() }; return elements }
}

/// Messages from writer threads, checked by the test afterwards.
private final class Problems: Sendable {
    private let list = SharedList<String>()
    func note(_ text: String) { list.append(text) }
    var all: [String] { list.all }
}

/// Each flush's error (all must be the same sticky one).
private final class Results: Sendable {
    private let list = SharedList<LedgerError?>()
    func record(_ error: LedgerError?) { list.append(error) }
    func record(_ body: () throws(LedgerError) -> Void) {
        do { try body(); record(nil) } catch { record(error) }
    }
    var all: [LedgerError?] { list.all }
}

/// Runs `body` on a thread of its own (it may block) and waits for it without blocking the pool.
private func onThread<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// Runs `body(0..<count)` on `count` threads at once and waits for all of them.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) async {
    let threads = (0..<count).map { n in StartedThread { body(n) } }
    for thread in threads { await thread.value }
}

/// Polls `condition` (every millisecond, up to `seconds`) on the calling thread.
private func waitUntil(seconds: Int, _ condition: () -> Bool) -> Bool {
    for _ in 0..<(seconds * 1_000) {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// Whether `condition` becomes true within 120 s, polled off the cooperative pool. (Generous:
/// it returns as soon as the condition holds, and under ThreadSanitizer, with other suites'
/// blocking tests filling the pool, a round can take tens of seconds to start.)
private func eventually(_ condition: @escaping @Sendable () -> Bool) async -> Bool {
    await onThread { waitUntil(seconds: 120, condition) }
}

/// A thread started at once, whose result can be awaited. Not an `async let` child task: that
/// starts only when the cooperative pool has a thread free, and other suites' blocking tests can
/// keep it full for many seconds (seen: 14 s in a full debug run, over 20 s under TSan).
private final class StartedThread<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Value?

    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [self] in
            let value = body()
            condition.lock()
            result = value
            condition.broadcast()
            condition.unlock()
        }.start()
    }

    var value: Value {
        get async {
            await onThread { [self] in
                condition.lock()
                defer { condition.unlock() }
                while result == nil { condition.wait() }
                return result!
            }
        }
    }
}
