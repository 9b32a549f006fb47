// swift-tools-version:6.1
// The server integrations: their own package, so that the root library and the CLI keep no
// package dependencies. Each product adapts one server library to the vault.
import PackageDescription

let package = Package(
    name: "zero-retention-integrations",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ZeroRetentionNIO", targets: ["ZeroRetentionNIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
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
            ]),
        .testTarget(
            name: "ZeroRetentionNIOTests",
            dependencies: [
                "ZeroRetentionNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
    ]
)
