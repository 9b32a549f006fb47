import Foundation
import Testing
@testable import ContentVault

private let unprotectedChildVariable = "ZDR_TEST_UNPROTECTED_CHILD"

/// The child half: makes pools, as the variable says, and prints a marker once they exist.
@Test("child process: a pool on the unprotected backend, or not (runs only when spawned by the test below)",
      .enabled(if: ProcessInfo.processInfo.environment[unprotectedChildVariable] != nil, "the parent test spawns it"))
func unprotectedChildProcess() throws {
    guard let mode = ProcessInfo.processInfo.environment[unprotectedChildVariable] else { return }
    let preference: BackendPreference = mode == "unprotected" ? .unprotected(developmentOptIn: true) : .locked
    let pool = try SecureMemoryPool(configuration: .init(backend: preference, byteBudget: 1 << 20))
    print("ZDR-CHILD pool \(pool.selection.backend)")
}

@Suite("The unprotected backend announces itself")
struct UnprotectedWarningTests {
    @Test("a pool on the unprotected backend writes a warning to standard error; a locked pool writes none")
    func warnsOnStandardError() throws {
        let unprotected = try runTestChild(filter: "unprotectedChildProcess", variable: unprotectedChildVariable, value: "unprotected")
        #expect(unprotected.status == 0)
        #expect(unprotected.lines(prefixed: "ZDR-CHILD pool ") == ["unprotected"])
        #expect(unprotected.errors.contains("zdr: WARNING: unprotected memory backend in use"), "\(unprotected.errors)")
        let locked = try runTestChild(filter: "unprotectedChildProcess", variable: unprotectedChildVariable, value: "locked")
        #expect(locked.status == 0)
        #expect(locked.lines(prefixed: "ZDR-CHILD pool ") == ["locked"])
        #expect(!locked.errors.contains("WARNING"), "\(locked.errors)")
    }
}
