// SHA-256 with the x86 SHA extensions (SHA-NI), for the ledger's leaf and node hashes, and
// CRC-32C with SSE4.2 for its frame checksums.
// libsodium 1.0.18's SHA-256 is portable C; on CPUs with SHA-NI this is several times faster.
// Callers must check `cledger_sha256_hw_available()` first and fall back to libsodium.
#ifndef CLEDGERHASH_H
#define CLEDGERHASH_H

#include <stddef.h>
#include <stdint.h>

/// 1 when the CPU has SHA-NI, SSSE3 and SSE4.1 (CPUID), 0 otherwise (and on non-x86 builds).
int cledger_sha256_hw_available(void);

/// SHA-256 of a ‖ b ‖ c (any of them may be empty: pointer ignored when its length is 0).
/// Only call when `cledger_sha256_hw_available()` returned 1.
void cledger_sha256_hw(const uint8_t *a, size_t a_length,
                       const uint8_t *b, size_t b_length,
                       const uint8_t *c, size_t c_length,
                       uint8_t out[32]);

/// `cledger_sha256_hw` over untyped memory: Swift holds a digest slot or a pair of hashes as
/// raw bytes, and `void *` takes them without a pointer cast on the Swift side.
static inline void cledger_sha256_hw_bytes(const void *a, size_t a_length,
                                           const void *b, size_t b_length,
                                           const void *c, size_t c_length,
                                           void *out) {
    cledger_sha256_hw((const uint8_t *)a, a_length, (const uint8_t *)b, b_length,
                      (const uint8_t *)c, c_length, (uint8_t *)out);
}

/// 1 when the CPU has SSE4.2 (the `crc32` instruction), 0 otherwise.
int cledger_crc32c_hw_available(void);

/// Continues a CRC-32C (Castagnoli) over `bytes`: pass 0 to start; the result of one call is
/// the `crc` of the next. Equal to the usual reflected CRC-32C (init and final xor ~0).
/// Only call when `cledger_crc32c_hw_available()` returned 1.
uint32_t cledger_crc32c_hw(uint32_t crc, const uint8_t *bytes, size_t count);

#endif
