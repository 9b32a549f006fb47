// What every suite shares: how long a run is allowed to take.

import Benchmark

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Run length for a suite. The full run gives stable medians; the smoke run (CI) only proves the
/// suites build and run, in seconds: set `VAULT_BENCHMARK_SMOKE=1` in the environment.
public enum RunLength {
    /// Whether `VAULT_BENCHMARK_SMOKE` asks for the short CI run.
    public static let isSmoke: Bool = {
        guard let value = getenv("VAULT_BENCHMARK_SMOKE") else { return false }
        let text = String(cString: value)
        return !text.isEmpty && text != "0"
    }()

    /// A configuration capped at `maxDuration`/`maxIterations` for a full run, and at a few
    /// iterations for a smoke run.
    public static func configuration(
        metrics: [BenchmarkMetric],
        scalingFactor: BenchmarkScalingFactor = .one,
        maxDuration: Duration = .seconds(2),
        maxIterations: Int = 1_000,
        warmupIterations: Int = 3,
        setup: Benchmark.BenchmarkSetupHook? = nil,
        teardown: Benchmark.BenchmarkTeardownHook? = nil
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            timeUnits: .nanoseconds,
            warmupIterations: isSmoke ? 1 : warmupIterations,
            scalingFactor: scalingFactor,
            maxDuration: isSmoke ? .milliseconds(100) : maxDuration,
            maxIterations: isSmoke ? 3 : maxIterations,
            setup: setup,
            teardown: teardown
        )
    }
}

/// Writes one line to standard error (why a variant was skipped, and the like).
public func benchmarkNote(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
