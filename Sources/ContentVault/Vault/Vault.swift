#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CVaultSystem
public import RetentionVocabulary
import Synchronization

/// The process-wide content vault: configured once, it opens one ``RequestScope`` per request.
///
/// ```swift
/// let vault = try Vault(configuration: .init(byteBudget: 256 << 20))
/// try Vault.installTerminationHandlers()     // purge on SIGTERM/SIGINT
/// try Vault.installFatalSignalHandlers()     // purge on SIGSEGV/SIGBUS/SIGILL/SIGTRAP/SIGABRT
/// vault.setReceiptHandler { receipt in ledger.record(receipt) }
///
/// let (reply, receipt) = try await vault.withRequestScope { scope in
///     try scope.append(to: .textInput, copying: body)
///     …
/// }
/// ```
///
/// Every scope is discarded exactly once: by the host, by ``withRequestScope(timeToLive:isolation:_:)``
/// on return, throw or cancellation, by the reaper when its time-to-live passes, or by
/// ``purgeAll()``. Each discard produces a `DiscardReceipt` delivered to the receipt handler.
///
/// Open scopes are kept in sharded registries (by request id), so thousands of concurrent
/// requests do not share one lock; each scope's own operations take only that scope's lock
/// and the memory pool's per-size-class locks.
///
/// An open scope keeps its vault alive, so a vault is released only once every scope it opened
/// has been discarded; scopes the host forgot are discarded by the reaper at their deadline.
public final class Vault: Sendable {
    /// Vault settings.
    public struct Configuration: Sendable, Hashable {
        /// Backend for keys, sealed chunks and scratch. Default ``BackendPreference/automatic``
        /// (secretmem when the kernel grants it, else locked).
        public var backend: BackendPreference
        /// Most bytes of locked memory for keys, chunks and scratch; `nil` for the pool default.
        public var byteBudget: Int?
        /// Time-to-live of a scope opened without one.
        public var defaultTimeToLive: Duration
        /// The AEAD, or ``AEADPreference/automatic`` to measure and take the faster.
        public var aead: AEADPreference
        /// Most bytes of transfer slots (page-aligned, `locked` backend) mapped at once.
        public var transferByteBudget: Int
        /// How often the background reaper discards expired scopes; `nil` runs no reaper (call
        /// ``Vault/reapExpired(asOf:)`` yourself).
        public var reaperInterval: Duration?
        /// Region size for the pool's small size classes.
        public var regionByteCount: Int
        /// Bytes of idle regions the pool keeps mapped for the next requests; `nil` for the
        /// pool default (see ``SecureMemoryPool/Configuration/warmReserveByteCount``).
        public var warmReserveByteCount: Int?
        /// What a release that finds memory corruption (a write past a buffer) does: by default
        /// purge every region and terminate; ``MemoryCorruptionPolicy/quarantineAndReport`` keeps
        /// serving and reports it in receipts, statistics and ``VaultError/memoryCorrupted(_:)``.
        public var corruptionPolicy: MemoryCorruptionPolicy
        /// Guarded mode for high-assurance hosts: every sealed chunk, scratch buffer and
        /// transfer of a page or more ends at a guard page, so a one-byte overrun faults at once
        /// (``SecureMemoryPool/Configuration/guardsPageSizedBuffers``). Costs a mapping per such
        /// buffer; Docs/Performance.md has the figures. Default `false`.
        public var guardsPageSizedBuffers: Bool
        /// Whether `Vault()` applies ``ProcessHardening/apply()`` (the process becomes
        /// non-dumpable and its soft `RLIMIT_CORE` 0), the safe default: locked regions are
        /// excluded from core dumps already, but a core also holds the heap, the stacks and every
        /// thread's registers. `false` only where dumps are handled outside (a debugging session).
        public var hardensProcess: Bool

        /// Settings with production defaults: automatic backend and AEAD, pool default budget,
        /// 5-minute TTL, 64 MiB of transfer slots, a reaper every second.
        public init(
            backend: BackendPreference = .automatic,
            byteBudget: Int? = nil,
            defaultTimeToLive: Duration = .seconds(300),
            aead: AEADPreference = .automatic,
            transferByteBudget: Int = 64 << 20,
            reaperInterval: Duration? = .seconds(1),
            regionByteCount: Int = 256 * 1024,
            warmReserveByteCount: Int? = nil,
            corruptionPolicy: MemoryCorruptionPolicy = .terminate,
            hardensProcess: Bool = true,
            guardsPageSizedBuffers: Bool = false
        ) {
            self.guardsPageSizedBuffers = guardsPageSizedBuffers
            self.backend = backend
            self.byteBudget = byteBudget
            self.defaultTimeToLive = defaultTimeToLive
            self.aead = aead
            self.transferByteBudget = transferByteBudget
            self.reaperInterval = reaperInterval
            self.regionByteCount = regionByteCount
            self.warmReserveByteCount = warmReserveByteCount
            self.corruptionPolicy = corruptionPolicy
            self.hardensProcess = hardensProcess
        }
    }

    /// The settings the vault was created with.
    public let configuration: Configuration
    /// What `Vault()` did to the process (``Configuration/hardensProcess``); `nil` when opted out.
    public let processHardening: ProcessHardening.Report?
    /// How the AEAD was chosen (and the measurements, when measured).
    public let aeadSelection: AEADSelection
    /// The pool holding keys, sealed chunks and plaintext scratch. Public so that a host (or a
    /// server integration) can take locked scratch from the same budget.
    public let pool: SecureMemoryPool
    let transferBudget: TransferBudget
    /// Plaintext bytes sealed under one slot key before the next generation is derived: the
    /// AEAD's `AEADAlgorithm.perKeyByteLimit`, lowered only by tests to exercise rotation.
    let perKeyByteLimit: Int

    private static let shardCount = 16
    private let shards: [ScopeShard]
    private let openCount = Atomic<Int>(0)
    private let openedTotal = Atomic<Int>(0)
    private let completedCount = Atomic<Int>(0)
    private let cancelledCount = Atomic<Int>(0)
    private let expiredCount = Atomic<Int>(0)
    private let purgedCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    /// Boxed: a closure stored directly in a generic lock's state is re-wrapped in a reabstraction
    /// thunk on every `withLock { $0 }`, which grows without bound over thousands of calls.
    private let receiptHandler = LockedState<ReceiptHandlerBox?>(nil)
    /// Whether a handler is set, so a discard without one takes no lock (set under the lock,
    /// released after the box; a discard that sees `true` then reads the box under the lock).
    private let hasReceiptHandler = Atomic<Bool>(false)
    private let reaper = LockedState<Task<Void, Never>?>(nil)

    /// Creates the vault: chooses and probes the memory backend, chooses the AEAD, and starts
    /// the reaper.
    public convenience init(configuration: Configuration = Configuration()) throws(VaultError) {
        try self.init(configuration: configuration, perKeyByteLimit: nil)
    }

    init(configuration: Configuration, perKeyByteLimit: Int?, system: SystemCalls = .live) throws(VaultError) {
        guard configuration.defaultTimeToLive > .zero else { throw .invalidTimeToLive }
        guard configuration.transferByteBudget >= 0 else { throw .invalidByteCount(configuration.transferByteBudget) }
        self.configuration = configuration
        if configuration.hardensProcess {
            let report = ProcessHardening.apply()
            // Fail closed: a process that stays dumpable would put the heap in every core.
            if let (step, code) = report.failures.sorted(by: { $0.key < $1.key }).first {
                throw .processHardeningFailed(step: step, errno: code)
            }
            self.processHardening = report
        } else {
            self.processHardening = nil
        }
        do {
            self.pool = try SecureMemoryPool(
                configuration: .init(
                    backend: configuration.backend, byteBudget: configuration.byteBudget,
                    regionByteCount: configuration.regionByteCount,
                    warmReserveByteCount: configuration.warmReserveByteCount,
                    corruptionPolicy: configuration.corruptionPolicy,
                    guardsPageSizedBuffers: configuration.guardsPageSizedBuffers),
                system: system)
        } catch {
            throw .memory(error)
        }
        self.aeadSelection = try AEADSelection.choose(configuration.aead)
        self.perKeyByteLimit = perKeyByteLimit ?? aeadSelection.algorithm.perKeyByteLimit
        self.transferBudget = TransferBudget(limit: configuration.transferByteBudget)
        self.shards = (0..<Self.shardCount).map { _ in ScopeShard() }
        if let interval = configuration.reaperInterval, interval > .zero {
            let task = Task.detached(priority: .utility) { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self else { return }
                    self.reapExpired()
                }
            }
            reaper.withLock { $0 = task }
        }
    }

    deinit {
        reaper.withLock { $0?.cancel() }
    }

    /// The backend actually in use (after `automatic` chose).
    public var backend: MemoryBackend { pool.backend }

    // MARK: - Scopes

    /// Opens a scope for one request, with a fresh request id and a fresh key in locked memory.
    ///
    /// The caller must end it with ``RequestScope/discard(reason:)``; otherwise the reaper
    /// discards it at its deadline (reason `DiscardReason.expired`). Prefer
    /// ``withRequestScope(timeToLive:isolation:_:)``.
    ///
    /// - Parameter timeToLive: `nil` for the configured default.
    /// - Throws: ``VaultError/memory(_:)`` with ``LockedMemoryError/budgetExhausted(requested:budget:inUse:)``
    ///   when the vault is full (backpressure: reject or queue the request).
    public func openScope(timeToLive: Duration? = nil) throws(VaultError) -> RequestScope {
        try openScope(requestID: nil, timeToLive: timeToLive)
    }

    /// A fresh request id from the vault's generator, for a scope opened later with
    /// ``openScope(requestID:timeToLive:)``. ZeroRetention's `AuditedVault` records the policy
    /// decision under the id before the scope exists. Package-only: hosts never choose ids.
    package static func makeRequestID() throws(VaultError) -> RequestID {
        try KeyGenerator.requestID()
    }

    /// Opens a scope under an id from ``makeRequestID()``, or, with `nil`, under a new one.
    /// Package-only: hosts never choose ids.
    package func openScope(requestID: RequestID?, timeToLive: Duration?) throws(VaultError) -> RequestScope {
        let ttl = timeToLive ?? configuration.defaultTimeToLive
        guard ttl > .zero else { throw .invalidTimeToLive }
        let scope = try RequestScope(vault: self, id: requestID, deadline: ContinuousClock.now.advanced(by: ttl))
        openCount.add(1, ordering: .relaxed)
        openedTotal.add(1, ordering: .relaxed)
        shard(for: scope.id).insert(scope)
        return scope
    }

    /// Opens a scope, runs `body` with it and discards it however `body` ends: on return
    /// (`DiscardReason.completed`), on throw (`DiscardReason.failed`, or
    /// `DiscardReason.cancelled` when the task was cancelled), and at the moment the task is
    /// cancelled, while `body` still runs (its next scope operation then throws
    /// ``VaultError/discarded``).
    ///
    /// - Returns: what `body` returned and the discard receipt.
    /// - Throws: what `body` threw (after the discard), or ``VaultError`` from opening.
    public func withRequestScope<Result>(
        timeToLive: Duration? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RequestScope) async throws -> Result
    ) async throws -> (value: Result, receipt: DiscardReceipt) {
        let scope = try openScope(timeToLive: timeToLive)
        let value: Result
        do {
            value = try await withTaskCancellationHandler {
                try await body(scope)
            } onCancel: {
                scope.discard(reason: .cancelled)
            }
        } catch {
            scope.discard(reason: Task.isCancelled || error is CancellationError ? .cancelled : .failed)
            throw error
        }
        let receipt = scope.discard(reason: Task.isCancelled ? .cancelled : .completed)
        return (value, receipt)
    }

    /// Discards every open scope whose deadline is at or before `now` (reason
    /// `DiscardReason.expired`). The background reaper calls this; tests and hosts without a
    /// reaper may call it directly. Returns the number discarded.
    @discardableResult
    public func reapExpired(asOf now: ContinuousClock.Instant = .now) -> Int {
        var expired: [RequestScope] = []
        for shard in shards {
            shard.scopes.withLock { scopes in
                for scope in scopes where scope.deadline <= now { expired.append(scope) }
            }
        }
        for scope in expired { scope.discard(reason: .expired) }
        return expired.count
    }

    /// Discards every open scope of this vault (reason `DiscardReason.purged`), with receipts.
    ///
    /// This is the orderly purge (shutdown, operator action). The signal handlers installed by
    /// ``installTerminationHandlers()`` and ``installFatalSignalHandlers()`` instead wipe every
    /// locked region of the process lock-free, without receipts, because a signal handler
    /// cannot take locks. Returns the receipts.
    @discardableResult
    public func purgeAll() -> [DiscardReceipt] {
        var open: [RequestScope] = []
        for shard in shards { shard.scopes.withLock { open.append(contentsOf: $0) } }
        return open.map { $0.discard(reason: .purged) }
    }

    /// Sets (or with `nil`, removes) the function that receives every discard receipt, for the
    /// ledger. Called on the thread that discarded, after the scope's lock is released; keep it
    /// short (enqueue).
    public func setReceiptHandler(_ handler: (@Sendable (DiscardReceipt) -> Void)?) {
        let box = handler.map(ReceiptHandlerBox.init)
        receiptHandler.withLock { handler in
            handler = box
            hasReceiptHandler.store(box != nil, ordering: .releasing)
        }
    }

    // MARK: - Signals

    /// Installs SIGTERM and SIGINT handlers that wipe every locked region of the process
    /// (lock-free) and then chain to the handler installed before, or terminate. Idempotent.
    public static func installTerminationHandlers() throws(VaultError) {
        guard cvault_install_termination_purge_handlers() == 0 else {
            throw .signalHandlerInstallFailed(errno: cvault_errno())
        }
    }

    /// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT and SIGFPE that wipe every
    /// locked region (lock-free) before chaining to the handler installed before (the Swift
    /// runtime's backtracer, a crash reporter) or the default action. Idempotent.
    public static func installFatalSignalHandlers() throws(VaultError) {
        guard cvault_install_fatal_purge_handlers() == 0 else {
            throw .signalHandlerInstallFailed(errno: cvault_errno())
        }
    }

    // MARK: - Statistics

    /// Counters at one moment.
    public var statistics: VaultStatistics {
        VaultStatistics(
            openScopes: openCount.load(ordering: .relaxed),
            openedScopes: openedTotal.load(ordering: .relaxed),
            discardedByReason: [
                .completed: completedCount.load(ordering: .relaxed),
                .cancelled: cancelledCount.load(ordering: .relaxed),
                .expired: expiredCount.load(ordering: .relaxed),
                .purged: purgedCount.load(ordering: .relaxed),
                .failed: failedCount.load(ordering: .relaxed),
            ],
            transferBytesInUse: transferBudget.bytesInUse,
            pool: pool.statistics)
    }

    // MARK: - Internals

    private func shard(for id: RequestID) -> ScopeShard {
        shards[Int(truncatingIfNeeded: id.low & UInt64(Self.shardCount - 1))]
    }

    /// Called exactly once per scope, by the discard that did the work.
    func didDiscard(_ scope: RequestScope, receipt: DiscardReceipt) {
        shard(for: scope.id).remove(scope)
        openCount.subtract(1, ordering: .relaxed)
        switch receipt.reason {
        case .completed: completedCount.add(1, ordering: .relaxed)
        case .cancelled: cancelledCount.add(1, ordering: .relaxed)
        case .expired: expiredCount.add(1, ordering: .relaxed)
        case .purged: purgedCount.add(1, ordering: .relaxed)
        case .failed: failedCount.add(1, ordering: .relaxed)
        }
        guard hasReceiptHandler.load(ordering: .acquiring) else { return }
        let box = receiptHandler.withLock { $0 }
        box?.deliver(receipt)
    }
}

extension Vault: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Backend, AEAD and counts; a vault shows no content.
    public var description: String {
        "Vault(\(pool.selection), \(aeadSelection.algorithm), open scopes \(openCount.load(ordering: .relaxed)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["backend": pool.selection.description, "aead": aeadSelection.algorithm.description], displayStyle: .class)
    }
}

/// Vault counters at one moment.
public struct VaultStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Scopes open now.
    public var openScopes: Int
    /// Scopes opened since the vault was created.
    public var openedScopes: Int
    /// Scopes discarded since the vault was created, by reason.
    public var discardedByReason: [DiscardReason: Int]
    /// Bytes of transfer slots mapped now.
    public var transferBytesInUse: Int
    /// The memory pool's counters.
    public var pool: PoolStatistics

    /// All discards, whatever the reason.
    public var discardedScopes: Int { discardedByReason.values.reduce(0, +) }

    public var description: String {
        let reasons = DiscardReason.allCases.map { "\($0) \(discardedByReason[$0] ?? 0)" }.joined(separator: ", ")
        return "VaultStatistics(open \(openScopes), opened \(openedScopes), discarded [\(reasons)], transfer \(transferBytesInUse) B, \(pool))"
    }
}

/// One shard of the open-scope registry.
final class ScopeShard: Sendable {
    /// The shard's open scopes in no order; each scope's `registryIndex` is its place here, so
    /// removal is a swap with the last, not a hash. A dictionary keyed by object identity cost
    /// a hash and a probe at open and again at discard (~320 instructions of a 4 KiB lifecycle,
    /// callgrind).
    let scopes = LockedState<[RequestScope]>([])

    func insert(_ scope: RequestScope) {
        scopes.withLock { list in
            scope.registryIndex = list.count
            list.append(scope)
        }
    }

    /// Removes `scope` if this shard holds it (a scope is removed once, at its one discard).
    func remove(_ scope: RequestScope) {
        scopes.withLock { list in
            let index = scope.registryIndex
            guard index >= 0, index < list.count, list[index] === scope else { return }
            let last = list.removeLast()
            if index < list.count {
                list[index] = last
                last.registryIndex = index
            }
            scope.registryIndex = -1
        }
    }
}

/// The host's receipt handler, in a class so reading it copies a reference, not a closure.
final class ReceiptHandlerBox: Sendable {
    let deliver: @Sendable (DiscardReceipt) -> Void
    init(_ deliver: @escaping @Sendable (DiscardReceipt) -> Void) { self.deliver = deliver }
}
