#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ContentVault
import CVaultSodium
import RetentionLedger

/// Runs the synthetic requests through the vault. Everything that touches the vault's API lives
/// here, so the harness around it (canaries, scan, audit, report) does not change with it.
final class SelftestEngine {
    struct Counters: Sendable {
        var requests: [SyntheticKind: Int] = [:]
        var bytesIn: UInt64 = 0
        var bytesWiped: UInt64 = 0
        var bytesVerifiedZero: UInt64 = 0
        var quarantinedSlots = 0
    }

    let pool: SecureMemoryPool
    let canaries: CanarySource
    private(set) var counters = Counters()
    private(set) var requestIDs: [RequestID] = []
    /// The positive control's deliberate heap copy, kept until ``releasePlantedResidue()``.
    private var planted: UnsafeMutableRawBufferPointer?

    init(backend: BackendPreference, canaries: CanarySource) throws(CLIError) {
        do {
            pool = try SecureMemoryPool(configuration: .init(backend: backend))
        } catch {
            throw .failure("cannot create the vault: \(error)")
        }
        self.canaries = canaries
    }

    var backendDescription: String { pool.selection.description }
    var backendName: String { pool.backend.rawValue }

    /// One request of `kind`: every piece enters locked memory through the scratch, is used, and
    /// is wiped (and the wipe verified) when the request ends.
    func runRequest(_ kind: SyntheticKind, plantResidue: Bool) throws(CLIError) {
        let id = RequestID.random()
        var slot: LockedBuffer
        do {
            slot = try pool.allocate(byteCount: kind.totalBytes)
        } catch {
            throw .failure("vault refused a request: \(error)")
        }
        var offset = 0
        for piece in kind.pieces {
            canaries.withPiece(length: piece.length) { bytes in
                slot.withUnsafeMutableBytes { destination in
                    UnsafeMutableRawBufferPointer(rebasing: destination[offset..<(offset + bytes.count)])
                        .copyMemory(from: UnsafeRawBufferPointer(bytes))
                }
                if plantResidue && planted == nil {
                    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
                    copy.copyMemory(from: UnsafeRawBufferPointer(bytes))
                    planted = copy
                }
                offset += bytes.count
            }
        }
        // "Processing": the service reads what it holds; nothing is copied out.
        let checksum = slot.withUnsafeBytes { bytes in bytes.reduce(UInt8(0)) { $0 ^ $1 } }
        withExtendedLifetime(checksum) {}
        do {
            try slot.release()
        } catch {
            throw .failure("vault could not discard a request: \(error)")
        }
        counters.bytesIn += UInt64(kind.totalBytes)
        counters.requests[kind, default: 0] += 1
        requestIDs.append(id)
    }

    /// Takes the vault's wipe counters once all requests are done.
    func finish() {
        let statistics = pool.statistics
        counters.bytesWiped = statistics.bytesWiped
        counters.bytesVerifiedZero = statistics.bytesVerifiedZero
        counters.quarantinedSlots = statistics.quarantinedSlots
    }

    /// Wipes and frees the positive control's heap copy.
    func releasePlantedResidue() {
        guard let planted else { return }
        cvaultZero(planted)
        planted.deallocate()
        self.planted = nil
    }

    /// Ledger path and verifier key when this build writes receipts; nil until the vault's
    /// request scopes land.
    var ledger: (path: String, verifierKey: String)? { nil }

    deinit { releasePlantedResidue() }
}

/// Zeroes memory in a way the optimizer keeps.
func cvaultZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
}

/// Monotonic seconds, for the time a command took (reported, never asserted on in tests).
enum Clock {
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
