#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZeroRetention
import CVaultSodium

/// Runs the synthetic requests the way a server would, through ``AuditedVault``: the policy
/// decides and the decision is recorded before a scope opens, the vault holds the content, egress
/// is authorized before anything leaves, usage is recorded, and every discard receipt goes to the
/// ledger. Everything that calls those APIs lives here, so the harness around it (canaries, scan,
/// audit, report) does not depend on their details.
final class SelftestEngine {
    struct Counters: Sendable {
        var requests: [SyntheticKind: Int] = [:]
        var bytesIn: UInt64 = 0
        /// From the receipts: bytes the scopes held, bytes read back as zero after the wipe.
        var bytesHeld: UInt64 = 0
        var bytesVerifiedZero: UInt64 = 0
        var chunksWiped: UInt64 = 0
        var keysDestroyed = 0
        /// From the pool: every slot wiped (chunks, keys, scratch), and slots quarantined.
        var bytesWiped: UInt64 = 0
        var poolBytesVerifiedZero: UInt64 = 0
        var quarantinedSlots = 0
        /// Scopes still open after the run (each request must have been discarded).
        var openScopes = 0
        /// Receipts the ledger refused (the audit trail would be incomplete).
        var unrecordedReceipts = 0
    }

    static let workspace = Identifier("zdr-selftest")!
    static let upstream = Identifier("selftest-upstream")!

    static func model(_ kind: SyntheticKind) -> Identifier { Identifier("selftest-\(kind.rawValue)")! }

    /// The identifiers the selftest's records use, declared to the ledger.
    static var registry: IdentifierRegistry {
        IdentifierRegistry(
            workspaces: [workspace], models: Set(SyntheticKind.allCases.map(model)), providers: [upstream])
    }

    let vault: Vault
    let audited: AuditedVault
    let ledger: LedgerSession
    let canaries: CanarySource
    private(set) var counters = Counters()
    private(set) var requestIDs: [RequestID] = []
    /// The positive control's deliberate heap copy, kept until ``releasePlantedResidue()``.
    private var planted: [UInt8]?

    init(backend: BackendPreference, canaries: CanarySource, ledger: LedgerSession) throws(CLIError) {
        do {
            // No reaper: every scope is discarded by the run itself.
            vault = try Vault(configuration: .init(backend: backend, reaperInterval: nil))
        } catch {
            throw .failure("cannot create the vault: \(error)")
        }
        let policy: RetentionPolicy
        do {
            // ZDR for the whole workspace; the LLM's tool calls go to an upstream provider that
            // covers streaming, so the egress check and record are exercised too.
            policy = try RetentionPolicy()
                .workspace(Self.workspace.value, zdr: true)
                .provider(Self.upstream.value, zdrCoverage: [.streaming])
        } catch {
            throw .failure("cannot build the selftest policy: \(error)")
        }
        audited = AuditedVault(vault: vault, policy: policy, ledger: ledger.ledger)
        self.canaries = canaries
        self.ledger = ledger
    }

    var backendDescription: String { vault.pool.selection.description }
    var backendName: String { vault.backend.description }

    /// One request of `kind`, start to finish.
    func runRequest(_ kind: SyntheticKind, plantResidue: Bool) throws(CLIError) {
        let admitted: AdmittedRequest
        do {
            admitted = try audited.open(PolicyRequest(
                workspace: Self.workspace, product: kind.product, dataClasses: kind.dataClasses, model: Self.model(kind)))
        } catch {
            throw .failure("a synthetic \(kind.rawValue) request was not admitted: \(error)")
        }
        let scope = admitted.scope
        guard admitted.decision.retentionMode == .zeroDataRetention else {
            scope.discard(reason: .failed)
            throw .failure("the policy did not put a synthetic \(kind.rawValue) request under ZDR: \(admitted.decision.reason)")
        }
        do {
            if kind == .llm {
                // The tool call leaves for the upstream provider: authorized (and recorded) first.
                try audited.authorizeEgress(of: admitted, to: Self.upstream, transferMode: .streaming)
            }
            try fill(scope, kind: kind, plantResidue: plantResidue)
            try process(scope, kind: kind)
            try audited.recordUsage(of: admitted, usage(kind))
        } catch {
            scope.discard(reason: .failed)
            throw .failure("a synthetic \(kind.rawValue) request failed: \(error)")
        }
        // The receipt goes to the ledger through the audited vault's receipt handler.
        let receipt = scope.discard(reason: .completed)

        counters.requests[kind, default: 0] += 1
        counters.bytesIn += UInt64(kind.totalBytes)
        counters.bytesHeld += receipt.totalBytesHeld
        counters.bytesVerifiedZero += receipt.bytesVerifiedZero
        counters.chunksWiped += receipt.chunksWiped
        if receipt.keyDestroyed { counters.keysDestroyed += 1 }
        requestIDs.append(scope.id)
    }

    /// Inputs enter with `append(ingesting:)` (the scratch copy is wiped by the vault); outputs
    /// are produced with `writeUnsafe`, the way an encoder writes into vault scratch.
    private func fill(_ scope: RequestScope, kind: SyntheticKind, plantResidue: Bool) throws {
        let pieces = kind.pieces
        for (index, piece) in pieces.enumerated() {
            let isLast = !pieces[(index + 1)...].contains { $0.dataClass == piece.dataClass }
            try canaries.withPiece(length: piece.length) { (bytes: UnsafeMutableRawBufferPointer) throws in
                if plantResidue && planted == nil { planted = Array(bytes) }
                if piece.isOutput {
                    try scope.writeUnsafe(to: piece.dataClass, byteCount: bytes.count, final: isLast) { out in
                        out.copyMemory(from: UnsafeRawBufferPointer(bytes))
                        return bytes.count
                    }
                } else {
                    try scope.append(to: piece.dataClass, ingesting: bytes, final: isLast)
                }
            }
        }
    }

    /// What the service does with the content: read every input (whole slots, or chunk by chunk
    /// for a stream), and for STT drop the audio as soon as it is transcribed.
    private func process(_ scope: RequestScope, kind: SyntheticKind) throws {
        var checksum: UInt8 = 0
        for dataClass in kind.dataClasses.sorted(by: { $0.rawValue < $1.rawValue }) {
            if kind.transferMode == .streaming {
                try scope.forEachChunk(of: dataClass) { _, chunk in
                    chunk.withUnsafeBytes { for byte in $0 { checksum ^= byte } }
                }
            } else {
                try scope.withUnsafePlaintext(of: dataClass) { bytes in for byte in bytes { checksum ^= byte } }
            }
        }
        if kind == .stt { try scope.wipeSlot(.audioInput) }
        withExtendedLifetime(checksum) {}
    }

    private func usage(_ kind: SyntheticKind) -> [UsageCount] {
        func bytes(_ dataClass: DataClass) -> UInt64 {
            UInt64(kind.pieces.filter { $0.dataClass == dataClass }.reduce(0) { $0 + $1.length })
        }
        switch kind {
        case .tts:
            // 16-bit mono at 24 kHz: 48 bytes per millisecond.
            return [UsageCount(unit: .characters, count: bytes(.textInput)),
                    UsageCount(unit: .audioMillisecondsOut, count: bytes(.audioOutput) / 48)]
        case .stt:
            return [UsageCount(unit: .audioMillisecondsIn, count: bytes(.audioInput) / 48)]
        case .llm:
            let input = bytes(.systemPrompt) + bytes(.promptMessages) + bytes(.toolInteraction) / 2
            return [UsageCount(unit: .tokensIn, count: input / 4), UsageCount(unit: .tokensOut, count: bytes(.completion) / 4)]
        }
    }

    /// Takes the pool's wipe counters once all requests are done.
    func finish() {
        let statistics = vault.pool.statistics
        counters.openScopes = vault.statistics.openScopes
        counters.unrecordedReceipts = audited.unrecordedReceipts
        counters.bytesWiped = statistics.bytesWiped
        counters.poolBytesVerifiedZero = statistics.bytesVerifiedZero
        counters.quarantinedSlots = statistics.quarantinedSlots
    }

    /// Wipes and frees the positive control's heap copy.
    func releasePlantedResidue() {
        guard var copy = planted else { return }
        planted = nil
        // `copy` is now the only reference, so `&copy` is the heap storage the scan found.
        let count = copy.count
        sodium_memzero(&copy, count)
    }

    deinit { releasePlantedResidue() }
}

/// Monotonic seconds, for the time a command took (reported, never asserted on in tests).
enum Clock {
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
