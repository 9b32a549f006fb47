import VaultSystem
import RetentionVocabulary
internal import CVaultSystem

/// One mapping: `[guard page][usable bytes][guard page]`, registered for purge.
///
/// The usable part is locked (or secret), dump-excluded and fork-protected according to the
/// backend. A pool retires a region (wipe, verify, unlock, unmap) when its last buffer is gone
/// and the pool keeps no more idle regions, or when the budget needs the bytes.
struct Region: @unchecked Sendable {
    /// Start of the usable bytes (one page after the start of the mapping).
    let base: UnsafeMutableRawPointer
    /// Usable bytes, a multiple of the page size.
    let length: Int
    /// The index in the C purge registry, to unregister before unmapping.
    let purgeSlot: Int32

    private var mappingStart: UnsafeMutableRawPointer { base - systemPageSize }
    private var mappingLength: Int { length + 2 * systemPageSize }

    /// Maps a region of at least `minimumLength` usable bytes on `backend`.
    ///
    /// On any failure everything mapped so far is unmapped before the error is returned.
    static func map(
        minimumLength: Int, backend: MemoryBackend, system: SystemCalls
    ) -> Result<Region, LockedMemoryError> {
        let page = systemPageSize
        let length = roundUp(minimumLength, toMultipleOf: page)
        let total = length + 2 * page
        let start: UnsafeMutableRawPointer
        switch system.reserve(total) {
        case .success(let address): start = address
        case .failure(let errno): return .failure(.mapFailed(errno: errno.rawValue))
        }
        let base = start + page
        func fail(_ error: LockedMemoryError) -> Result<Region, LockedMemoryError> {
            system.unmap(start, total)
            return .failure(error)
        }

        switch backend {
        case .secretmem:
            let fd: Int32
            switch system.memfdSecret() {
            case .success(let descriptor): fd = descriptor
            case .failure(let errno): return fail(.secretMemoryUnavailable(errno: errno.rawValue))
            }
            // The mapping keeps the memory alive; the descriptor is not needed after mmap.
            defer { system.close(fd) }
            if let errno = system.ftruncate(fd, length) { return fail(.mapFailed(errno: errno.rawValue)) }
            if let errno = system.mapShared(fd: fd, at: base, length) {
                // secretmem charges its pages to RLIMIT_MEMLOCK at mmap, and says EAGAIN when
                // the limit is reached: the mlock failure, with the mlock fix.
                return fail(errno == .tryAgain ? .lockFailed(errno: errno.rawValue) : .mapFailed(errno: errno.rawValue))
            }
            if let errno = system.advise(base, length, .dontFork) {
                return fail(.adviseFailed(advice: .dontFork, errno: errno.rawValue))
            }
            // secretmem pages are allocated on first touch; touch them now so a shortage shows
            // up here and not as SIGBUS inside a request.
            var offset = 0
            while offset < length {
                base.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
                offset += page
            }
        case .locked:
            if let errno = system.protectReadWrite(base, length) { return fail(.protectFailed(errno: errno.rawValue)) }
            if let errno = system.lock(base, length) { return fail(.lockFailed(errno: errno.rawValue)) }
            if let errno = system.advise(base, length, .dontDump) {
                return fail(.adviseFailed(advice: .dontDump, errno: errno.rawValue))
            }
            if let errno = system.advise(base, length, .wipeOnFork) {
                return fail(.adviseFailed(advice: .wipeOnFork, errno: errno.rawValue))
            }
        case .unprotected:
            if let errno = system.protectReadWrite(base, length) { return fail(.protectFailed(errno: errno.rawValue)) }
        }

        let slot = cvault_purge_register(base, length, backend == .secretmem ? 1 : 0)
        guard slot >= 0 else { return fail(.purgeRegistryFull) }
        return .success(Region(base: base, length: length, purgeSlot: slot))
    }

    /// Wipes every usable byte (canaries included), proves they read back as zero, then unlocks
    /// and unmaps. Returns false, leaving the region mapped and registered, when the read-back
    /// is not zero: something is still writing into memory no buffer owns.
    func retire(backend: MemoryBackend, system: SystemCalls) -> Bool {
        guard cvault_wipe_and_verify(base, length) == 1 else { return false }
        unlockAndUnmap(backend: backend, system: system)
        return true
    }

    /// Unlocks (locked backend) and unmaps a region whose bytes the caller has proven zero.
    func unlockAndUnmap(backend: MemoryBackend, system: SystemCalls) {
        system.harness?.retiring(base, length)
        if backend == .locked { system.unlock(base, length) }
        unmap(system: system)
    }

    /// Unregisters from purge, then unmaps (guards included). The caller has wiped what needs it.
    func unmap(system: SystemCalls) {
        cvault_purge_unregister(purgeSlot)
        system.unmap(mappingStart, mappingLength)
    }
}
