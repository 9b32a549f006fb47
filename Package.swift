// swift-tools-version: 6.1
// The content vault: locked, wiped memory for request content (ContentVault), a tamper-evident
// metadata ledger (RetentionLedger), ZDR policy decisions (RetentionPolicy) and the `zdr` CLI.
// No package dependencies: libsodium comes from the system (Debian `libsodium-dev`).
import PackageDescription

let package = Package(
    name: "content-vault",
    products: [
        .library(name: "ContentVault", targets: ["ContentVault"]),
        .library(name: "RetentionLedger", targets: ["RetentionLedger"]),
        .library(name: "RetentionPolicy", targets: ["RetentionPolicy"]),
        .executable(name: "zdr", targets: ["zdr"]),
    ],
    targets: [
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
        // Pure decisions over the ledger's metadata vocabulary (Product, DataClass, Identifier).
        .target(name: "RetentionPolicy", dependencies: ["RetentionLedger"]),
        // SHA-256 with the x86 SHA extensions and CRC-32C with SSE4.2, for the ledger's hot path
        // (libsodium's SHA-256 is portable C); used only when CPUID reports them.
        .target(name: "CLedgerHash"),
        // The ledger cannot name a content type: it depends on libsodium and its own hashing C only.
        .target(name: "RetentionLedger", dependencies: ["CVaultSodium", "CLedgerHash"]),
        .target(
            name: "ContentVault",
            dependencies: ["CVaultSodium", "CVaultSystem", "RetentionLedger", "RetentionPolicy"]
        ),
        .executableTarget(
            name: "zdr",
            dependencies: ["ContentVault", "RetentionLedger", "RetentionPolicy", "CVaultSystem"]
        ),
        .testTarget(name: "ContentVaultTests", dependencies: ["ContentVault", "CVaultSystem", "RetentionPolicy"]),
        .testTarget(name: "RetentionLedgerTests", dependencies: ["RetentionLedger"]),
        .testTarget(name: "RetentionPolicyTests", dependencies: ["RetentionPolicy"]),
        .testTarget(name: "zdrTests", dependencies: ["zdr"]),
        // Replays every input under Fuzz/FailCases through the code its fuzz target exercises.
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: ["ContentVault", "RetentionLedger", "RetentionPolicy"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
