// swift-tools-version: 6.1
// libFuzzer targets. Their own package so that the main package's `swift build` never sees
// executables that need -sanitize=fuzzer. Build and run with Fuzz/run.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between clones: derive it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "content-vault-fuzz",
    dependencies: [.package(path: "../")],
    targets: [
        .executableTarget(name: "FuzzSmoke", dependencies: [.product(name: "RetentionLedger", package: root)]),
    ]
)
