import VaultSystem
public import RetentionVocabulary

/// Why a vault or scope operation failed.
///
/// Every case carries numbers, data classes and locked-memory errors only, never content, so an
/// error can be logged or returned to a client without leaking what a request held.
public enum VaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Locked memory could not be provided (budget exhausted is backpressure: reject or queue).
    case memory(LockedMemoryError)
    /// Releasing a buffer of the scope found memory corruption (a write past a buffer, or a wipe
    /// that did not hold), under ``MemoryCorruptionPolicy/quarantineAndReport``; the slot was
    /// wiped and quarantined and the scope's receipt says so. Under the default policy the
    /// process terminates instead.
    case memoryCorrupted(LockedMemoryError)
    /// The scope was already discarded; its key is destroyed and its content gone.
    case discarded
    /// A sealed chunk failed authentication: it was modified, reordered, or moved from another
    /// slot or request. Nothing was decrypted.
    case authenticationFailed(slot: DataClass, chunk: Int)
    /// The slot would need more key generations than a scope may derive (2^32 per slot).
    case keyLimitReached(slot: DataClass)
    /// One chunk is larger than the AEAD may seal under one key (AES-256-GCM: the per-key byte
    /// limit). Split it into smaller chunks.
    case chunkTooLarge(byteCount: Int, limit: Int)
    /// A chunk was appended after the slot's final chunk.
    case slotFinished(slot: DataClass)
    /// The slot holds no content.
    case emptySlot(slot: DataClass)
    /// A byte count below 1 (or below 0 where empty is allowed).
    case invalidByteCount(Int)
    /// A chunk index below zero was asked for (``RequestScope/withChunk(of:at:thrownErrors:_:)``).
    case chunkIndexOutOfRange(Int)
    /// The body reported writing more bytes than it was given.
    case writtenCountOutOfRange(written: Int, capacity: Int)
    /// The requested AEAD is not available on this CPU (AES-256-GCM needs AES-NI and PCLMUL).
    case aeadUnavailable(AEADAlgorithm)
    /// Sealing failed inside libsodium (should not happen with valid sizes).
    case sealFailed(slot: DataClass)
    /// The transfer-slot budget is exhausted.
    case transferBudgetExhausted(requested: Int, budget: Int, inUse: Int)
    /// A transfer slot was used after it was released (or after its scope was discarded).
    case transferSlotReleased
    /// The time-to-live is zero or negative.
    case invalidTimeToLive
    /// The scope already has as many external holders as a receipt may list.
    case tooManyExternalHolders(limit: Int)
    /// `sigaction(2)` failed while installing the purge handlers.
    case signalHandlerInstallFailed(errno: Int32)
    /// The kernel refused random bytes (`getrandom(2)`) for a key or request id.
    case randomnessUnavailable(errno: Int32)
    /// `Vault()` could not close the process to core dumps and same-user `ptrace`
    /// (`ProcessHardening.apply()`; a seccomp policy refusing `prctl`, say). Fail closed: fix the
    /// policy, or opt out with `Vault.Configuration.hardensProcess` if dumps are handled outside.
    case processHardeningFailed(step: String, errno: Int32)

    public var description: String {
        switch self {
        case .memory(let error): return "vault memory: \(error)"
        case .memoryCorrupted(let error): return "vault memory corruption: \(error)"
        case .discarded: return "request scope already discarded"
        case .authenticationFailed(let slot, let chunk):
            return "authentication failed for chunk \(chunk) of slot \(slot): tampered, reordered or moved"
        case .keyLimitReached(let slot): return "key generations exhausted for slot \(slot)"
        case .chunkTooLarge(let count, let limit): return "chunk of \(count) bytes exceeds the per-key limit of \(limit) bytes"
        case .slotFinished(let slot): return "slot \(slot) already received its final chunk"
        case .emptySlot(let slot): return "slot \(slot) holds no content"
        case .invalidByteCount(let count): return "invalid byte count \(count)"
        case .chunkIndexOutOfRange(let index): return "chunk index \(index) is out of range"
        case .writtenCountOutOfRange(let written, let capacity):
            return "body reported \(written) bytes written into a \(capacity)-byte buffer"
        case .aeadUnavailable(let algorithm): return "AEAD \(algorithm) unavailable on this CPU"
        case .sealFailed(let slot): return "sealing failed for slot \(slot)"
        case .transferBudgetExhausted(let requested, let budget, let inUse):
            return "transfer-slot budget exhausted: \(requested) bytes requested, \(inUse) of \(budget) in use"
        case .transferSlotReleased: return "transfer slot already released"
        case .invalidTimeToLive: return "time-to-live must be positive"
        case .tooManyExternalHolders(let limit): return "a scope may register at most \(limit) external holders"
        case .signalHandlerInstallFailed(let code): return "installing the purge signal handlers failed (\(Errno(rawValue: code).name))"
        case .processHardeningFailed(let step, let code):
            return "closing the process to core dumps failed: \(step) (\(Errno(rawValue: code).name)); allow it, or set hardensProcess: false"
        case .randomnessUnavailable(let code): return "the kernel refused random bytes for a key (\(Errno(rawValue: code).name))"
        }
    }
}
