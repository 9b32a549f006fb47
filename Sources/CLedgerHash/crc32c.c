// CRC-32C with the SSE4.2 `crc32` instruction (which computes exactly the Castagnoli CRC),
// 8 bytes per step. The ledger's Swift table implementation is the fallback and the reference
// in tests.

#include "CLedgerHash.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int cledger_crc32c_hw_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx >> 20) & 1;
}

__attribute__((target("sse4.2")))
uint32_t cledger_crc32c_hw(uint32_t crc, const uint8_t *bytes, size_t count) {
    uint64_t value = (uint32_t)~crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        value = _mm_crc32_u64(value, word);
        bytes += 8;
        count -= 8;
    }
    uint32_t narrow = (uint32_t)value;
    while (count-- > 0) narrow = _mm_crc32_u8(narrow, *bytes++);
    return ~narrow;
}

#else

int cledger_crc32c_hw_available(void) { return 0; }

uint32_t cledger_crc32c_hw(uint32_t crc, const uint8_t *bytes, size_t count) {
    (void)bytes; (void)count;
    return crc;  // never called: availability is 0 here
}

#endif
