/// A locked buffer in a class box, so arrays and dictionaries can hold it and discard can take
/// it out for an explicit, verified release. Only touched under the owning scope's lock, which
/// is what makes the `@unchecked Sendable` true.
final class KeyBox: @unchecked Sendable {
    /// Unchecked: only touched under the scope's lock, which already serializes every access;
    /// the runtime check cost a thread-local lookup per access on the hot path.
    @exclusivity(unchecked) var buffer: LockedBuffer?
    /// The slot key generation this key seals.
    let generation: UInt32

    init(_ buffer: consuming LockedBuffer, generation: UInt32) {
        self.buffer = .some(buffer)
        self.generation = generation
    }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        buffer!.withUnsafeBytes(body)
    }
}

/// One sealed chunk: the ciphertext in locked memory (as long as the plaintext, at least one
/// byte) and its authentication tag beside it (not secret).
final class SealedChunk: @unchecked Sendable {
    /// Unchecked for the reason given on ``KeyBox/buffer``.
    @exclusivity(unchecked) var buffer: LockedBuffer?
    let plaintextCount: Int
    let generation: UInt32
    let tag: (UInt64, UInt64)

    init(_ buffer: consuming LockedBuffer, plaintextCount: Int, generation: UInt32, tag: (UInt64, UInt64)) {
        self.buffer = .some(buffer)
        self.plaintextCount = plaintextCount
        self.generation = generation
        self.tag = tag
    }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        buffer!.withUnsafeBytes(body)
    }
}

/// A decrypted chunk in locked scratch (wiped when this value ends).
struct DecryptedChunk: ~Copyable {
    var scratch: LockedBuffer
    let plaintextCount: Int
}

/// A slot's chunks in order: the first held inline, the rest in an array that is allocated only
/// for a second chunk. Most slots of a request hold one chunk, and an `Array` cost that slot an
/// allocation, a uniqueness check on append and a generic storage deinit at discard (~480
/// instructions of a 4 KiB lifecycle, callgrind). Invariant: `rest` is empty when `first` is nil.
struct ChunkList: RandomAccessCollection, MutableCollection, RangeReplaceableCollection, Sendable {
    private var first: SealedChunk?
    private var rest: [SealedChunk] = []

    init() {}

    private init(_ array: [SealedChunk]) {
        first = array.first
        rest = array.count > 1 ? Array(array[1...]) : []
    }

    var startIndex: Int { 0 }
    var endIndex: Int { first == nil ? 0 : 1 &+ rest.count }

    subscript(position: Int) -> SealedChunk {
        get {
            guard position != 0 else {
                guard let first else { preconditionFailure("ChunkList index out of range") }
                return first
            }
            return rest[position - 1]
        }
        set {
            guard position != 0 else {
                precondition(first != nil, "ChunkList index out of range")
                first = newValue
                return
            }
            rest[position - 1] = newValue
        }
    }

    /// The sealing path: no array until a second chunk.
    mutating func append(_ chunk: SealedChunk) {
        if first == nil { first = chunk } else { rest.append(chunk) }
    }

    mutating func removeAll(keepingCapacity keepCapacity: Bool = false) {
        first = nil
        rest = []
    }

    /// Every other change (tests and fuzzers reorder, cut and splice lists) through an array.
    mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with newElements: C) where C.Element == SealedChunk {
        var all = Array(self)
        all.replaceSubrange(subrange, with: newElements)
        self = ChunkList(all)
    }
}
