// Issue 4: what a durable, tamper-evident ledger costs next to the obvious alternatives, in the
// same run, on the same file system, writing the same record bytes.
//
//   - `durable append`: one operation is one discard-receipt record made durable.
//       - ledger: 1,000 appends, then one flush() (write + fdatasync), with the default signed
//         checkpoint every 1,000 records: group commit as a server runs it.
//       - naive: write(length ‖ record) + fsync for every record.
//       - SQLite: WAL mode, synchronous=FULL, 1,000 INSERTs of the record per transaction.
//     Target: ledger ≥ 1.5× SQLite's records/s.
//   - `concurrent durable writers` (issue 13 §3): N = 1, 8, 64 threads, each making one receipt
//     durable at a time: ledger append + flush() (and N tasks with flushAsync()), against SQLite
//     WAL synchronous=FULL with one INSERT per transaction, on one shared connection behind a
//     mutex and on a connection per writer. Reported per round: receipts/s, p50 and p99 wait,
//     and the ledger's receipts per fdatasync. Target at N = 64: ≥ 10× SQLite's best, p99 ≤ 3
//     sync times (a sync time: the N = 1 ledger's p50, one append + one fdatasync).
//   - `record part`: encoding one record and hashing it, the two fixed costs inside an append.
//   - `1M records`: a ledger of 1,000,000 receipts (10,000 in a smoke run), built once per
//     benchmark process before measuring. Measured: building it (append + periodic flush),
//     the memory and file bytes it takes per record (before and after the first receipt lookup,
//     which builds the request-id index), the time of that first lookup, generating an offline-verifiable receipt
//     bundle (inclusion proof + signed checkpoint) for a random receipt, and verifying one,
//     fully (signature + proof) and the Merkle proof alone.

import Benchmark
import BenchmarkSupport
import CBenchSQLite
import RetentionLedger
import RetentionVocabulary
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Fixtures

/// A private directory for one benchmark process's files, removed at exit by the teardown.
private func makeScratchDirectory() -> String {
    var template = Array("/tmp/vault-ledger-bench-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { fatalError("mkdtemp failed: errno \(errno)") }
    return String(cString: path)
}

private func removeScratchDirectory(_ path: String) {
    // Only files this suite created, in a directory it created.
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { unlink(path + "/" + name) }
        }
        closedir(directory)
    }
    rmdir(path)
}

/// A plausible discard receipt for a fresh request id (metadata only: the ledger holds no content).
private func receipt(_ requestID: RequestID = nextRequestID()) -> LedgerRecord {
    let now = Timestamp.now()
    return .discardReceipt(DiscardReceipt(
        requestID: requestID, reason: .completed, openedAt: now, firstContentAt: now, discardedAt: now,
        peakBytesHeld: 65_536, totalBytesHeld: 131_072, chunksWiped: 32, slotsWiped: 3,
        bytesVerifiedZero: 262_144, keyDestroyed: true, backend: .secretmem, aead: .xchacha20poly1305,
        externalHolders: [ExternalHolderReport(kind: .kvCache, outcome: .wiped)]))
}

/// The canonical bytes of one receipt, which the baselines write in place of the ledger.
private let sampleRecordBytes: [UInt8] = receipt().canonicalBytes

/// Opens a ledger with no background flusher (the benchmark flushes), default checkpoints.
private func openLedger(at path: String) throws -> Ledger {
    try Ledger(
        path: path, registry: IdentifierRegistry(), signer: SigningKey.generate(name: "bench.example/ledger"),
        configuration: LedgerConfiguration(flushIntervalNanoseconds: nil))
}

/// Resident set size now, from /proc/self/statm.
private func residentBytes() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let fields = String(decoding: buffer[..<n], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// A ledger of `count` receipts and what it took, built once per benchmark process.
private final class BigLedger: Sendable {
    let directory: String
    let ledger: Ledger
    let verifierKey: VerifierKey
    let requestIDs: [RequestID]
    let residentBytesPerRecord: Int
    let fileBytesPerRecord: Int
    /// The request-id index is built on demand, at the first receipt lookup: its time and the
    /// resident bytes per record once it exists.
    let firstLookupNanoseconds: Int
    let residentBytesPerRecordIndexed: Int

    init(count: Int) throws {
        directory = makeScratchDirectory()
        let path = directory + "/big.ledger"
        let signer = try SigningKey.generate(name: "bench.example/ledger")
        verifierKey = signer.verifier
        // The ids are kept outside the measurement of resident bytes.
        requestIDs = (0..<count).map { _ in nextRequestID() }
        let before = residentBytes()
        ledger = try Ledger(
            path: path, registry: IdentifierRegistry(), signer: signer,
            configuration: LedgerConfiguration(flushIntervalNanoseconds: nil))
        for (index, id) in requestIDs.enumerated() {
            try ledger.append(receipt(id))
            if index % 10_000 == 9_999 { try ledger.flush() }
        }
        try ledger.flush()
        residentBytesPerRecord = max(0, residentBytes() - before) / count
        let start = ContinuousClock.now
        _ = try ledger.receiptBundle(forRequest: requestIDs[count / 2])
        let elapsed = ContinuousClock.now - start
        firstLookupNanoseconds = Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000)
        residentBytesPerRecordIndexed = max(0, residentBytes() - before) / count
        var status = stat()
        stat(path, &status)
        fileBytesPerRecord = Int(status.st_size) / count
    }
}

private let bigLedgerRecords = RunLength.isSmoke ? 10_000 : 1_000_000
private let bigLedger = Mutex<BigLedger?>(nil)

private func sharedBigLedger() -> BigLedger {
    bigLedger.withLock { shared in
        if let shared { return shared }
        do {
            let built = try BigLedger(count: bigLedgerRecords)
            shared = built
            return built
        } catch {
            fatalError("could not build the \(bigLedgerRecords)-record ledger: \(error)")
        }
    }
}

private func tearDownBigLedger() {
    bigLedger.withLock { shared in
        if let built = shared {
            try? built.ledger.close()
            removeScratchDirectory(built.directory)
        }
        shared = nil
    }
}

/// Distinct request ids without a random-number call per record, so the benchmark times the
/// ledger and not the id generator (a server has its ids already).
private let nextRequestNumber = Atomic<UInt64>(1)
private func nextRequestID() -> RequestID {
    RequestID(high: 0x5EED_0000_0000_0000, low: nextRequestNumber.add(1, ordering: .relaxed).newValue)
}

// MARK: - Baseline writers

/// write(length ‖ record) + fsync per record: durability without batching.
private final class NaiveWriter: @unchecked Sendable {
    let directory = makeScratchDirectory()
    let fd: Int32
    init() {
        fd = open(directory + "/naive.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "open failed")
    }
    func appendDurably(_ bytes: [UInt8]) {
        var frame = withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init)
        frame += bytes
        let written = frame.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(written == frame.count && fsync(fd) == 0, "write or fsync failed")
    }
    func close() {
        _ = Glibc.close(fd)
        removeScratchDirectory(directory)
    }
}

/// SQLite in WAL mode with synchronous=FULL: one table of (id, body) rows.
private final class SQLiteWriter: @unchecked Sendable {
    let directory = makeScratchDirectory()
    var database: OpaquePointer?
    var insert: OpaquePointer?

    init() {
        precondition(sqlite3_open(directory + "/bench.sqlite", &database) == SQLITE_OK, "sqlite3_open failed")
        execute("PRAGMA journal_mode=WAL")
        execute("PRAGMA synchronous=FULL")
        execute("CREATE TABLE records(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        precondition(sqlite3_prepare_v2(database, "INSERT INTO records(body) VALUES (?1)", -1, &insert, nil) == SQLITE_OK)
    }

    func execute(_ sql: String) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(database, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "status \(status)"
            sqlite3_free(message)
            fatalError("sqlite: \(sql): \(text)")
        }
    }

    /// One transaction of `count` inserts; durable when COMMIT returns (synchronous=FULL).
    func appendDurably(_ bytes: [UInt8], count: Int) {
        execute("BEGIN")
        bytes.withUnsafeBytes { raw in
            for _ in 0..<count {
                // SQLITE_STATIC (nil): the bytes outlive the statement's step.
                sqlite3_bind_blob(insert, 1, raw.baseAddress, Int32(raw.count), nil)
                precondition(sqlite3_step(insert) == SQLITE_DONE, "insert failed")
                sqlite3_reset(insert)
            }
        }
        execute("COMMIT")
    }

    func close() {
        sqlite3_finalize(insert)
        sqlite3_close(database)
        removeScratchDirectory(directory)
    }
}

// MARK: - Concurrent durable writers (issue 13 §3)

/// Monotonic clock in nanoseconds.
private func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// A gate that threads wait at until it opens: the writers all start together.
private final class StartGate: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var isOpen = false
    let ready = Atomic<Int>(0)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func wait() {
        ready.add(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        while !isOpen { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }

    func open() {
        pthread_mutex_lock(mutex)
        isOpen = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}

/// What one round of concurrent writers took: elapsed time and each receipt's wait.
private struct WriterRound {
    var elapsedNanoseconds: UInt64
    /// Sorted.
    var waits: [UInt64]

    func percentile(_ p: Int) -> UInt64 {
        waits.isEmpty ? 0 : waits[min(waits.count - 1, waits.count * p / 100)]
    }
}

/// Runs `writers` threads of their own (a durable write blocks), each making `perWriter`
/// receipts durable with `write(writer)`, all started together. Each receipt's wait is the time
/// `write` took: append until durable.
private func runWriters(_ writers: Int, perWriter: Int, _ write: @escaping @Sendable (Int) -> Void) -> WriterRound {
    let gate = StartGate()
    let waits = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: writers * perWriter)
    defer { waits.deallocate() }
    nonisolated(unsafe) let slots = waits
    var threads: [pthread_t] = []
    for writer in 0..<writers {
        threads.append(startThread {
            gate.wait()
            for n in 0..<perWriter {
                let start = nowNanoseconds()
                write(writer)
                // Disjoint slots per thread; joined before they are read.
                slots[writer * perWriter + n] = nowNanoseconds() - start
            }
        })
    }
    while gate.ready.load(ordering: .acquiring) < writers { usleep(100) }
    let start = nowNanoseconds()
    gate.open()
    for thread in threads { pthread_join(thread, nil) }
    let elapsed = nowNanoseconds() - start
    return WriterRound(elapsedNanoseconds: elapsed, waits: Array(waits).sorted())
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

private func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    precondition(status == 0, "pthread_create failed: \(status)")
    return thread
}

/// The same with `writers` tasks calling `flushAsync()`: each receipt's wait is append until durable.
private func runAsyncWriters(_ writers: Int, perWriter: Int, ledger: Ledger) async throws -> WriterRound {
    let start = nowNanoseconds()
    let waits = try await withThrowingTaskGroup(of: [UInt64].self) { group in
        for _ in 0..<writers {
            group.addTask {
                var waits: [UInt64] = []
                waits.reserveCapacity(perWriter)
                for _ in 0..<perWriter {
                    let begin = nowNanoseconds()
                    try ledger.append(receipt(nextRequestID()))
                    try await ledger.flushAsync()
                    waits.append(nowNanoseconds() - begin)
                }
                return waits
            }
        }
        var all: [UInt64] = []
        for try await part in group { all += part }
        return all
    }
    return WriterRound(elapsedNanoseconds: nowNanoseconds() - start, waits: waits.sorted())
}

/// SQLite, WAL, synchronous=FULL, every INSERT its own (autocommit) transaction: either one
/// connection shared by all writers behind a mutex, or a connection per writer (then writers
/// wait for WAL's write lock in SQLite's busy handler).
private final class SQLiteDurableWriters: @unchecked Sendable {
    let directory = makeScratchDirectory()
    private var connections: [(database: OpaquePointer?, insert: OpaquePointer?)] = []
    private let shared: Bool
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(writers: Int, shared: Bool) {
        self.shared = shared
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
        let path = directory + "/bench.sqlite"
        for index in 0..<(shared ? 1 : writers) {
            var database: OpaquePointer?
            var insert: OpaquePointer?
            precondition(sqlite3_open(path, &database) == SQLITE_OK, "sqlite3_open failed")
            Self.execute(database, "PRAGMA busy_timeout=60000")
            if index == 0 {
                Self.execute(database, "PRAGMA journal_mode=WAL")
                Self.execute(database, "CREATE TABLE records(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            }
            Self.execute(database, "PRAGMA synchronous=FULL")
            precondition(sqlite3_prepare_v2(database, "INSERT INTO records(body) VALUES (?1)", -1, &insert, nil) == SQLITE_OK)
            connections.append((database, insert))
        }
    }

    private static func execute(_ database: OpaquePointer?, _ sql: String) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(database, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "status \(status)"
            sqlite3_free(message)
            fatalError("sqlite: \(sql): \(text)")
        }
    }

    /// One receipt, durable when the INSERT's implicit COMMIT returns.
    func appendDurably(_ bytes: [UInt8], writer: Int) {
        if shared { pthread_mutex_lock(lock) }
        defer { if shared { pthread_mutex_unlock(lock) } }
        let insert = connections[shared ? 0 : writer].insert
        bytes.withUnsafeBytes { raw in
            sqlite3_bind_blob(insert, 1, raw.baseAddress, Int32(raw.count), nil)
            let status = sqlite3_step(insert)
            precondition(status == SQLITE_DONE, "insert failed: \(status)")
            sqlite3_reset(insert)
        }
    }

    func close() {
        for connection in connections {
            sqlite3_finalize(connection.insert)
            sqlite3_close(connection.database)
        }
        pthread_mutex_destroy(lock)
        lock.deallocate()
        removeScratchDirectory(directory)
    }
}

// MARK: - Benchmarks

/// A value set by a benchmark's setup hook and read by its body (hooks and body are separate
/// closures, and a `Mutex` cannot be captured by an escaping closure).
private final class Shared<Value: Sendable>: Sendable {
    private let state = Mutex<Value?>(nil)
    func set(_ value: Value?) { state.withLock { $0 = value } }
    func get() -> Value? { state.withLock { $0 } }
}

let benchmarks: @Sendable () -> Void = {
    let batch = 1_000
    let groupCommit = RunLength.configuration(
        metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 200)

    // Ledger: group commit of 1,000 records per flush (one fdatasync).
    do {
        let (configuration, ledger) = scratchLedger(groupCommit, open: openLedger(at:))
        Benchmark("durable append: ledger, group commit 1000 records/flush", configuration: configuration) { benchmark in
            guard let ledger = ledger.get() else { fatalError("no ledger") }
            precondition(benchmark.scaledIterations.count == batch)
            for _ in benchmark.scaledIterations {
                try ledger.append(receipt(nextRequestID()))
            }
            try ledger.flush()
        }
    }

    // How a server runs it: the appending thread never waits for a sync; the ledger's background
    // flusher (every 1 ms here) writes and fdatasyncs whatever has been appended, overlapping
    // the next appends. Backpressure keeps it honest: after each 1,000 appends the thread waits
    // until at most 2,000 records are not yet durable, so the figure is a sustained durable rate
    // (SQLite cannot overlap inserts with its COMMIT on one connection).
    do {
        let (configuration, ledger) = scratchLedger(groupCommit) { path in
            try Ledger(
                path: path, registry: IdentifierRegistry(),
                signer: SigningKey.generate(name: "bench.example/ledger"),
                configuration: LedgerConfiguration(flushIntervalNanoseconds: 1_000_000))
        }
        Benchmark(
            "durable append: ledger, pipelined (background flusher, <= 2000 records not yet durable)",
            configuration: configuration
        ) { benchmark in
            guard let ledger = ledger.get() else { fatalError("no ledger") }
            for _ in benchmark.scaledIterations {
                try ledger.append(receipt(nextRequestID()))
            }
            while ledger.size - ledger.durableSize > 2_000 {
                usleep(100)
            }
        }
    }

    // The same without the flush: the ledger's CPU cost per record (encode, hash, tree,
    // index, checkpoint signature every 1,000), to split the figure above into CPU and sync.
    do {
        let (configuration, ledger) = scratchLedger(groupCommit, open: openLedger(at:))
        Benchmark("durable append: ledger, append only (no flush; CPU part)", configuration: configuration) { benchmark in
            guard let ledger = ledger.get() else { fatalError("no ledger") }
            for _ in benchmark.scaledIterations {
                try ledger.append(receipt(nextRequestID()))
            }
            benchmark.stopMeasurement()
            // Keep the pending buffer from growing without bound, outside the measurement.
            try ledger.flush()
        }
    }

    // Naive: fsync per record.
    do {
        let writer = Shared<NaiveWriter>()
        Benchmark(
            "durable append: naive write+fsync per record",
            configuration: withHooks(
                RunLength.configuration(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 500),
                setup: { writer.set(NaiveWriter()) },
                teardown: { writer.get()?.close(); writer.set(nil) })
        ) { benchmark in
            guard let writer = writer.get() else { fatalError("no writer") }
            for _ in benchmark.scaledIterations {
                writer.appendDurably(sampleRecordBytes)
            }
        }
    }

    // SQLite: WAL, synchronous=FULL, 1,000 records per transaction.
    do {
        let writer = Shared<SQLiteWriter>()
        Benchmark(
            "durable append: SQLite WAL synchronous=FULL, 1000 records/transaction",
            configuration: withHooks(
                groupCommit,
                setup: { writer.set(SQLiteWriter()) },
                teardown: { writer.get()?.close(); writer.set(nil) })
        ) { benchmark in
            guard let writer = writer.get() else { fatalError("no writer") }
            writer.appendDurably(sampleRecordBytes, count: benchmark.scaledIterations.count)
        }
    }

    // Concurrent durable writers (issue 13 §3): N threads each make one receipt durable at a time
    // (append + flush(); SQLite: one INSERT in autocommit), as an inference server's finishing
    // requests do. One sample is one round of receipts, all writers started together. Custom
    // metrics per round: receipts made durable per second, the median and 99th-percentile wait
    // (append until durable) in µs, and for the ledger the receipts per fdatasync (×100) and the
    // round's time per fdatasync.
    let receiptsPerSecond = BenchmarkMetric.custom("receipts/s", polarity: .prefersLarger, useScalingFactor: false)
    let waitP50 = BenchmarkMetric.custom("wait p50 (µs)", polarity: .prefersSmaller, useScalingFactor: false)
    let waitP99 = BenchmarkMetric.custom("wait p99 (µs)", polarity: .prefersSmaller, useScalingFactor: false)
    let receiptsPerSync = BenchmarkMetric.custom("receipts per fdatasync ×100", polarity: .prefersLarger, useScalingFactor: false)
    // The round's time over its syncs: how long one write + fdatasync round took under this load.
    let roundTime = BenchmarkMetric.custom("µs per fdatasync round", polarity: .prefersSmaller, useScalingFactor: false)
    let concurrent = RunLength.configuration(
        metrics: [.wallClock, receiptsPerSecond, waitP50, waitP99], maxDuration: .seconds(3), maxIterations: 100, warmupIterations: 1)
    let concurrentLedger = RunLength.configuration(
        metrics: [.wallClock, receiptsPerSecond, waitP50, waitP99, receiptsPerSync, roundTime],
        maxDuration: .seconds(3), maxIterations: 100, warmupIterations: 1)
    func report(_ round: WriterRound, to benchmark: Benchmark) {
        benchmark.measurement(receiptsPerSecond, Int(UInt64(round.waits.count) * 1_000_000_000 / max(round.elapsedNanoseconds, 1)))
        benchmark.measurement(waitP50, Int(round.percentile(50) / 1_000))
        benchmark.measurement(waitP99, Int(round.percentile(99) / 1_000))
    }
    for writers in [1, 8, 64] {
        // Enough receipts per round that a round takes tens to hundreds of ms in either disk regime.
        let ledgerPerWriter = max(20, 400 / writers)
        let sqlitePerWriter = max(2, 128 / writers)
        do {
            // A server's configuration: background flusher every 5 ms, every flushed batch sealed
            // by a signed checkpoint, a periodic one every 1,000 records.
            let (configuration, ledger) = scratchLedger(concurrentLedger) { path in
                try Ledger(path: path, registry: IdentifierRegistry(), signer: SigningKey.generate(name: "bench.example/ledger"))
            }
            Benchmark("concurrent durable writers: ledger, \(writers) threads, append + flush()", configuration: configuration) { benchmark in
                guard let ledger = ledger.get() else { fatalError("no ledger") }
                let syncsBefore = ledger.syncCount
                benchmark.startMeasurement()
                let round = runWriters(writers, perWriter: ledgerPerWriter) { _ in
                    do {
                        try ledger.append(receipt(nextRequestID()))
                        try ledger.flush()
                    } catch {
                        fatalError("ledger: \(error)")
                    }
                }
                benchmark.stopMeasurement()
                report(round, to: benchmark)
                let syncs = ledger.syncCount - syncsBefore
                // Receipts, not records: since every flushed batch is sealed by a checkpoint (the
                // default), the durable count also grows by one record per sync.
                benchmark.measurement(receiptsPerSync, writers * ledgerPerWriter * 100 / max(Int(syncs), 1))
                benchmark.measurement(roundTime, Int(round.elapsedNanoseconds / max(syncs, 1) / 1_000))
            }
        }
        do {
            let (configuration, ledger) = scratchLedger(concurrentLedger) { path in
                try Ledger(path: path, registry: IdentifierRegistry(), signer: SigningKey.generate(name: "bench.example/ledger"))
            }
            Benchmark("concurrent durable writers: ledger, \(writers) tasks, append + flushAsync()", configuration: configuration) { benchmark in
                guard let ledger = ledger.get() else { fatalError("no ledger") }
                let syncsBefore = ledger.syncCount
                benchmark.startMeasurement()
                let round = try await runAsyncWriters(writers, perWriter: ledgerPerWriter, ledger: ledger)
                benchmark.stopMeasurement()
                report(round, to: benchmark)
                let syncs = ledger.syncCount - syncsBefore
                // Receipts, not records: since every flushed batch is sealed by a checkpoint (the
                // default), the durable count also grows by one record per sync.
                benchmark.measurement(receiptsPerSync, writers * ledgerPerWriter * 100 / max(Int(syncs), 1))
                benchmark.measurement(roundTime, Int(round.elapsedNanoseconds / max(syncs, 1) / 1_000))
            }
        }
        for shared in [true, false] {
            let writer = Shared<SQLiteDurableWriters>()
            let label = shared ? "one shared connection (mutex)" : "a connection per writer"
            Benchmark(
                "concurrent durable writers: SQLite WAL synchronous=FULL, \(writers) threads, \(label)",
                configuration: withHooks(
                    concurrent,
                    setup: { writer.set(SQLiteDurableWriters(writers: writers, shared: shared)) },
                    teardown: { writer.get()?.close(); writer.set(nil) })
            ) { benchmark in
                guard let sqlite = writer.get() else { fatalError("no writer") }
                benchmark.startMeasurement()
                let round = runWriters(writers, perWriter: sqlitePerWriter) { index in
                    sqlite.appendDurably(sampleRecordBytes, writer: index)
                }
                benchmark.stopMeasurement()
                report(round, to: benchmark)
            }
        }
    }

    // Paired, at N = 64: a ledger round and a round on SQLite's shared connection (its best
    // setup) in every sample, in alternating order, so that both meet the same disk regime. The
    // ratio of their receipts/s is a custom metric (×1000).
    do {
        let pairedRatio = BenchmarkMetric.custom("ledger ÷ SQLite shared, receipts/s ×1000", polarity: .prefersLarger, useScalingFactor: false)
        let ledgerRate = BenchmarkMetric.custom("ledger receipts/s", polarity: .prefersLarger, useScalingFactor: false)
        let sqliteRate = BenchmarkMetric.custom("SQLite receipts/s", polarity: .prefersLarger, useScalingFactor: false)
        let directory = Shared<String>()
        let ledger = Shared<Ledger>()
        let sqlite = Shared<SQLiteDurableWriters>()
        let samples = Shared<Int>()
        let writers = 64
        Benchmark(
            "concurrent durable writers paired: ledger ÷ SQLite shared connection, 64 threads",
            configuration: withHooks(
                RunLength.configuration(
                    metrics: [.wallClock, pairedRatio, ledgerRate, sqliteRate, waitP99], maxDuration: .seconds(6), maxIterations: 100,
                    warmupIterations: 1),
                setup: {
                    let path = makeScratchDirectory()
                    directory.set(path)
                    ledger.set(try Ledger(
                        path: path + "/bench.ledger", registry: IdentifierRegistry(), signer: SigningKey.generate(name: "bench.example/ledger")))
                    sqlite.set(SQLiteDurableWriters(writers: writers, shared: true))
                },
                teardown: {
                    try? ledger.get()?.close()
                    ledger.set(nil)
                    sqlite.get()?.close()
                    sqlite.set(nil)
                    if let path = directory.get() { removeScratchDirectory(path) }
                    directory.set(nil)
                })
        ) { benchmark in
            guard let ledger = ledger.get(), let sqlite = sqlite.get() else { fatalError("no writers") }
            func ledgerRound() -> WriterRound {
                runWriters(writers, perWriter: 20) { _ in
                    do {
                        try ledger.append(receipt(nextRequestID()))
                        try ledger.flush()
                    } catch {
                        fatalError("ledger: \(error)")
                    }
                }
            }
            func sqliteRound() -> WriterRound {
                runWriters(writers, perWriter: 2) { index in sqlite.appendDurably(sampleRecordBytes, writer: index) }
            }
            let sample = samples.get() ?? 0
            samples.set(sample + 1)
            let ledgerFirst = sample % 2 == 0
            let (ours, theirs): (WriterRound, WriterRound)
            if ledgerFirst {
                ours = ledgerRound()
                theirs = sqliteRound()
            } else {
                theirs = sqliteRound()
                ours = ledgerRound()
            }
            func rate(_ round: WriterRound) -> UInt64 { UInt64(round.waits.count) * 1_000_000_000 / max(round.elapsedNanoseconds, 1) }
            benchmark.measurement(pairedRatio, Int(rate(ours) * 1_000 / max(rate(theirs), 1)))
            benchmark.measurement(ledgerRate, Int(rate(ours)))
            benchmark.measurement(sqliteRate, Int(rate(theirs)))
            benchmark.measurement(waitP99, Int(ours.percentile(99) / 1_000))
        }
    }

    // Parts of the per-record CPU cost, to say where the append time goes.
    let parts = RunLength.configuration(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo, maxIterations: 200)
    Benchmark("record part: encode (canonicalBytes)", configuration: parts) { benchmark in
        let record = receipt(nextRequestID())
        for _ in benchmark.scaledIterations {
            blackHole(record.canonicalBytes)
        }
    }
    Benchmark("record part: leaf hash (SHA-256 of the record; SHA-NI when the CPU has it)", configuration: parts) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(MerkleProofs.leafHash(sampleRecordBytes))
        }
    }

    // 1M records: building, memory and file size per record.
    Benchmark(
        "\(bigLedgerRecords) records: build (append, flush every 10000)",
        configuration: RunLength.configuration(
            metrics: [
                .wallClock,
                .custom("resident bytes per record", polarity: .prefersSmaller, useScalingFactor: false),
                .custom("file bytes per record", polarity: .prefersSmaller, useScalingFactor: false),
                .custom("resident bytes per record, receipt index built", polarity: .prefersSmaller, useScalingFactor: false),
                .custom("first receipt lookup ns (builds the index)", polarity: .prefersSmaller, useScalingFactor: false),
            ],
            maxDuration: .seconds(1), maxIterations: 1, warmupIterations: 0)
    ) { benchmark in
        // Built inside the measurement: wall clock is the time to append and sync them all.
        let built = sharedBigLedger()
        benchmark.measurement(.custom("resident bytes per record", polarity: .prefersSmaller, useScalingFactor: false), built.residentBytesPerRecord)
        benchmark.measurement(.custom("file bytes per record", polarity: .prefersSmaller, useScalingFactor: false), built.fileBytesPerRecord)
        benchmark.measurement(
            .custom("resident bytes per record, receipt index built", polarity: .prefersSmaller, useScalingFactor: false),
            built.residentBytesPerRecordIndexed)
        benchmark.measurement(
            .custom("first receipt lookup ns (builds the index)", polarity: .prefersSmaller, useScalingFactor: false),
            built.firstLookupNanoseconds)
        tearDownBigLedger()
    }

    let proofConfiguration = { (scaling: BenchmarkScalingFactor) in
        withHooks(
            RunLength.configuration(metrics: [.wallClock, .throughput], scalingFactor: scaling, maxDuration: .seconds(2), maxIterations: 200),
            setup: { _ = sharedBigLedger() },
            teardown: { tearDownBigLedger() })
    }

    Benchmark("\(bigLedgerRecords) records: receipt bundle (inclusion proof + checkpoint) for a random receipt", configuration: proofConfiguration(.one)) { benchmark in
        let big = sharedBigLedger()
        var generator = SystemRandomNumberGenerator()
        for _ in benchmark.scaledIterations {
            let id = big.requestIDs.randomElement(using: &generator)!
            blackHole(try big.ledger.receiptBundle(forRequest: id))
        }
    }

    Benchmark("\(bigLedgerRecords) records: verify receipt bundle (Ed25519 checkpoint + inclusion proof)", configuration: proofConfiguration(.one)) { benchmark in
        let big = sharedBigLedger()
        let bundles = try (0..<64).map { _ in try big.ledger.receiptBundle(forRequest: big.requestIDs.randomElement()!) }
        benchmark.startMeasurement()
        for iteration in benchmark.scaledIterations {
            blackHole(try bundles[iteration % bundles.count].verify(verifierKey: big.verifierKey))
        }
    }

    Benchmark("\(bigLedgerRecords) records: verify inclusion proof only (Merkle path)", configuration: proofConfiguration(.kilo)) { benchmark in
        let big = sharedBigLedger()
        let bundles = try (0..<64).map { _ in try big.ledger.receiptBundle(forRequest: big.requestIDs.randomElement()!) }
        let checkpoints = try bundles.map { try $0.verify(verifierKey: big.verifierKey) }
        let leafHashes = bundles.map { MerkleProofs.leafHash($0.record) }
        benchmark.startMeasurement()
        for iteration in benchmark.scaledIterations {
            let index = iteration % bundles.count
            let bundle = bundles[index]
            let valid = MerkleProofs.verifyInclusion(
                leafIndex: bundle.leafIndex, treeSize: bundle.treeSize, leafHash: leafHashes[index],
                proof: bundle.inclusionProof, root: checkpoints[index].checkpoint.rootHash)
            precondition(valid, "inclusion proof did not verify")
        }
    }
}

/// `configuration` with setup and teardown hooks added.
/// `configuration` with hooks that open a ledger (`open`, given the file's path) in a fresh
/// scratch directory before the benchmark and close it and remove the directory after; the body
/// reads the ledger from the returned box.
private func scratchLedger(
    _ configuration: Benchmark.Configuration, open: @escaping @Sendable (String) throws -> Ledger
) -> (Benchmark.Configuration, Shared<Ledger>) {
    let directory = Shared<String>()
    let ledger = Shared<Ledger>()
    let hooked = withHooks(
        configuration,
        setup: {
            let path = makeScratchDirectory()
            directory.set(path)
            ledger.set(try open(path + "/bench.ledger"))
        },
        teardown: {
            try? ledger.get()?.close()
            ledger.set(nil)
            if let path = directory.get() { removeScratchDirectory(path) }
            directory.set(nil)
        })
    return (hooked, ledger)
}

private func withHooks(
    _ configuration: Benchmark.Configuration,
    setup: @escaping Benchmark.BenchmarkSetupHook,
    teardown: @escaping Benchmark.BenchmarkTeardownHook
) -> Benchmark.Configuration {
    var configuration = configuration
    configuration.setup = setup
    configuration.teardown = teardown
    return configuration
}
