#if canImport(Glibc)
import Glibc
#endif
import CVaultSystem
import CVaultSodium
import RetentionVocabulary
import Synchronization
import Testing
@testable import ContentVault

@Suite("Request scopes: sealing, access, tampering, crypto-shredding, redaction")
struct ScopeTests {
    @Test("every slot kind round-trips as one chunk", arguments: realBackends, availableAEADs)
    func roundTripSync(backend: MemoryBackend, aead: AEADAlgorithm) throws {
        let vault = try makeVault(backend, aead: aead)
        let scope = try vault.openScope()
        for (offset, dataClass) in DataClass.allCases.enumerated() {
            try scope.append(content(100 + offset, seed: offset), to: dataClass)
        }
        for (offset, dataClass) in DataClass.allCases.enumerated() {
            #expect(try scope.plaintext(of: dataClass) == content(100 + offset, seed: offset))
            #expect(try scope.chunkCount(of: dataClass) == 1)
            #expect(try scope.byteCount(of: dataClass) == 100 + offset)
        }
        #expect(try scope.occupiedSlots() == DataClass.allCases)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.chunksWiped == DataClass.allCases.count)
        #expect(receipt.slotsWiped == DataClass.allCases.count)
        #expect(receipt.keyDestroyed)
        #expect(receipt.aead == aead)
        #expect(receipt.backend == backend)
        #expect(vault.pool.statistics.liveBuffers == 0)
    }

    @Test("streaming: chunks read back in order, singly and whole", arguments: realBackends, availableAEADs)
    func roundTripStreaming(backend: MemoryBackend, aead: AEADAlgorithm) throws {
        let vault = try makeVault(backend, aead: aead)
        let scope = try vault.openScope()
        let streams: [DataClass] = [.audioInput, .audioOutput, .completion, .transcriptOutput]
        let sizes = [1, 0, 4096, 37, 70_000, 3]
        for dataClass in streams {
            for (index, size) in sizes.enumerated() {
                try scope.append(content(size, seed: index), to: dataClass, final: index == sizes.count - 1)
            }
        }
        for dataClass in streams {
            var seen: [Int] = []
            try scope.forEachChunk(of: dataClass) { index, span in
                #expect(copyBytes(span) == content(sizes[index], seed: index))
                seen.append(index)
            }
            #expect(seen == Array(sizes.indices))
            #expect(try scope.plaintext(of: dataClass) == sizes.enumerated().flatMap { content($0.element, seed: $0.offset) })
            #expect(throws: VaultError.slotFinished(slot: dataClass)) { try scope.append([1], to: dataClass) }
        }
        #expect(try scope.plaintext(of: .textInput).isEmpty)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.chunksWiped == streams.count * sizes.count)
        #expect(receipt.totalBytesHeld == UInt64(streams.count * sizes.reduce(0, +)))
    }

    @Test("ingesting wipes the caller's buffer; file descriptors are read into the slot")
    func ingestAndFileDescriptor() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        var source = content(512)
        try source.withUnsafeMutableBytes { try scope.append(to: .promptMessages, ingesting: $0) }
        #expect(source.allSatisfy { $0 == 0 })
        #expect(try scope.plaintext(of: .promptMessages) == content(512))

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let input = content(3000, seed: 5)
        _ = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        let read = try scope.appendFromFileDescriptor(fds[0], to: .audioInput, limit: 1 << 16)
        close(fds[0])
        #expect(read == 3000)
        #expect(try scope.plaintext(of: .audioInput) == input)
        scope.discard(reason: .completed)
    }

    @Test("withScratch lends zeroed locked memory, seals nothing, and wipes it on return and on throw")
    func withScratchWipes() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        var scratchAddress: UnsafeRawPointer?
        let sum = try scope.withScratch(byteCount: 700) { span in
            #expect(span.byteCount == 700)
            for index in 0..<700 {
                #expect(span.bytes.unsafeLoad(fromByteOffset: index, as: UInt8.self) == 0)
                span.storeBytes(of: UInt8(truncatingIfNeeded: index) | 1, toByteOffset: index, as: UInt8.self)
            }
            scratchAddress = span.bytes.withUnsafeBytes { $0.baseAddress }
            return 42
        }
        #expect(sum == 42)
        #expect(isAllZero(UnsafeMutableRawPointer(mutating: try #require(scratchAddress)), 700))
        #expect(try scope.occupiedSlots().isEmpty)

        scratchAddress = nil
        #expect(throws: AccessClosureError(errorType: String(reflecting: PlannedFailure.self))) {
            try scope.withScratch(byteCount: 300) { span in
                for index in 0..<300 { span.storeBytes(of: 0xA5, toByteOffset: index, as: UInt8.self) }
                scratchAddress = span.bytes.withUnsafeBytes { $0.baseAddress }
                throw PlannedFailure()
            }
        }
        #expect(isAllZero(UnsafeMutableRawPointer(mutating: try #require(scratchAddress)), 300))
        #expect(throws: VaultError.invalidByteCount(0)) { try scope.withScratch(byteCount: 0) { _ in } }
        scope.discard(reason: .completed)
        #expect(throws: VaultError.discarded) { try scope.withScratch(byteCount: 8) { _ in } }
    }

    @Test("write seals what the body filled; the scratch is wiped on return and on throw")
    func writeWipesScratch() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        var scratchAddress: UnsafeMutableRawPointer?
        let sealed = try scope.writeUnsafe(to: .completion, byteCount: 1000) { out in
            scratchAddress = out.baseAddress
            let bytes = content(600)
            out.copyBytes(from: bytes)
            return 600
        }
        #expect(sealed == 600)
        #expect(isAllZero(try #require(scratchAddress), 1000))
        #expect(try scope.plaintext(of: .completion) == content(600))

        scratchAddress = nil
        #expect(throws: AccessClosureError(errorType: String(reflecting: PlannedFailure.self))) {
            try scope.writeUnsafe(to: .audioOutput, byteCount: 2048) { out in
                scratchAddress = out.baseAddress
                out.copyBytes(from: content(2048))
                throw PlannedFailure()
            }
        }
        #expect(isAllZero(try #require(scratchAddress), 2048))
        #expect(try scope.chunkCount(of: .audioOutput) == 0)

        #expect(throws: VaultError.writtenCountOutOfRange(written: 11, capacity: 10)) {
            try scope.writeUnsafe(to: .audioOutput, byteCount: 10) { _ in 11 }
        }
        let spanWritten = try scope.write(to: .toolInteraction, byteCount: 8, { span in
            for index in 0..<8 { span.storeBytes(of: UInt8(index + 1), toByteOffset: index, as: UInt8.self) }
            return 8
        })
        #expect(spanWritten == 8)
        #expect(try scope.plaintext(of: .toolInteraction) == [1, 2, 3, 4, 5, 6, 7, 8])
        scope.discard(reason: .completed)
    }

    @Test("plaintext scratch is wiped after the access closure returns and after it throws", arguments: realBackends)
    func accessScratchWiped(backend: MemoryBackend) throws {
        let vault = try makeVault(backend)
        let scope = try vault.openScope()
        try scope.append(content(5000), to: .systemPrompt)
        try scope.append(content(3000, seed: 1), to: .systemPrompt)

        var seen: (UnsafeMutableRawPointer?, Int) = (nil, 0)
        try scope.withPlaintext(of: .systemPrompt) { span in
            seen = (address(of: span), span.byteCount)
            #expect(!isAllZero(address(of: span)!, span.byteCount))
        }
        #expect(seen.1 == 8000)
        #expect(isAllZero(try #require(seen.0), seen.1))

        seen = (nil, 0)
        #expect(throws: AccessClosureError(errorType: String(reflecting: PlannedFailure.self))) {
            try scope.withPlaintext(of: .systemPrompt) { span in
                seen = (address(of: span), span.byteCount)
                throw PlannedFailure()
            }
        }
        #expect(isAllZero(try #require(seen.0), seen.1))

        var chunkAddresses: [(UnsafeMutableRawPointer, Int)] = []
        #expect(throws: AccessClosureError(errorType: String(reflecting: PlannedFailure.self))) {
            try scope.forEachChunk(of: .systemPrompt) { index, span in
                chunkAddresses.append((address(of: span)!, span.byteCount))
                if index == 1 { throw PlannedFailure() }
            }
        }
        #expect(chunkAddresses.count == 2)
        for (address, count) in chunkAddresses { #expect(isAllZero(address, count)) }
        scope.discard(reason: .completed)
    }

    @Test("a modified chunk fails authentication with a typed error", arguments: availableAEADs)
    func tamperDetected(aead: AEADAlgorithm) throws {
        let vault = try makeVault(aead: aead)
        let scope = try vault.openScope()
        try scope.append(content(64), to: .textInput)
        try scope.append(content(64, seed: 1), to: .textInput)
        #expect(try scope.plaintext(of: .textInput).count == 128)
        let (address, _) = scope.chunkMemory(.textInput, 1)
        address.storeBytes(of: address.load(fromByteOffset: 3, as: UInt8.self) ^ 0x01, toByteOffset: 3, as: UInt8.self)
        #expect(throws: VaultError.authenticationFailed(slot: .textInput, chunk: 1)) {
            try scope.withPlaintext(of: .textInput) { _ in Issue.record("body ran on tampered content") }
        }
        // Chunk 0 is intact and still readable alone; chunk 1 is not.
        #expect(throws: VaultError.authenticationFailed(slot: .textInput, chunk: 1)) {
            try scope.forEachChunk(of: .textInput) { index, span in
                #expect(index == 0)
                #expect(copyBytes(span) == content(64))
            }
        }
        scope.discard(reason: .failed)
    }

    @Test("a slot's chunk list (first chunk inline, the rest in an array) edits like an Array")
    func chunkListMatchesArray() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        for index in 0..<4 { try scope.append(content(10 + index, seed: index), to: .completion) }
        scope.withStateForTesting { state in
            let chunks = state.slots[.completion]!.chunks
            var list = ChunkList()
            var model: [SealedChunk] = []
            func same() -> Bool { list.map(ObjectIdentifier.init) == model.map(ObjectIdentifier.init) }
            #expect(list.isEmpty && list.count == 0)
            list.append(chunks[0]); model.append(chunks[0])
            #expect(same() && list.count == 1)
            list.append(chunks[1]); model.append(chunks[1])
            list.insert(chunks[2], at: 0); model.insert(chunks[2], at: 0)
            #expect(same())
            list.insert(chunks[3], at: 2); model.insert(chunks[3], at: 2)
            #expect(same())
            list.swapAt(0, 3); model.swapAt(0, 3)
            list[1] = chunks[0]; model[1] = chunks[0]
            #expect(same())
            _ = list.remove(at: 0); _ = model.remove(at: 0)
            #expect(same())
            list.replaceSubrange(1..<2, with: [chunks[1], chunks[2]]); model.replaceSubrange(1..<2, with: [chunks[1], chunks[2]])
            #expect(same() && list.count == 4)
            _ = list.removeLast(); _ = model.removeLast()
            list = list + [chunks[3]]; model = model + [chunks[3]]
            #expect(same())
            list.removeAll(); model.removeAll()
            #expect(same() && list.isEmpty)
            list.append(chunks[2]); model.append(chunks[2])
            #expect(same() && list.first === chunks[2])
        }
        #expect(scope.discard(reason: .completed).chunksWiped == 4)
    }

    @Test("reordered chunks, a chunk moved between slots or requests, and a truncated stream are detected", arguments: availableAEADs)
    func reorderMoveTruncate(aead: AEADAlgorithm) throws {
        let vault = try makeVault(aead: aead)
        let first = try vault.openScope()
        let second = try vault.openScope()
        for scope in [first, second] {
            for index in 0..<3 { try scope.append(content(32, seed: index), to: .completion, final: index == 2) }
            try scope.append(content(32), to: .textInput)
        }

        // Reorder within a slot.
        first.withStateForTesting { $0.slots[.completion]!.chunks.swapAt(0, 1) }
        #expect(throws: VaultError.authenticationFailed(slot: .completion, chunk: 0)) { try first.plaintext(of: .completion) }
        first.withStateForTesting { $0.slots[.completion]!.chunks.swapAt(0, 1) }
        #expect(try first.plaintext(of: .completion).count == 96)

        // Move between slots of one request (same position, same length).
        first.withStateForTesting { state in
            let moved = state.slots[.completion]!.chunks[0]
            state.slots[.completion]!.chunks[0] = state.slots[.textInput]!.chunks[0]
            state.slots[.textInput]!.chunks[0] = moved
        }
        #expect(throws: VaultError.authenticationFailed(slot: .textInput, chunk: 0)) { try first.plaintext(of: .textInput) }
        #expect(throws: VaultError.authenticationFailed(slot: .completion, chunk: 0)) { try first.plaintext(of: .completion) }
        first.withStateForTesting { state in
            let moved = state.slots[.completion]!.chunks[0]
            state.slots[.completion]!.chunks[0] = state.slots[.textInput]!.chunks[0]
            state.slots[.textInput]!.chunks[0] = moved
        }
        #expect(try first.plaintext(of: .completion).count == 96)

        // Swap between requests.
        let fromFirst = first.withStateForTesting { $0.slots[.completion]!.chunks[1] }
        let fromSecond = second.withStateForTesting { $0.slots[.completion]!.chunks[1] }
        first.withStateForTesting { $0.slots[.completion]!.chunks[1] = fromSecond }
        second.withStateForTesting { $0.slots[.completion]!.chunks[1] = fromFirst }
        #expect(throws: VaultError.authenticationFailed(slot: .completion, chunk: 1)) { try first.plaintext(of: .completion) }
        #expect(throws: VaultError.authenticationFailed(slot: .completion, chunk: 1)) { try second.plaintext(of: .completion) }
        first.withStateForTesting { $0.slots[.completion]!.chunks[1] = fromFirst }
        second.withStateForTesting { $0.slots[.completion]!.chunks[1] = fromSecond }
        #expect(try second.plaintext(of: .completion).count == 96)

        // Truncation: drop the final chunk; the new last chunk was not sealed as final.
        let dropped = first.withStateForTesting { $0.slots[.completion]!.chunks.removeLast() }
        #expect(throws: VaultError.authenticationFailed(slot: .completion, chunk: 1)) {
            try first.forEachChunk(of: .completion) { _, _ in }
        }
        first.withStateForTesting { $0.slots[.completion]!.chunks.append(dropped) }
        #expect(try first.plaintext(of: .completion).count == 96)
        #expect(first.discard(reason: .completed).chunksWiped == 4)
        #expect(second.discard(reason: .completed).chunksWiped == 4)
    }

    @Test("crypto-shredding: after discard the ciphertext memory and keys read zero, and an escaped copy of the ciphertext cannot be opened", arguments: realBackends, availableAEADs)
    func cryptoShredding(backend: MemoryBackend, aead: AEADAlgorithm) throws {
        let vault = try makeVault(backend, aead: aead)
        let scope = try vault.openScope()
        try scope.append(content(700), to: .audioOutput)
        let (chunkAddress, chunkLength) = scope.chunkMemory(.audioOutput, 0)
        let escapedCopy = Array(UnsafeRawBufferPointer(start: chunkAddress, count: chunkLength))
        let (keyAddress, prefix, escapedTag) = scope.withStateForTesting { state in
            let slot = state.slots[.audioOutput]!
            return (
                slot.currentKey!.withBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) },
                slot.noncePrefix, slot.chunks[0].tag)
        }
        func openCopy() -> [UInt8]? {
            // The escaped copies are ordinary arrays, as an attacker would hold them.
            var nonce = AEAD.nonce(aead, prefix: prefix, index: 0)
            var ad = AEAD.associatedData(request: scope.id, dataClass: .audioOutput, index: 0, isFinal: false)
            var output = [UInt8](repeating: 0, count: 700)
            let keyCopy = Array(UnsafeRawBufferPointer(start: keyAddress, count: 32))
            var tag = escapedTag
            let opened = cvault_aead_open(
                Int32(aead.rawValue), &output, escapedCopy, escapedCopy.count, &tag,
                &ad, AEAD.associatedDataLength, &nonce, keyCopy) == 0
            return opened ? output : nil
        }
        // While the scope is open the copy opens: the test can tell the difference.
        #expect(openCopy() == content(700))
        #expect(!isAllZero(chunkAddress, chunkLength))
        #expect(!isAllZero(keyAddress, 32))

        let receipt = scope.discard(reason: .completed)
        #expect(receipt.keyDestroyed)
        #expect(isAllZero(chunkAddress, chunkLength))
        #expect(isAllZero(keyAddress, 32))
        #expect(openCopy() == nil)
        #expect(receipt.bytesVerifiedZero >= UInt64(chunkLength + 32))
    }

    @Test("keys rotate before the per-key byte limit; a chunk over the limit is a typed error", arguments: availableAEADs)
    func keyRotation(aead: AEADAlgorithm) throws {
        let vault = try makeVault(aead: aead, perKeyByteLimit: 100)
        let scope = try vault.openScope()
        for index in 0..<5 { try scope.append(content(60, seed: index), to: .audioInput) }
        let generations = scope.withStateForTesting { state in state.slots[.audioInput]!.chunks.map(\.generation) }
        #expect(generations == [0, 1, 2, 3, 4])
        #expect(try scope.plaintext(of: .audioInput) == (0..<5).flatMap { content(60, seed: $0) })
        #expect(throws: VaultError.chunkTooLarge(byteCount: 101, limit: 100)) { try scope.append(content(101), to: .audioInput) }
        // Distinct generations really are distinct keys.
        let keys = scope.withStateForTesting { state in
            state.slots[.audioInput]!.allKeys.map { $0.withBytes { Array($0) } }
        }
        #expect(Set(keys).count == 5)
        #expect(scope.discard(reason: .completed).keyDestroyed)
    }

    @Test("wiping one slot early is counted; a new stream in it gets a new key")
    func wipeSlotEarly() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(content(1000), to: .audioInput, final: true)
        try scope.append(content(10), to: .transcriptOutput)
        let oldKey = scope.withStateForTesting { $0.slots[.audioInput]!.currentKey!.withBytes { Array($0) } }
        let (address, length) = scope.chunkMemory(.audioInput, 0)
        try scope.wipeSlot(.audioInput)
        #expect(isAllZero(address, length))
        #expect(try scope.chunkCount(of: .audioInput) == 0)
        try scope.append(content(20), to: .audioInput)
        let newKey = scope.withStateForTesting { $0.slots[.audioInput]!.currentKey!.withBytes { Array($0) } }
        #expect(oldKey != newKey)
        #expect(try scope.plaintext(of: .audioInput) == content(20))
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.peakBytesHeld == 1010)
        #expect(receipt.totalBytesHeld == 1030)
        #expect(receipt.chunksWiped == 3)
        #expect(receipt.slotsWiped == 3)
    }

    @Test("every operation after discard throws .discarded; discard runs once and repeats its receipt")
    func afterDiscard() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(content(10), to: .textInput)
        let first = scope.discard(reason: .completed)
        let second = scope.discard(reason: .failed)
        #expect(first == second)
        #expect(second.reason == .completed)
        #expect(scope.isDiscarded)
        #expect(throws: VaultError.discarded) { try scope.append(content(1), to: .textInput) }
        #expect(throws: VaultError.discarded) { try scope.plaintext(of: .textInput) }
        #expect(throws: VaultError.discarded) { try scope.forEachChunk(of: .textInput) { _, _ in } }
        #expect(throws: VaultError.discarded) { try scope.writeUnsafe(to: .completion, byteCount: 4) { _ in 0 } }
        #expect(throws: VaultError.discarded) { try scope.chunkCount(of: .textInput) }
        #expect(throws: VaultError.discarded) { try scope.transferSlot(byteCount: 10) }
        #expect(throws: VaultError.discarded) { try scope.registerExternalHolder(kind: .kvCache) { .wiped } }
        #expect(throws: VaultError.discarded) { try scope.wipeSlot(.textInput) }
        #expect(vault.statistics.discardedByReason[.completed] == 1)
        #expect(vault.statistics.discardedScopes == 1)
    }

    @Test("external holders are called once, in order, and recorded in the receipt")
    func externalHolders() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let calls = LockedState<[Int]>([])
        try scope.registerExternalHolder(kind: .kvCache) { calls.withLock { $0.append(1) }; return .wiped }
        try scope.registerExternalHolder(kind: .gpuBuffer) { calls.withLock { $0.append(2) }; return .failed }
        try scope.registerExternalHolder(kind: .frameworkCache) { calls.withLock { $0.append(3) }; return .nothingHeld }
        let receipt = scope.discard(reason: .completed)
        scope.discard(reason: .completed)
        #expect(calls.withLock { $0 } == [1, 2, 3])
        #expect(receipt.externalHolders == [
            ExternalHolderReport(kind: .kvCache, outcome: .wiped),
            ExternalHolderReport(kind: .gpuBuffer, outcome: .failed),
            ExternalHolderReport(kind: .frameworkCache, outcome: .nothingHeld),
        ])
    }

    @Test("at most 32 external holders (what a ledger record lists); the receipt says what was wiped")
    func holderLimitAndReceipt() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        for _ in 0..<DiscardReceipt.maximumExternalHolders {
            try scope.registerExternalHolder(kind: .hostCache) { .wiped }
        }
        #expect(throws: VaultError.tooManyExternalHolders(limit: 32)) {
            try scope.registerExternalHolder(kind: .kvCache) { .wiped }
        }
        let before = Timestamp.now()
        try scope.append(content(10), to: .textInput)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.requestID == scope.id)
        #expect(receipt.reason == .completed)
        #expect(receipt.openedAt <= before)
        #expect(receipt.firstContentAt.map { $0 >= before && $0 <= receipt.discardedAt } == true)
        #expect(receipt.chunksWiped == 1 && receipt.slotsWiped == 1)
        #expect(receipt.bytesVerifiedZero >= 10)
        #expect(receipt.keyDestroyed && receipt.backend == .locked && receipt.aead == .xchacha20poly1305)
        #expect(receipt.externalHolders == Array(repeating: ExternalHolderReport(kind: .hostCache, outcome: .wiped), count: 32))
        #expect(receipt.peakBytesHeld == 10 && receipt.totalBytesHeld == 10)
    }

    @Test("transfer slots are page-aligned, locked, dump-excluded, wiped per transfer and at discard")
    func transferSlots() throws {
        let vault = try makeVault(secretmemAvailable ? .secretmem : .locked)
        let scope = try vault.openScope()
        let slot = try scope.transferSlot(byteCount: 10_000)
        #expect(slot.byteCount == roundUp(10_000, toMultipleOf: systemPageSize))
        let base = try #require(slot.baseAddressForTesting)
        #expect(Int(bitPattern: base) % systemPageSize == 0)
        let flags = try #require(smapsFlags(containing: UInt(bitPattern: base)))
        #expect(flags.contains("lo") || runningUnderSanitizer)
        #expect(flags.contains("dd"))
        try slot.withUnsafeMutableBytes { fillPattern($0) }
        try slot.wipe()
        #expect(isAllZero(base, slot.byteCount))

        try scope.append(content(5000), to: .audioOutput)
        let copied = try scope.copyPlaintext(of: .audioOutput, into: slot)
        #expect(copied == 5000)
        try slot.withUnsafeMutableBytes { #expect(Array(UnsafeRawBufferPointer(rebasing: $0[..<5000])) == content(5000)) }
        #expect(vault.statistics.transferBytesInUse == slot.byteCount)

        let receipt = scope.discard(reason: .completed)
        #expect(receipt.slotsWiped == 2)  // the content slot and the transfer slot
        #expect(receipt.bytesVerifiedZero >= UInt64(2 * slot.byteCount))
        #expect(slot.wipeCount == 2)
        #expect(throws: VaultError.transferSlotReleased) { try slot.withUnsafeMutableBytes { _ in } }
        #expect(vault.statistics.transferBytesInUse == 0)
        #expect(throws: VaultError.transferBudgetExhausted(requested: 8 << 20, budget: 4 << 20, inUse: 0)) {
            try vault.openScope().transferSlot(byteCount: 8 << 20)
        }
        vault.purgeAll()
    }

    @Test("a transfer body may seal into the scope; a discard during the body wipes now and unmaps after it")
    func discardDuringTransfer() throws {
        let vault = try makeVault()
        let scope = try vault.openScope()
        let slot = try scope.transferSlot(byteCount: 8192)
        try slot.withUnsafeMutableBytes { bytes in
            fillPattern(bytes)
            // What a device-to-host copy brought back, sealed from inside the body.
            try scope.append(to: .completion, copying: UnsafeRawBufferPointer(rebasing: bytes[..<100]))
            // The reaper, a cancellation or a purge may discard now; nothing deadlocks.
            let receipt = scope.discard(reason: .expired)
            #expect(receipt.slotsWiped == 2)
            #expect(isAllZero(bytes.baseAddress!, bytes.count))
            // Still mapped until the body returns.
            #expect(vault.statistics.transferBytesInUse == 8192)
        }
        #expect(vault.statistics.transferBytesInUse == 0)
        #expect(throws: VaultError.transferSlotReleased) { try slot.wipe() }
        #expect(scope.receipt?.chunksWiped == 1)
    }

    @Test("a transfer slot's failed mapping (forced through the vault's syscall seam) is a typed error, with nothing leaked",
          arguments: [
              (SystemCalls.Call.mmap, ENOMEM, LockedMemoryError.mapFailed(errno: ENOMEM)),
              (.mlock, EAGAIN, .lockFailed(errno: EAGAIN)),
              (.madvise(.wipeOnFork), EINVAL, .adviseFailed(advice: .wipeOnFork, errno: EINVAL)),
          ])
    func transferSlotMappingFails(call: SystemCalls.Call, code: Int32, expected: LockedMemoryError) throws {
        let harness = SyscallHarness()
        let vault = try makeVault(system: SystemCalls(harness: harness))
        let scope = try vault.openScope()
        let mappedBefore = harness.outstandingBytes
        // Armed after the vault and scope exist: only the slot's mapping meets it.
        harness.fail(call, errno: code)
        #expect(throws: VaultError.memory(expected)) { try scope.transferSlot(byteCount: 8192) }
        #expect(harness.outstandingBytes == mappedBefore, "the failed mapping was not unmapped")
        #expect(vault.statistics.transferBytesInUse == 0, "the failed slot kept its budget")

        // The same seam maps and unmaps the slot once the failure is gone.
        harness.fail(call, errno: nil)
        let slot = try scope.transferSlot(byteCount: 8192)
        #expect(harness.outstandingBytes == mappedBefore + 8192 + 2 * systemPageSize)
        let receipt = scope.discard(reason: .completed)
        #expect(receipt.slotsWiped == 1)
        #expect(throws: VaultError.transferSlotReleased) { try slot.wipe() }
        #expect(harness.outstandingBytes == mappedBefore)
        #expect(vault.statistics.transferBytesInUse == 0)
    }

    @Test("descriptions, reflection, receipts and errors carry no content")
    func redaction() throws {
        let canary = Array("ZDR-CANARY-4f1d9c2e".utf8)
        let canaryText = "ZDR-CANARY-4f1d9c2e"
        let canaryHex = canary.map { String($0, radix: 16) }.joined()
        let vault = try makeVault()
        let scope = try vault.openScope()
        try scope.append(canary, to: .textInput)
        try scope.append(canary, to: .textInput)
        let transfer = try scope.transferSlot(byteCount: 100)
        _ = try scope.copyPlaintext(of: .textInput, into: transfer)
        let (address, _) = scope.chunkMemory(.textInput, 0)
        address.storeBytes(of: address.load(as: UInt8.self) ^ 1, as: UInt8.self)
        var thrown: (any Error)?
        do { _ = try scope.plaintext(of: .textInput) } catch { thrown = error }
        let error = try #require(thrown)

        var texts: [String] = [
            String(describing: scope), String(reflecting: scope), String(describing: vault),
            String(reflecting: vault), String(describing: transfer), String(describing: error),
            String(reflecting: error), String(describing: vault.statistics),
            String(describing: vault.aeadSelection),
        ]
        for subject in [scope as Any, vault, transfer] {
            var dumped = ""
            dump(subject, to: &dumped)
            texts.append(dumped)
            // A few fields each, never internals: no addresses, no state a dump could walk into.
            #expect(dumped.utf8.count < 1024 && !dumped.contains("0x"), "\(type(of: subject)) dumps \(dumped.utf8.count) bytes")
            texts.append(Mirror(reflecting: subject).children.map { "\($0.label ?? ""): \($0.value)" }.joined())
        }
        let receipt = scope.discard(reason: .failed)
        texts.append(String(describing: receipt))
        var dumpedReceipt = ""
        dump(receipt, to: &dumpedReceipt)
        texts.append(dumpedReceipt)
        for text in texts {
            #expect(!text.contains(canaryText))
            #expect(!text.lowercased().contains(canaryHex))
        }
        // The request id is printable and parses back.
        #expect(RequestID(receipt.requestID.description) == receipt.requestID)
    }
}
