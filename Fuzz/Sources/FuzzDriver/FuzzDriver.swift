// The libFuzzer glue every target shares. A target's main.swift defines the two C symbols
// (`LLVMFuzzerTestOneInput`, and `<Target>_main`, which SwiftPM makes the executable's `main`)
// and forwards them here.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FuzzEntries

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// Hands control to libFuzzer's driver (command-line flags, corpus, crash reporting).
public func runFuzzer(
    _ argc: Int32,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, testOneInput)
}

/// Whether known (reported, still open) issues stop the fuzzer too.
private let strict = getenv("ZDR_FUZZ_STRICT").map { String(cString: $0) == "1" } ?? false

/// Runs one input through `entry`. A property violation aborts, which libFuzzer reports as a
/// crash and saves the input for Fuzz/FailCases.
public func runEntry(_ entry: FuzzEntry, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try entry(input)
    } catch {
        if error.knownIssue != nil && !strict { return 0 }
        let message = Array("fuzz property violated: \(error.description)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        abort()
    }
    return 0
}
