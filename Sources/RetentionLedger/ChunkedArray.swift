// Append-only storage in fixed-size chunks, for the per-record columns that grow with the
// ledger (Merkle tree levels, the receipt list). A doubling `Array` copies every element and
// touches twice the memory at each growth; at a million records that was a tenth of an
// append's CPU (page faults and memmove). Chunks never move once written.

struct ChunkedArray<Element: Sendable>: Sendable {
    private static var chunkShift: Int { 14 }
    private static var chunkSize: Int { 1 << chunkShift }
    private static var chunkMask: Int { chunkSize - 1 }

    private var chunks: [[Element]] = []
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count & Self.chunkMask == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    subscript(index: Int) -> Element {
        chunks[index >> Self.chunkShift][index & Self.chunkMask]
    }

    mutating func removeAll() {
        chunks = []
        count = 0
    }

    /// Calls `body` with every element in order.
    func forEach(_ body: (Element) -> Void) {
        for chunk in chunks { for element in chunk { body(element) } }
    }
}
