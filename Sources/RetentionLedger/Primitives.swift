// Small, allocation-light wrappers over the libsodium primitives the ledger uses (SHA-256,
// BLAKE2b, base64) and the CRC-32C frame checksum. Nothing here is public: libsodium stays an
// implementation detail, and the public API speaks in `[UInt8]` and `String`.

internal import CLedgerHash
internal import CVaultSodium
import Synchronization

/// A 32-byte hash held inline (no heap allocation per tree node).
struct Hash32: Hashable, Sendable {
    var storage: SIMD32<UInt8>

    static let zero = Hash32(storage: SIMD32<UInt8>(repeating: 0))

    init(storage: SIMD32<UInt8>) { self.storage = storage }

    /// Returns nil unless `bytes` has exactly 32 elements.
    init?(_ bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        var value = SIMD32<UInt8>(repeating: 0)
        for index in 0..<32 { value[index] = bytes[index] }
        storage = value
    }

    var bytes: [UInt8] {
        (0..<32).map { storage[$0] }
    }
}

// MARK: - Copies out of spans

// Swift 6.3 has no `Array(Span)` or `append(contentsOf: Span)`; these are the memcpy-speed
// copies the frame scanner and the append path need, so the rest of the ledger speaks in spans.
extension Array where Element == UInt8 {
    /// A copy of `span`'s bytes.
    init(copying span: Span<UInt8>) {
        self = span.withUnsafeBufferPointer { Array($0) }
    }

    /// Appends `span`'s bytes (amortized: no allocation while capacity lasts).
    mutating func append(copying span: Span<UInt8>) {
        span.withUnsafeBufferPointer { append(contentsOf: $0) }
    }
}

/// Which implementations the hot path uses. The CPU's SHA extensions and SSE4.2 `crc32` when
/// CPUID reports them; libsodium's SHA-256 and a table CRC otherwise. Both give identical bytes
/// (tests compare them); `forcePortable` lets tests run the portable paths on any CPU.
enum HashBackend {
    static let sha256Hardware = cledger_sha256_hw_available() != 0
    static let crc32cHardware = cledger_crc32c_hw_available() != 0
    /// Set only by tests, to exercise the fallbacks on a CPU that has the extensions.
    static let forcePortable = Atomic<Bool>(false)

    @inline(__always) static var useSHA256Hardware: Bool {
        sha256Hardware && !forcePortable.load(ordering: .relaxed)
    }

    @inline(__always) static var useCRC32CHardware: Bool {
        crc32cHardware && !forcePortable.load(ordering: .relaxed)
    }
}

enum SHA256 {
    /// SHA-256 of `prefix` (if any) followed by `first` and `second`. Two parts cover every
    /// caller (leaf: 0x00 ‖ record; node: 0x01 ‖ left ‖ right) without a variadic array.
    @inline(__always)
    static func hash(prefix: UInt8?, _ first: Span<UInt8>, _ second: Span<UInt8> = Span()) -> Hash32 {
        HashBackend.useSHA256Hardware
            ? hardwareHash(prefix: prefix, first, second) : portableHash(prefix: prefix, first, second)
    }

    /// The SHA-NI implementation (CLedgerHash). Only valid when `HashBackend.sha256Hardware`.
    static func hardwareHash(prefix: UInt8?, _ first: Span<UInt8>, _ second: Span<UInt8>) -> Hash32 {
        // C boundary: the digest is written straight into the SIMD value (no copy out).
        var out = SIMD32<UInt8>(repeating: 0)
        var prefixByte = prefix ?? 0
        first.withUnsafeBytes { first in
            second.withUnsafeBytes { second in
                withUnsafeMutableBytes(of: &out) { digest in
                    cledger_sha256_hw_bytes(
                        &prefixByte, prefix == nil ? 0 : 1,
                        first.baseAddress, first.count, second.baseAddress, second.count, digest.baseAddress)
                }
            }
        }
        return Hash32(storage: out)
    }

    /// libsodium's portable SHA-256: the fallback, and the reference in tests.
    static func portableHash(prefix: UInt8?, _ first: Span<UInt8>, _ second: Span<UInt8>) -> Hash32 {
        ledgerSodiumInit()
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        if var prefix { _ = crypto_hash_sha256_update(&state, &prefix, 1) }
        // C boundary: libsodium reads each part in place.
        if !first.isEmpty {
            first.withUnsafeBufferPointer { _ = crypto_hash_sha256_update(&state, $0.baseAddress, UInt64($0.count)) }
        }
        if !second.isEmpty {
            second.withUnsafeBufferPointer { _ = crypto_hash_sha256_update(&state, $0.baseAddress, UInt64($0.count)) }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        _ = crypto_hash_sha256_final(&state, &digest)
        var out = SIMD32<UInt8>(repeating: 0)
        for index in 0..<32 { out[index] = digest[index] }
        return Hash32(storage: out)
    }

    static func hash(_ bytes: [UInt8]) -> Hash32 {
        hash(prefix: nil, bytes.span)
    }
}

/// RFC 6962 / RFC 9162 §2.1.1 hashing: domain-separated leaves and interior nodes.
enum MerkleHashing {
    /// MTH of the empty tree: SHA-256 of the empty string.
    static let emptyRoot: Hash32 = SHA256.hash([])

    /// SHA-256(0x00 || leaf bytes).
    static func leaf(_ bytes: Span<UInt8>) -> Hash32 {
        SHA256.hash(prefix: 0x00, bytes)
    }

    static func leaf(_ bytes: [UInt8]) -> Hash32 {
        leaf(bytes.span)
    }

    /// SHA-256(0x01 || left || right).
    static func node(_ left: Hash32, _ right: Hash32) -> Hash32 {
        // One 64-byte buffer: the hash then reads a single contiguous part after the prefix.
        // A tuple of SIMD values has no span of its own; its bytes are viewed in place.
        var pair = (left.storage, right.storage)
        return withUnsafeBytes(of: &pair) { SHA256.hash(prefix: 0x01, Span(_unsafeBytes: $0)) }
    }
}

enum Base64 {
    /// Standard (RFC 4648 §4, padded) base64, as used by signed notes and checkpoints.
    static func encode(_ bytes: [UInt8]) -> String {
        ledgerSodiumInit()
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        let capacity = sodium_base64_encoded_len(bytes.count, variant)
        var out = [CChar](repeating: 0, count: capacity)
        _ = sodium_bin2base64(&out, capacity, bytes, bytes.count, variant)
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Strict decoding: padded standard alphabet, no whitespace. Returns nil on anything else,
    /// including non-canonical encodings (re-encoding must reproduce the input).
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        ledgerSodiumInit()
        let input = Array(text.utf8)
        guard !input.isEmpty else { return [] }
        var out = [UInt8](repeating: 0, count: input.count)
        var length = 0
        // A String passes as its NUL-terminated UTF-8; the length excludes the NUL.
        let status = sodium_base642bin(
            &out, out.count, String(text), input.count, nil, &length, nil, Int32(sodium_base64_VARIANT_ORIGINAL))
        guard status == 0 else { return nil }
        let decoded = Array(out.prefix(length))
        guard encode(decoded) == String(decoding: input, as: UTF8.self) else { return nil }
        return decoded
    }
}

enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the frame checksum. It detects torn
/// writes and bit rot; tamper evidence comes from the Merkle tree and signatures, not from this.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: Span<UInt8>, seed: UInt32 = 0) -> UInt32 {
        guard !bytes.isEmpty else { return seed }
        if HashBackend.useCRC32CHardware {
            // C boundary: the SSE4.2 loop reads the bytes in place.
            return bytes.withUnsafeBufferPointer { cledger_crc32c_hw(seed, $0.baseAddress, $0.count) }
        }
        return portableChecksum(bytes, seed: seed)
    }

    /// Byte-at-a-time table CRC: the fallback, and the reference the hardware path is tested against.
    static func portableChecksum(_ bytes: Span<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        let table = table.span
        for index in bytes.indices { crc = table[Int((crc ^ UInt32(bytes[index])) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        checksum(bytes.span)
    }
}

/// Constant-time comparison for secrets and signatures.
func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
