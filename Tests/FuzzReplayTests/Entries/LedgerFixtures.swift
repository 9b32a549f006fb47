// What the ledger entries share: a fixed test signing key (the seeds in Fuzz/Corpus were
// written with it, so their signatures verify), a scratch directory, and CRC-32C so mutated
// frames can be given valid checksums again.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RetentionLedger
import RetentionVocabulary

/// The fixed test key. Never used outside fuzzing and these tests.
enum FuzzLedgerKey {
    static let signerKeyText =
        "PRIVATE+KEY+fuzz.example/zdr-ledger+920d95f1+Acu7xBBsZRmQOOQ4NI9VdX0xnpO2YK7WJ+pjBFSz9mTK"
    static let verifierKeyText = "fuzz.example/zdr-ledger+920d95f1+Abq9kIA3Ow4gdNJRdjZUnsuT1x1pM9UWPL4y5V8HJns5"
    static let verifier: VerifierKey = try! VerifierKey(verifierKeyText)

    /// A fresh signer each time: a ledger evolves its signer's epoch in place.
    static func signer() -> SigningKey { try! SigningKey(signerKey: signerKeyText) }

    /// The identifiers the seed ledgers use.
    static let registry = IdentifierRegistry(
        workspaces: [Identifier("acme")!], agents: [Identifier("support-bot")!],
        models: [Identifier("tts-fast")!], providers: [Identifier("realtime-llm")!])
}

/// Files for entries that need a path: one directory per process, on tmpfs when there is one
/// (fsync there is cheap, and the fuzzer runs thousands of inputs a second).
enum FuzzScratch {
    static let directory: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let path = "\(base)/zdr-fuzz-\(getpid())"
        mkdir(path, 0o700)
        atexit { rmdir(FuzzScratch.directory) }
        return path
    }()

    /// A fresh path in the scratch directory (unique, since replay tests run in parallel);
    /// the caller removes the file.
    static func path(_ name: String) -> String { "\(directory)/\(name)-\(UInt64.random(in: 0...UInt64.max))" }

    static func store(_ bytes: [UInt8], at path: String) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "fuzz scratch file cannot be created")
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            precondition(count > 0, "fuzz scratch file cannot be written")
            written += count
        }
    }

    static func load(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return out }
            out.append(contentsOf: chunk[0..<count])
        }
    }
}

/// CRC-32C (Castagnoli), as the ledger's frames and header use; written out here from the
/// definition so a mismatch with the ledger's own is a finding too.
enum ReferenceCRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }
}

func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
     UInt8(truncatingIfNeeded: value)]
}

/// RFC 6962 root of `leaves` (leaf contents), for cross-checking the ledger's tree.
func referenceRoot(_ leaves: [[UInt8]]) -> [UInt8]? {
    guard !leaves.isEmpty else { return nil }
    func root(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
        if hashes.count == 1 { return hashes.first! }
        var k = 1
        while k << 1 < hashes.count { k <<= 1 }
        let start = hashes.startIndex
        return MerkleProofs.nodeHash(root(hashes[start..<(start + k)]), root(hashes[(start + k)...]))!
    }
    return root(ArraySlice(leaves.map(MerkleProofs.leafHash)))
}
