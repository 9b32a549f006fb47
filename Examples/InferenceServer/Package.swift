// swift-tools-version:6.1
// The reference inference server: Hummingbird 2 with the zero-retention integrations, fake
// engines (documented byte transforms, no model weights), a demo policy and a local ledger.
import PackageDescription

let package = Package(
    name: "inference-server",
    products: [
        .executable(name: "inference-server", targets: ["InferenceServer"]),
    ],
    dependencies: [
        // Named, because a path dependency's identity is otherwise its directory's name.
        .package(name: "content-vault", path: "../../"),
        .package(name: "zero-retention-integrations", path: "../../Integrations"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "InferenceServer",
            dependencies: [
                .product(name: "ZeroRetention", package: "content-vault"),
                .product(name: "ContentJSON", package: "content-vault"),
                .product(name: "ZeroRetentionNIO", package: "zero-retention-integrations"),
                .product(name: "ZeroRetentionHummingbird", package: "zero-retention-integrations"),
                .product(name: "ZeroRetentionLogging", package: "zero-retention-integrations"),
                .product(name: "ZeroRetentionWebSocket", package: "zero-retention-integrations"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
