// swift-tools-version: 6.1
// libFuzzer targets. Their own package so that the main package's `swift build` never sees
// executables that need -sanitize=fuzzer. Build and run with Fuzz/run; see Docs/Fuzzing.md.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between clones: derive it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// One executable per fuzz target; its body lives in FuzzEntries.
let fuzzTargets = [
    "FuzzIdentifiers",
    "FuzzPolicyJSON",
    "FuzzLedgerRecord",
    "FuzzLedgerFile",
    "FuzzSignedNote",
    "FuzzReceiptBundle",
    "FuzzMerkleProofs",
    "FuzzSealedChunk",
    "FuzzCLIArguments",
    "FuzzContentJSON",
]

let package = Package(
    name: "content-vault-fuzz",
    dependencies: [.package(path: "../")],
    targets: [
        // Sources/FuzzEntries is a symlink to ../Tests/FuzzReplayTests/Entries: the replay tests
        // compile the same files, so both run the same entry functions.
        .target(
            name: "FuzzEntries",
            dependencies: [
                .product(name: "RetentionVocabulary", package: root),
                .product(name: "RetentionLedger", package: root),
                .product(name: "RetentionPolicy", package: root),
                .product(name: "ContentVault", package: root),
                .product(name: "ContentJSON", package: root),
            ]
        ),
        .target(name: "FuzzDriver", dependencies: ["FuzzEntries"]),
    ] + fuzzTargets.map { .executableTarget(name: $0, dependencies: ["FuzzDriver", "FuzzEntries"]) },
    swiftLanguageModes: [.v6]
)
