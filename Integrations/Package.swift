// swift-tools-version:6.1
// The server integrations: their own package, so that the root library and the CLI keep no
// package dependencies. Each product adapts one server library to the vault.
import PackageDescription

let package = Package(
    name: "zero-retention-integrations",
    products: [
        .library(name: "ZeroRetentionNIO", targets: ["ZeroRetentionNIO"]),
        .library(name: "ZeroRetentionHummingbird", targets: ["ZeroRetentionHummingbird"]),
        .library(name: "ZeroRetentionWebSocket", targets: ["ZeroRetentionWebSocket"]),
        .library(name: "ZeroRetentionLogging", targets: ["ZeroRetentionLogging"]),
        .library(name: "ZeroRetentionMetrics", targets: ["ZeroRetentionMetrics"]),
    ],
    dependencies: [
        // Named, because a path dependency's identity is otherwise its directory's name, which
        // differs between clones (CI, worktrees).
        .package(name: "content-vault", path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // No traits: neither swift-configuration nor full Foundation is needed here.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.5.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        // The allocator's four functions, in C: ByteBufferAllocator takes C function pointers,
        // and malloc_usable_size is not in Swift's Glibc module.
        .target(name: "CWipingAllocator"),
        .target(
            name: "ZeroRetentionNIO",
            dependencies: [
                "CWipingAllocator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
            ]),
        .testTarget(
            name: "ZeroRetentionNIOTests",
            dependencies: [
                "ZeroRetentionNIO",
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .target(
            name: "ZeroRetentionHummingbird",
            dependencies: [
                "ZeroRetentionNIO",
                .product(name: "ZeroRetention", package: "content-vault"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Shared by the test targets: a server on a loopback port, plain-socket clients.
        .target(
            name: "LoopbackTestSupport",
            dependencies: [
                "ZeroRetentionHummingbird",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/LoopbackTestSupport"),
        .testTarget(
            name: "ZeroRetentionHummingbirdTests",
            dependencies: [
                "LoopbackTestSupport",
                "ZeroRetentionHummingbird",
                "ZeroRetentionNIO",
                .product(name: "ZeroRetention", package: "content-vault"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionVocabulary", package: "content-vault"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ZeroRetentionWebSocket",
            dependencies: [
                "ZeroRetentionHummingbird",
                "ZeroRetentionNIO",
                .product(name: "ZeroRetention", package: "content-vault"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ZeroRetentionWebSocketTests",
            dependencies: [
                "LoopbackTestSupport",
                "ZeroRetentionWebSocket",
                "ZeroRetentionHummingbird",
                "ZeroRetentionNIO",
                .product(name: "ZeroRetention", package: "content-vault"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ZeroRetentionLogging",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ZeroRetentionLoggingTests",
            dependencies: [
                "ZeroRetentionLogging",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ZeroRetentionMetrics",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionLedger", package: "content-vault"),
            ]),
        .testTarget(
            name: "ZeroRetentionMetricsTests",
            dependencies: [
                "ZeroRetentionMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ContentVault", package: "content-vault"),
                .product(name: "RetentionLedger", package: "content-vault"),
            ]),
    ]
)
