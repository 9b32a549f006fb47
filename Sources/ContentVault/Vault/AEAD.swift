internal import CVaultSodium
public import RetentionVocabulary

/// What the vault needs to know about each AEAD of the vocabulary's `AEADAlgorithm`.
extension AEADAlgorithm {
    /// Whether this CPU and libsodium can use the algorithm (AES-256-GCM needs AES-NI and
    /// PCLMUL).
    public var isAvailable: Bool {
        sodiumReady()
        switch self {
        case .xchacha20poly1305: return true
        case .aes256gcm: return crypto_aead_aes256gcm_is_available() == 1
        }
    }

    /// Most plaintext bytes sealed under one key before the scope derives the next key for the
    /// slot. AES-256-GCM: 256 MiB, under the ~350 MB at which the bound on an attacker's
    /// advantage reaches 2^-32 for 64 KiB messages. XChaCha20-Poly1305: no practical limit.
    public var perKeyByteLimit: Int {
        switch self {
        case .xchacha20poly1305: return Int.max
        case .aes256gcm: return 256 << 20
        }
    }

    static let keyByteCount = 32
    static let tagByteCount = 16
}

/// Which AEAD a vault should use.
public enum AEADPreference: Sendable, Hashable {
    /// Measure both (AES-256-GCM only when available) at vault start and take the faster.
    case automatic
    /// Use this algorithm; fails with ``VaultError/aeadUnavailable(_:)`` when the CPU lacks it.
    case fixed(AEADAlgorithm)
}

/// How the vault's AEAD was chosen.
public struct AEADSelection: Sendable, Hashable, CustomStringConvertible {
    /// The algorithm in use.
    public let algorithm: AEADAlgorithm
    /// Measured sealing throughput in bytes per second for each candidate, when the choice
    /// was made by measurement (``AEADPreference/automatic``); empty when fixed.
    public let measuredBytesPerSecond: [AEADAlgorithm: Double]

    public var description: String {
        let measured = measuredBytesPerSecond.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key) \(Int($0.value / 1_000_000)) MB/s" }.joined(separator: ", ")
        return measured.isEmpty ? "\(algorithm) (fixed)" : "\(algorithm) (measured: \(measured))"
    }

    static func choose(_ preference: AEADPreference) throws(VaultError) -> AEADSelection {
        switch preference {
        case .fixed(let algorithm):
            guard algorithm.isAvailable else { throw .aeadUnavailable(algorithm) }
            return AEADSelection(algorithm: algorithm, measuredBytesPerSecond: [:])
        case .automatic:
            var measured: [AEADAlgorithm: Double] = [:]
            for algorithm in AEADAlgorithm.allCases where algorithm.isAvailable {
                measured[algorithm] = measureThroughput(algorithm)
            }
            let fastest = measured.max { $0.value < $1.value }?.key ?? .xchacha20poly1305
            return AEADSelection(algorithm: fastest, measuredBytesPerSecond: measured)
        }
    }

    /// Seals 64 KiB messages of random bytes (not content) for a few milliseconds.
    private static func measureThroughput(_ algorithm: AEADAlgorithm) -> Double {
        let messageLength = 64 * 1024
        let rounds = 16
        var key = [UInt8](repeating: 0, count: AEADAlgorithm.keyByteCount)
        var message = [UInt8](repeating: 0, count: messageLength)
        var output = [UInt8](repeating: 0, count: messageLength)
        var nonce = [UInt8](repeating: 0, count: 24)
        randombytes_buf(&key, key.count)
        randombytes_buf(&message, message.count)
        let clock = ContinuousClock()
        var best = Duration.seconds(1_000)
        // Best of three passes, so one descheduling does not decide the choice.
        for _ in 0..<3 {
            let start = clock.now
            for round in 0..<rounds {
                nonce[0] = UInt8(truncatingIfNeeded: round)
                var tag: AEAD.Tag = (0, 0)
                _ = cvault_aead_seal(
                    Int32(algorithm.rawValue), &output, &tag, message, messageLength, nil, 0, nonce, key)
            }
            best = min(best, clock.now - start)
        }
        sodium_memzero(&key, key.count)
        let seconds = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
        return Double(messageLength * rounds) / max(seconds, 1e-9)
    }
}

/// The sealing and opening primitives, with the nonce and associated-data layout in one place.
///
/// Nonce: XChaCha20 (24 B) = the slot's 16 prefix bytes (key generation, data class) ‖ chunk
/// index (big-endian UInt64); AES-GCM (12 B) = 4 prefix bytes ‖ chunk index. Every key is used by
/// one slot and one key generation only, and every generation's key is drawn fresh at random, so
/// the counter alone keeps (key, nonce) pairs unique; the prefix needs no
/// randomness (which saved a `getrandom` syscall per stream). Associated data (26 B) = request id (16) ‖ data class (1) ‖ chunk index (8, BE) ‖
/// final flag (1): a chunk opens only at its own position, in its own slot, in its own request,
/// and a truncated stream is detected.
enum AEAD {
    static let associatedDataLength = 26

    /// A detached 16-byte tag (not secret: it lives beside its chunk).
    typealias Tag = (UInt64, UInt64)
    /// 24 nonce bytes (AES-GCM reads the first 12).
    typealias Nonce = (UInt64, UInt64, UInt64)
    /// The 26 bytes of associated data, in 32.
    typealias AssociatedData = (UInt64, UInt64, UInt64, UInt64)

    /// Seals `message` into `chunk` (as long as the message; at least one byte) and writes the
    /// tag to `tag`.
    ///
    /// Detached tags keep a chunk's ciphertext exactly as long as its plaintext, so a 4 KiB chunk
    /// fits a 4 KiB slot (with the tag appended it took, wiped and verified an 8 KiB one).
    @inline(__always)
    static func seal(
        _ algorithm: AEADAlgorithm, _ message: UnsafeRawBufferPointer, into chunk: inout LockedBuffer,
        tag: inout Tag, nonce: Nonce, associatedData: AssociatedData, key: borrowing LockedBuffer
    ) -> Bool {
        var nonce = nonce
        var associatedData = associatedData
        return chunk.withUnsafeMutableBytes { output in
            key.withUnsafeBytes { key in
                cvault_aead_seal(
                    Int32(algorithm.rawValue), output.baseAddress, &tag, message.baseAddress, message.count,
                    &associatedData, associatedDataLength, &nonce, key.baseAddress) == 0
            }
        }
    }

    /// Opens `chunk` (its first `length` bytes) with its detached `tag` into `output`, which has
    /// room for `length` bytes. AES-GCM writes before it verifies: on failure `output` holds
    /// garbage the caller must wipe (its locked scratch does so when released).
    @inline(__always)
    static func open(
        _ algorithm: AEADAlgorithm, _ chunk: borrowing LockedBuffer, length: Int, tag: Tag, nonce: Nonce,
        associatedData: AssociatedData, key: borrowing LockedBuffer, into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard output.count >= length else { return false }
        var tag = tag
        var nonce = nonce
        var associatedData = associatedData
        return chunk.withUnsafeBytes { ciphertext in
            key.withUnsafeBytes { key in
                cvault_aead_open(
                    Int32(algorithm.rawValue), output.baseAddress, ciphertext.baseAddress, length, &tag,
                    &associatedData, associatedDataLength, &nonce, key.baseAddress) == 0
            }
        }
    }

    /// The nonce for chunk `index` of a slot (24 bytes are filled; AES-GCM reads the first 12).
    @inline(__always)
    static func nonce(
        _ algorithm: AEADAlgorithm, prefix: (UInt64, UInt64), index: UInt64
    ) -> (UInt64, UInt64, UInt64) {
        switch algorithm {
        case .xchacha20poly1305:
            return (prefix.0, prefix.1, index.bigEndian)
        case .aes256gcm:
            // 4 prefix bytes, then the 8-byte index: bytes 0..<12.
            var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
            withUnsafeMutableBytes(of: &words) { raw in
                raw.storeBytes(of: UInt32(truncatingIfNeeded: prefix.0), toByteOffset: 0, as: UInt32.self)
                raw.storeBytes(of: index.bigEndian, toByteOffset: 4, as: UInt64.self)
            }
            return words
        }
    }

    /// Associated data binding request, slot, position and finality.
    @inline(__always)
    static func associatedData(
        request: RequestID, dataClass: DataClass, index: UInt64, isFinal: Bool
    ) -> (UInt64, UInt64, UInt64, UInt64) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            raw.storeBytes(of: request.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: request.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: dataClass.rawValue, toByteOffset: 16, as: UInt8.self)
            raw.storeBytes(of: index.bigEndian, toByteOffset: 17, as: UInt64.self)
            raw.storeBytes(of: isFinal ? 1 : 0, toByteOffset: 25, as: UInt8.self)
        }
        return words
    }
}
