public import Logging

/// A `LogHandler` that forwards only declared events with declared, well-formed metadata to an
/// upstream handler, and drops and counts everything else.
///
/// Like Private Cloud Compute's structured logging, it does not try to recognize content; it
/// lets through only what was declared in advance, so request text, prompts, audio and
/// transcripts cannot reach a log by accident:
///
/// - A record whose message is not exactly one of ``LogSchema/events`` is dropped whole
///   (``LogDropReason/undeclaredEvent``): a message is free text.
/// - A metadata entry whose key is not declared, or whose value does not have the key's
///   ``MetadataShape``, or is a dictionary or an array, is removed; the record still goes.
/// - The error attached to a record is removed (its description is free text).
/// - The handler's own metadata (set through ``subscript(metadataKey:)`` or ``metadata``) is
///   filtered when it is set, and ``metadataProvider`` output each time a record is logged.
///
/// Each removal is counted in ``drops`` by reason, never by value. The upstream's own metadata
/// and metadata provider are taken over at ``init(wrapping:schema:drops:)`` and filtered the same
/// way, so nothing reaches the upstream around the filter.
///
/// ```swift
/// let schema = try LogSchema(
///     events: ["request.completed"],
///     metadata: ["request_id": .identifier, "output_tokens": .integer, "elapsed": .duration])
/// let drops = LogDropCounters()
/// LoggingSystem.bootstrap { label in
///     DeclaredLogHandler(wrapping: StreamLogHandler.standardOutput(label: label), schema: schema, drops: drops)
/// }
/// let logger = Logger(label: "inference")
/// logger.info("request.completed", metadata: ["request_id": "r-42", "output_tokens": "118", "elapsed": "1.5s"])
/// logger.info("user said: \(prompt)")  // dropped whole, drops.count(of: .undeclaredEvent) == 1
/// ```
public struct DeclaredLogHandler: LogHandler {
    /// What passes.
    public let schema: LogSchema
    /// What was dropped, shared by every copy of this handler.
    public let drops: LogDropCounters
    private var upstream: any LogHandler
    private var filteredMetadata: Logger.Metadata = [:]
    private var provider: Logger.MetadataProvider?

    /// Wraps `upstream`. Its current metadata is filtered into this handler's, and its metadata
    /// provider becomes this handler's (so its output is filtered too); the upstream keeps neither.
    /// - Parameters:
    ///   - upstream: Where the records that pass go, e.g. `StreamLogHandler.standardOutput(label:)`.
    ///   - schema: The events and metadata that pass.
    ///   - drops: Where drops are counted; pass one instance to every handler an operator watches.
    public init(wrapping upstream: some LogHandler, schema: LogSchema, drops: LogDropCounters = LogDropCounters()) {
        var upstream = upstream
        self.schema = schema
        self.drops = drops
        self.provider = upstream.metadataProvider
        // Only set when there is something to clear: a handler without provider support logs a
        // warning from its default setter.
        if upstream.metadataProvider != nil { upstream.metadataProvider = nil }
        let inherited = upstream.metadata
        upstream.metadata = [:]
        self.upstream = upstream
        self.filteredMetadata = filter(inherited)
    }

    public var logLevel: Logger.Level {
        get { upstream.logLevel }
        set { upstream.logLevel = newValue }
    }

    /// The handler's metadata, as filtered when it was set: an undeclared or malformed entry is
    /// removed (and counted) at once, so it is not kept in the handler either.
    public var metadata: Logger.Metadata {
        get { filteredMetadata }
        set { filteredMetadata = filter(newValue) }
    }

    /// One entry of ``metadata``. Setting an undeclared key or a malformed value removes the
    /// entry (counted) instead of storing it; setting `nil` removes it.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { filteredMetadata[key] }
        set {
            guard let newValue else {
                filteredMetadata.removeValue(forKey: key)
                return
            }
            var tally = DropTally()
            if let accepted = accept(key: key, value: newValue, tally: &tally) {
                filteredMetadata[key] = accepted
            } else {
                // A rejected value replaces the old one with nothing, as a set would.
                filteredMetadata.removeValue(forKey: key)
            }
            drops.record(tally)
        }
    }

    /// Filtered at each record, as the upstream's own provider would have been called.
    public var metadataProvider: Logger.MetadataProvider? {
        get { provider }
        set { provider = newValue }
    }

    public func log(event: LogEvent) {
        guard schema.events.contains(event.message.description) else {
            drops.record(.undeclaredEvent)
            return
        }
        var tally = DropTally()
        // Precedence as in swift-log's own handlers: handler metadata, then the provider's, then
        // the call's; each source is filtered before it is merged.
        var merged = filteredMetadata
        if let provided = provider?.get(), !provided.isEmpty {
            merged.merge(filter(provided, tally: &tally)) { _, new in new }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(filter(explicit, tally: &tally)) { _, new in new }
        }
        if event.error != nil { tally.add(.attachedError) }

        let forwarded = LogEvent(
            level: event.level, message: event.message, error: nil, metadata: merged.isEmpty ? nil : merged,
            source: event.source, file: event.file, function: event.function, line: event.line)
        upstream.log(event: forwarded)
        drops.record(tally, forwardedRecord: true)
    }

    // MARK: - Filtering

    private func filter(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var tally = DropTally()
        let kept = filter(metadata, tally: &tally)
        drops.record(tally)
        return kept
    }

    private func filter(_ metadata: Logger.Metadata, tally: inout DropTally) -> Logger.Metadata {
        var kept: Logger.Metadata = [:]
        for (key, value) in metadata {
            if let accepted = accept(key: key, value: value, tally: &tally) { kept[key] = accepted }
        }
        return kept
    }

    /// The value to forward for `key`, or nil (counted) if it must not pass. A
    /// `stringConvertible` value is forwarded as the string that was checked, so a description
    /// that changes between calls cannot slip past the check.
    private func accept(key: String, value: Logger.Metadata.Value, tally: inout DropTally) -> Logger.Metadata.Value? {
        guard let shape = schema.metadata[key] else {
            tally.add(.undeclaredKey)
            return nil
        }
        let text: String
        switch value {
        case .string(let string): text = string
        case .stringConvertible(let convertible): text = convertible.description
        case .dictionary, .array:
            tally.add(.nestedValue)
            return nil
        }
        guard shape.accepts(text) else {
            tally.add(.malformedValue)
            return nil
        }
        if case .string = value { return value }
        return .string(text)
    }
}
