import Foundation

/// What a child run of this test binary printed and how it ended.
struct ChildRun {
    let output: String
    let errors: String
    let reason: Process.TerminationReason
    let status: Int32

    /// The output lines that start with `prefix`, without it.
    func lines(prefixed prefix: String) -> [Substring] {
        output.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count) }
    }
}

/// Runs this test binary again as a child that runs only the tests matching `filter`, with
/// `variable` set to `value` (the child half of a test acts only when it finds it), optionally
/// behind `wrapper` (e.g. `setpriv … --`). Tests whose passing outcome is a fault, an abort or a
/// refused start use this: fork is unsafe in Swift, spawning /proc/self/exe is not.
func runTestChild(filter: String, variable: String, value: String, wrapper: [String] = []) throws -> ChildRun {
    let child = Process()
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let arguments = [testBinary.path, "--testing-library", "swift-testing", "--filter", filter]
    if let program = wrapper.first {
        child.executableURL = URL(fileURLWithPath: program)
        child.arguments = Array(wrapper.dropFirst()) + arguments
    } else {
        child.executableURL = testBinary
        child.arguments = Array(arguments.dropFirst())
    }
    var environment = ProcessInfo.processInfo.environment
    environment[variable] = value
    child.environment = environment
    let output = Pipe()
    let errors = Pipe()
    child.standardOutput = output
    child.standardError = errors
    try child.run()
    // Drain stderr on its own thread so neither pipe can fill and block the child.
    let errorText = LockedText()
    let reader = Thread { errorText.set(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) }
    reader.start()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    while !errorText.isSet { usleep(1000) }
    return ChildRun(output: text, errors: errorText.value, reason: child.terminationReason, status: child.terminationStatus)
}

/// A string set once by another thread.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    func set(_ value: String) { lock.lock(); text = value; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return text != nil }
    var value: String { lock.lock(); defer { lock.unlock() }; return text ?? "" }
}
