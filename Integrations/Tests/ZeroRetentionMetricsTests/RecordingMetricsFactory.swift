import Metrics
import Foundation

/// A metrics factory that keeps every value it is given, passed to the reporter directly so that
/// no test bootstraps the global `MetricsSystem`.
final class RecordingMetricsFactory: MetricsFactory, @unchecked Sendable {
    struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)] = []) {
            self.label = label
            self.dimensions = dimensions.map { "\($0.0)=\($0.1)" }
        }
    }

    private let lock = NSLock()
    private var counters: [Key: RecordingCounter] = [:]
    private var recorders: [Key: RecordingRecorder] = [:]

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        lock.withLock {
            let key = Key(label, dimensions)
            if let existing = counters[key] { return existing }
            let counter = RecordingCounter()
            counters[key] = counter
            return counter
        }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        lock.withLock {
            let key = Key(label, dimensions)
            if let existing = recorders[key] { return existing }
            let recorder = RecordingRecorder()
            recorders[key] = recorder
            return recorder
        }
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    /// The counter's total, nil if the reporter never created it.
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> RecordingCounter? {
        lock.withLock { counters[Key(label, dimensions)] }
    }

    /// The gauge, nil if the reporter never created it.
    func gauge(_ label: String) -> RecordingRecorder? {
        lock.withLock { recorders[Key(label)] }
    }

    /// Every label created, counters and gauges.
    var labels: Set<String> {
        lock.withLock { Set(counters.keys.map(\.label)).union(recorders.keys.map(\.label)) }
    }

    /// Every dimension created, as "name=value".
    var dimensions: Set<String> {
        lock.withLock { Set(counters.keys.flatMap(\.dimensions)).union(recorders.keys.flatMap(\.dimensions)) }
    }
}

final class RecordingCounter: CounterHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var increments: [Int64] = []

    func increment(by amount: Int64) { lock.withLock { increments.append(amount) } }
    func reset() { lock.withLock { increments.append(Int64.min) } }  // a reporter must never reset

    var total: Int64 { lock.withLock { increments.reduce(0, &+) } }
    var recordedIncrements: [Int64] { lock.withLock { increments } }
}

final class RecordingRecorder: RecorderHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []

    func record(_ value: Int64) { lock.withLock { values.append(Double(value)) } }
    func record(_ value: Double) { lock.withLock { values.append(value) } }

    var last: Double? { lock.withLock { values.last } }
    var recordedValues: [Double] { lock.withLock { values } }
}
