// swift-tools-version: 6.1
// Benchmarks for content-vault, kept in their own package (as apple/swift-nio does) so the main
// package stays free of dependencies. Each suite runs our code next to its baselines in the same
// run: malloc, sodium_malloc, raw libsodium AEAD, fsync per record, SQLite.
//
//   swift package --disable-sandbox benchmark            # every suite
//   swift package --disable-sandbox benchmark --target LockedMemory
//
// See Docs/Performance.md for the figures and the short CI ("smoke") invocation.
import PackageDescription

let benchmarkPlugin: [Target.PluginUsage] = [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]

let package = Package(
    name: "content-vault-benchmarks",
    dependencies: [
        // Named, because a path dependency's identity is otherwise its directory's name, which
        // differs between clones (CI, worktrees).
        .package(name: "content-vault", path: "../"),
        .package(
            url: "https://github.com/ordo-one/package-benchmark",
            from: "1.38.1",
            traits: ["MallocInterposer"]
        ),
    ],
    targets: [
        // libsodium for the baselines (sodium_malloc, raw AEAD). The main package's CVaultSodium
        // is not a product, so the benchmarks declare their own module over the same library.
        .systemLibrary(
            name: "CBenchSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // SQLite, the baseline for the ledger's durable appends (Debian `libsqlite3-dev`).
        .systemLibrary(
            name: "CBenchSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // C baselines that split the pool's release into wipe, verification read and bookkeeping.
        .target(name: "CBenchBaselines", dependencies: ["CBenchSodium"]),
        // What the suites share: run length (full or CI smoke).
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "LockedMemory",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                "CBenchSodium",
                "CBenchBaselines",
                "BenchmarkSupport",
            ],
            path: "Benchmarks/LockedMemory",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "RequestScope",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                "CBenchSodium",
                "BenchmarkSupport",
            ],
            path: "Benchmarks/RequestScope",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "Ledger",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "RetentionLedger", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                "CBenchSQLite",
                "BenchmarkSupport",
            ],
            path: "Benchmarks/Ledger",
            plugins: benchmarkPlugin
        ),
    ],
    swiftLanguageModes: [.v6]
)
