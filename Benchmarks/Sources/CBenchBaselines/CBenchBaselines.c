#include "CBenchBaselines.h"
#include <stdint.h>
#include <sodium.h>

int bench_is_zero(const void *ptr, size_t len) {
    const unsigned char *bytes = (const unsigned char *)ptr;
    size_t i = 0;
    uint64_t acc = 0;
    while (i < len && ((uintptr_t)(bytes + i) & 7u) != 0) { acc |= bytes[i++]; }
    const uint64_t *words = (const uint64_t *)(const void *)(bytes + i);
    size_t nwords = (len - i) / 8;
    for (size_t w = 0; w < nwords; w++) { acc |= words[w]; }
    i += nwords * 8;
    while (i < len) { acc |= bytes[i++]; }
    return acc == 0;
}

int bench_wipe_then_verify(void *ptr, size_t len) {
    sodium_memzero(ptr, len);
    return bench_is_zero(ptr, len);
}

int bench_wipe_verify_fused(void *ptr, size_t len, size_t chunk) {
    unsigned char *bytes = (unsigned char *)ptr;
    int zero = 1;
    for (size_t offset = 0; offset < len; offset += chunk) {
        size_t n = len - offset < chunk ? len - offset : chunk;
        sodium_memzero(bytes + offset, n);
        zero &= bench_is_zero(bytes + offset, n);
    }
    return zero;
}
