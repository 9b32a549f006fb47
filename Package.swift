// swift-tools-version: 6.1
// The content vault. Layers, each depending only on those below it (Docs/Architecture.md; the
// lattice is checked by .ci/check-lattice):
//
//   ZeroRetention        the front door a server imports: AuditedVault, decisions and receipts
//                        into ledger records
//   ContentJSON          content-safe JSON over spans of locked memory (on ContentVault)
//   ContentVault  RetentionPolicy  RetentionLedger   independent of one another
//   RetentionVocabulary  pure metadata values, no dependencies
//
// No package dependencies: libsodium comes from the system (Debian `libsodium-dev`).
import PackageDescription

/// Every Swift target: imports are internal unless written `public import`, so a module's
/// dependencies never leak into its clients by accident.
let strict: [SwiftSetting] = [.enableUpcomingFeature("InternalImportsByDefault")]

let package = Package(
    name: "content-vault",
    products: [
        .library(name: "ZeroRetention", targets: ["ZeroRetention"]),
        .library(name: "RetentionVocabulary", targets: ["RetentionVocabulary"]),
        .library(name: "ContentVault", targets: ["ContentVault"]),
        .library(name: "RetentionLedger", targets: ["RetentionLedger"]),
        .library(name: "RetentionPolicy", targets: ["RetentionPolicy"]),
        .library(name: "ContentJSON", targets: ["ContentJSON"]),
        .executable(name: "zdr", targets: ["zdr"]),
    ],
    targets: [
        // C below everything.
        // libsodium, found with pkg-config. The module name is ours alone so that a host that
        // also links another libsodium wrapper (`Clibsodium`, `CSodium`) has no clash.
        .systemLibrary(
            name: "CVaultSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // The few things Swift cannot say directly: the memfd_secret syscall, Linux constants,
        // the async-signal-safe purge registry and signal handlers, and the key generator.
        .target(name: "CVaultSystem", dependencies: ["CVaultSodium"]),
        // SHA-256 with the x86 SHA extensions and CRC-32C with SSE4.2, for the ledger's hot path
        // (libsodium's SHA-256 is portable C); used only when CPUID reports them.
        .target(name: "CLedgerHash"),

        // The one way to call the OS from Swift: Errno, the EINTR retry, file calls behind a seam
        // that tests can make fail. Pure Swift over the C library.
        .target(name: "VaultSystem", swiftSettings: strict),
        // The metadata every layer speaks: request ids, identifiers, products, data classes,
        // reasons, the discard receipt. Numbers, enums and declared names only.
        .target(name: "RetentionVocabulary", swiftSettings: strict),
        // Locked, guarded, wiped memory and request scopes. Knows nothing of policy or ledger.
        .target(
            name: "ContentVault",
            dependencies: ["RetentionVocabulary", "VaultSystem", "CVaultSodium", "CVaultSystem"],
            swiftSettings: strict
        ),
        // Pure decisions over the vocabulary: which requests are zero-retention, and eligible.
        .target(name: "RetentionPolicy", dependencies: ["RetentionVocabulary", "VaultSystem"], swiftSettings: strict),
        // The ledger cannot name a content type: it sees the vocabulary, libsodium and its hashes.
        .target(
            name: "RetentionLedger",
            dependencies: ["RetentionVocabulary", "VaultSystem", "CVaultSodium", "CLedgerHash"],
            swiftSettings: strict
        ),
        // JSON request and response bodies read and written inside a scope's locked scratch:
        // a tape of kinds and offsets, strings unescaped into locked memory, never a String.
        .target(name: "ContentJSON", dependencies: ["ContentVault", "RetentionVocabulary"], swiftSettings: strict),
        // The three joined: every request decided by the policy and recorded in the ledger.
        .target(
            name: "ZeroRetention",
            dependencies: ["RetentionVocabulary", "ContentVault", "RetentionPolicy", "RetentionLedger", "ContentJSON"],
            swiftSettings: strict
        ),
        // The diagnostics CLI. It still reaches CVaultSystem and CVaultSodium directly for its
        // probes and scanner scratch memory (to move behind a platform layer: issue 16).
        .executableTarget(
            name: "zdr",
            dependencies: ["ZeroRetention", "RetentionLedger", "VaultSystem", "CVaultSystem", "CVaultSodium"],
            swiftSettings: strict
        ),

        .testTarget(name: "VaultSystemTests", dependencies: ["VaultSystem"]),
        .testTarget(name: "RetentionVocabularyTests", dependencies: ["RetentionVocabulary"]),
        .testTarget(
            name: "ContentVaultTests",
            dependencies: ["ContentVault", "RetentionVocabulary", "VaultSystem", "CVaultSystem", "CVaultSodium"]),
        .testTarget(name: "RetentionPolicyTests", dependencies: ["RetentionPolicy", "RetentionVocabulary"]),
        .testTarget(name: "RetentionLedgerTests", dependencies: ["RetentionLedger", "RetentionVocabulary", "VaultSystem"]),
        .testTarget(name: "ContentJSONTests", dependencies: ["ContentJSON", "ContentVault", "RetentionVocabulary"]),
        .testTarget(name: "ZeroRetentionTests", dependencies: ["ZeroRetention", "RetentionLedger"]),
        .testTarget(name: "zdrTests", dependencies: ["zdr", "RetentionLedger", "RetentionVocabulary"]),
        // Replays every input under Fuzz/FailCases through the code its fuzz target exercises.
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: ["RetentionVocabulary", "ContentVault", "RetentionLedger", "RetentionPolicy", "ContentJSON"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
