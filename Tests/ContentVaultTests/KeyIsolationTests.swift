#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RetentionVocabulary
import Testing
@testable import ContentVault

// Issue 12 §1: a linear over- or under-read from content never reaches a key. A child process
// walks byte by byte from a buffer's base; the guard page at the end of its region faults, and
// the fault is the passing outcome.

private let walkChildVariable = "ZDR_VAULT_TEST_KEY_WALK_CHILD"
private let childPrefix = "ZDR-CHILD "
/// The child's exit status when the walk faulted (its SIGSEGV/SIGBUS handler).
private let faultedStatus: Int32 = 42
/// The child's exit status when the walk found a key or another scope's ciphertext.
private let foundStatus: Int32 = 3

private func say(_ line: String) {
    let bytes = Array("\(childPrefix)\(line)\n".utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
}

/// One 32-byte (or shorter) pattern the walk must not meet, and what it is (for the report).
private struct Needle {
    let name: String
    let bytes: [UInt8]
}

/// Walks from `base` one byte at a time, forward or backward, and exits with `foundStatus` at
/// the first needle whose bytes it has read (the window compared is always bytes already read,
/// so the walk's frontier is the only new address it touches). A fault ends the child first.
private func walk(from base: UnsafeRawPointer, forward: Bool, needles: [Needle]) -> Never {
    let limit = 64 << 20
    for distance in 1..<limit {
        let frontier = forward ? base + (distance - 1) : base - distance
        let byte = frontier.load(as: UInt8.self)
        for needle in needles where needle.bytes.count <= distance {
            let start = forward ? frontier - (needle.bytes.count - 1) : frontier
            let edge = forward ? needle.bytes.last! : needle.bytes.first!
            guard byte == edge else { continue }
            if needle.bytes.withUnsafeBytes({ memcmp(start, $0.baseAddress!, $0.count) }) == 0 {
                say("found \(needle.name) \(forward ? "forward" : "backward") at distance \(distance)")
                _exit(foundStatus)
            }
        }
    }
    say("walked \(limit) bytes without a fault")
    _exit(4)
}

private func keyNeedles(_ scope: RequestScope, _ name: String) -> [Needle] {
    scope.withStateForTesting { state in
        state.slots[.textInput]!.allKeys.map { key in
            Needle(name: "\(name)'s key", bytes: key.withBytes { Array($0) })
        }
    }
}

/// The child half: without the variable it does nothing. With it ("scratch-forward",
/// "chunk-backward", …) it opens three scopes with a 40-byte chunk each, reads their keys
/// through the test hook, and walks from scope A's plaintext scratch (inside the access
/// closure) or from A's sealed chunk.
@Test("child process: a linear walk from content (runs only when spawned by the tests below)",
      .enabled(if: ProcessInfo.processInfo.environment[walkChildVariable] != nil, "the parent test spawns it"))
func keyWalkChildProcess() throws {
    guard let mode = ProcessInfo.processInfo.environment[walkChildVariable] else { return }
    for fault in [SIGSEGV, SIGBUS] { signal(fault) { _ in _exit(faultedStatus) } }
    let vault = try makeVault()
    let scopes = try (0..<3).map { _ in try vault.openScope() }
    for (index, scope) in scopes.enumerated() { try scope.append(content(40, seed: index), to: .textInput) }
    var needles = zip(scopes, ["A", "B", "C"]).flatMap { keyNeedles($0, $1) }
    let forward = mode.hasSuffix("forward")
    say("armed \(mode)")
    if mode.hasPrefix("scratch") {
        // From plaintext scratch nothing of another scope is fair game: their ciphertext neither.
        for (scope, name) in zip(scopes.dropFirst(), ["B", "C"]) {
            let (chunk, count) = scope.chunkMemory(.textInput, 0)
            needles.append(Needle(name: "\(name)'s ciphertext", bytes: Array(UnsafeRawBufferPointer(start: chunk, count: count))))
        }
        try scopes[0].withUnsafePlaintext(of: .textInput) { bytes in
            walk(from: bytes.baseAddress!, forward: forward, needles: needles)
        }
    } else {
        let (chunk, _) = scopes[0].chunkMemory(.textInput, 0)
        walk(from: chunk, forward: forward, needles: needles)
    }
}

@Suite("Key isolation: a linear walk from content faults before it reaches a key")
struct KeyIsolationTests {
    @Test("from plaintext scratch and from a sealed chunk, forward and backward",
          arguments: ["scratch-forward", "scratch-backward", "chunk-forward", "chunk-backward"])
    func linearWalkFaultsBeforeAnyKey(mode: String) throws {
        let run = try runTestChild(filter: "keyWalkChildProcess", variable: walkChildVariable, value: mode)
        let text = run.output
        let lines = run.lines(prefixed: childPrefix)
        try #require(lines.contains("armed \(mode)"), "child did not run: \(text.suffix(2000))")
        #expect(run.reason == .exit && run.status == faultedStatus,
                "the walk did not fault: \(lines)")
    }
}
