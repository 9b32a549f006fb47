// The hardware hash paths (SHA-NI SHA-256, SSE4.2 CRC-32C) against the portable ones they
// replace (libsodium's SHA-256, the table CRC) and against published vectors, so the ledger's
// bytes cannot depend on which CPU wrote them.

import Testing
@testable import RetentionLedger
import RetentionVocabulary

/// A deterministic byte source (SplitMix64), so every run checks the same inputs.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

private func hex(_ hash: Hash32) -> String { Hex.encode(hash.bytes) }

/// FIPS 180-2 appendix B vectors: "abc", the 448-bit message, one million 'a'.
private let fipsVectors: [([UInt8], String)] = [
    (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000),
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
]

@Suite("Hash backends: SHA-NI and CRC-32C agree with the portable code")
struct HashBackendTests {
    @Test("portable SHA-256 matches the FIPS vectors") func portableSHA256MatchesFIPSVectors() {
        for (message, digest) in fipsVectors {
            #expect(hex(SHA256.portableHash(prefix: nil, message.span, Span())) == digest)
        }
    }

    @Test("hardware SHA-256 matches the FIPS vectors", .enabled(if: HashBackend.sha256Hardware, "the CPU has no SHA extensions"))
    func hardwareSHA256MatchesFIPSVectors() {
        for (message, digest) in fipsVectors {
            #expect(hex(SHA256.hardwareHash(prefix: nil, message.span, Span())) == digest)
        }
    }

    @Test("hardware SHA-256 matches libsodium over every length and split", .enabled(if: HashBackend.sha256Hardware, "the CPU has no SHA extensions"))
    func hardwareSHA256MatchesLibsodiumOverEveryLengthAndSplit() {
        var random = SplitMix(state: 0x5EED)
        let source = random.bytes(12_000)
        var lengths = Array(0...1000)
        for _ in 0..<200 { lengths.append(Int(random.next() % 12_000)) }
        var mismatches = 0
        let all = source.span
        for length in lengths {
            // Several ways to split the input between the prefix byte and the two parts, so
            // buffering across part boundaries is exercised at every block offset.
            let cut = length == 0 ? 0 : Int(random.next() % UInt64(length + 1))
            let first = all.extracting(0..<cut)
            let second = all.extracting(cut..<length)
            for prefix: UInt8? in [nil, 0x00, 0x01] {
                if SHA256.hardwareHash(prefix: prefix, first, second) != SHA256.portableHash(prefix: prefix, first, second) {
                    mismatches += 1
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("CRC-32C matches the check value on both paths") func crc32cMatchesTheCheckValueOnBothPaths() {
        // The CRC-32C check value (RFC 3720 / the Rocksoft catalogue): CRC of "123456789".
        let check = Array("123456789".utf8)
        #expect(CRC32C.portableChecksum(check.span) == 0xE306_9283)
        if HashBackend.crc32cHardware { #expect(CRC32C.checksum(check) == 0xE306_9283) }
    }

    @Test("hardware CRC-32C matches the table over every length and seed", .enabled(if: HashBackend.crc32cHardware, "the CPU has no SSE4.2"))
    func hardwareCRC32CMatchesTheTableOverEveryLengthAndSeed() {
        var random = SplitMix(state: 0xC0FFEE)
        let source = random.bytes(2_000)
        var mismatches = 0
        let all = source.span
        for length in 0...1_000 {
            let start = Int(random.next() % 64)
            let bytes = all.extracting(start..<(start + length))
            let seed = length % 3 == 0 ? 0 : UInt32(truncatingIfNeeded: random.next())
            if CRC32C.checksum(bytes, seed: seed) != CRC32C.portableChecksum(bytes, seed: seed) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// The switch tests use to run the fallbacks on any CPU really routes around the hardware,
    /// and a ledger written that way is byte-for-byte the ledger written with the hardware.
    @Test("forcing the portable paths writes the same ledger") func forcingThePortablePathsWritesTheSameLedger() throws {
        func writeLedger() throws -> [UInt8] {
            let directory = TemporaryDirectory()
            defer { directory.cleanup() }
            let path = directory.file("ledger")
            let signer = try SigningKey(signerKey: goSignerKey)
            let ledger = try Ledger(path: path, registry: testRegistry, signer: signer, configuration: quietConfiguration(checkpointEvery: 7))
            for n in 0..<40 { try ledger.append(.discardReceipt(sampleReceipt(request(UInt64(n))))) }
            _ = try ledger.checkpoint()
            try ledger.close()
            return readFile(path)
        }
        HashBackend.forcePortable.store(true, ordering: .relaxed)
        let portable = Result { try writeLedger() }
        #expect(!HashBackend.useSHA256Hardware && !HashBackend.useCRC32CHardware)
        HashBackend.forcePortable.store(false, ordering: .relaxed)
        let native = try writeLedger()
        #expect(try portable.get() == native)
    }
}
