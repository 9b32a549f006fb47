import Foundation
import Logging

/// What an upstream handler received, in full: each event's level, message, metadata, error and
/// source, and the metadata and provider the handler itself still holds.
final class Capture: @unchecked Sendable {
    struct Received {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata?
        var errorDescription: String?
        var source: String
    }

    private let lock = NSLock()
    private var events: [Received] = []

    var received: [Received] { lock.withLock { events } }

    func append(_ event: Received) { lock.withLock { events.append(event) } }

    /// Everything received, as text: what a real upstream could have written out.
    func renderedText(plus handler: CapturingLogHandler? = nil) -> String {
        var text = received.map { event in
            "\(event.level) \(event.message) \(render(event.metadata)) \(event.errorDescription ?? "") \(event.source)"
        }.joined(separator: "\n")
        if let handler {
            text += "\n" + render(handler.metadata) + " " + render(handler.metadataProvider?.get())
        }
        return text
    }
}

/// Renders metadata down to every nested leaf, so a canary anywhere inside shows up.
func render(_ metadata: Logger.Metadata?) -> String {
    guard let metadata else { return "" }
    return metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\(render($0.value))" }.joined(separator: " ")
}

func render(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let string): string
    case .stringConvertible(let convertible): convertible.description
    case .dictionary(let dictionary): "{" + render(dictionary) + "}"
    case .array(let array): "[" + array.map(render).joined(separator: ",") + "]"
    }
}

/// An upstream that records everything it is given.
struct CapturingLogHandler: LogHandler {
    let capture: Capture
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    init(_ capture: Capture, metadata: Logger.Metadata = [:], metadataProvider: Logger.MetadataProvider? = nil) {
        self.capture = capture
        self.metadata = metadata
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // As a real handler would: its own metadata and provider's output are merged in.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        capture.append(Capture.Received(
            level: event.level, message: event.message.description, metadata: merged.isEmpty ? nil : merged,
            errorDescription: event.error.map { String(describing: $0) }, source: event.source))
    }
}

/// A fresh random string per test, so a match can only come from the test that planted it.
func makeCanary() -> String { "canary" + UUID().uuidString.replacingOccurrences(of: "-", with: "") }

/// An error whose description is request content.
struct ContentCarryingError: Error, CustomStringConvertible {
    var text: String
    var description: String { "upstream failed on: \(text)" }
}
