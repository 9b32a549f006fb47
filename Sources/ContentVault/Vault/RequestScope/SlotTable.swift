import RetentionVocabulary

/// One data class's stream.
struct SlotState: Sendable {
    var chunks = ChunkList()
    /// The key of generation `generation`, sealing new chunks; nil before the first chunk and
    /// after a slot wipe.
    var currentKey: KeyBox?
    /// Earlier generations' keys, still opening the stream's older chunks after a rotation (a
    /// stream past the AEAD's per-key limit; almost always empty, so no dictionary).
    var retiredKeys: [KeyBox] = []
    /// Generations keep counting across wipes, so a new stream never reuses a key's number.
    var generation: UInt32 = 0
    /// Whether any generation was drawn, so the next one is `generation + 1`.
    var everKeyed = false
    var bytesUnderCurrentKey = 0
    var plaintextBytes = 0
    var finished = false
    var noncePrefix: (UInt64, UInt64) = (0, 0)

    /// The key that sealed chunks of `generation`, if still held.
    func key(generation: UInt32) -> KeyBox? {
        if let currentKey, currentKey.generation == generation { return currentKey }
        return retiredKeys.first { $0.generation == generation }
    }

    /// Every key the slot holds (current and retired).
    var allKeys: [KeyBox] { retiredKeys + (currentKey.map { [$0] } ?? []) }
}

/// The slots of one scope, one per `DataClass`: a fixed table of twelve references, inline in
/// the scope's state. A dictionary cost an allocation and a hash per access; a table of the
/// slot structs themselves (~1 KiB) cost more in copies of the state (both measured on a 4 KiB
/// request). Iteration is in ascending raw value, the order discard wipes in.
struct SlotTable: Sendable {
    private var storage = InlineArray<12, SlotBox?>(repeating: nil)

    /// A dense index per data class; the exhaustive switch makes a new case a compile error.
    @inline(__always)
    private static func index(_ dataClass: DataClass) -> Int {
        switch dataClass {
        case .textInput: 0
        case .systemPrompt: 1
        case .promptMessages: 2
        case .toolInteraction: 3
        case .completion: 4
        case .audioInput: 5
        case .audioOutput: 6
        case .transcriptOutput: 7
        case .voiceSample: 8
        case .voiceDescription: 9
        case .media: 10
        case .hostDefined: 11
        }
    }

    private static let classes: [DataClass] = DataClass.allCases.sorted { index($0) < index($1) }

    /// The slot, or nil if the class was never used.
    subscript(dataClass: DataClass) -> SlotState? {
        get { storage[Self.index(dataClass)]?.slot }
        set {
            let index = Self.index(dataClass)
            guard let newValue else { storage[index] = nil; return }
            if let box = storage[index] { box.slot = newValue } else { storage[index] = SlotBox(newValue) }
        }
    }

    /// The slot, created empty on first use, modified in place (no copy of its chunk array).
    subscript(dataClass: DataClass, default defaultValue: @autoclosure () -> SlotState) -> SlotState {
        get { storage[Self.index(dataClass)]?.slot ?? defaultValue() }
        _modify {
            let index = Self.index(dataClass)
            let box: SlotBox
            if let existing = storage[index] {
                box = existing
            } else {
                box = SlotBox(defaultValue())
                storage[index] = box
            }
            yield &box.slot
        }
    }

    /// The data classes that have a slot, in ascending raw value.
    var occupied: [DataClass] { Self.classes.filter { storage[Self.index($0)] != nil } }

    /// Calls `body` on every slot in place, in ascending raw value.
    func forEachSlot(_ body: (inout SlotState) -> Void) {
        for index in storage.indices {
            if let box = storage[index] { body(&box.slot) }
        }
    }
}

/// A slot in a class box, so the table holds references. Only touched under the owning
/// scope's lock, which is what makes the `@unchecked Sendable` true.
final class SlotBox: @unchecked Sendable {
    /// Unchecked for the reason given on ``KeyBox/buffer``.
    @exclusivity(unchecked) var slot: SlotState
    init(_ slot: SlotState) { self.slot = slot }
}
