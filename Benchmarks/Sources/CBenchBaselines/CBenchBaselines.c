// Copies of the library's wipe-and-verify routines (Sources/CVaultSystem/CVaultSystem.c; that
// target is not a product), so the suite can time them on malloc'd memory without the pool's
// bookkeeping. Keep them in step with the library.
#include "CBenchBaselines.h"
#include <stdint.h>
#include <sodium.h>

static int is_zero_portable(const unsigned char *bytes, size_t len) {
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

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
__attribute__((target("avx2")))
static int is_zero_avx2(const unsigned char *bytes, size_t len) {
    size_t i = 0;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 128 <= len; i += 128) {
        a0 = _mm256_or_si256(a0, _mm256_loadu_si256((const __m256i *)(const void *)(bytes + i)));
        a1 = _mm256_or_si256(a1, _mm256_loadu_si256((const __m256i *)(const void *)(bytes + i + 32)));
        a2 = _mm256_or_si256(a2, _mm256_loadu_si256((const __m256i *)(const void *)(bytes + i + 64)));
        a3 = _mm256_or_si256(a3, _mm256_loadu_si256((const __m256i *)(const void *)(bytes + i + 96)));
    }
    __m256i acc = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
    if (!_mm256_testz_si256(acc, acc)) { return 0; }
    return is_zero_portable(bytes + i, len - i);
}
#endif

int bench_is_zero(const void *ptr, size_t len) {
    const unsigned char *bytes = (const unsigned char *)ptr;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (len >= 256 && __builtin_cpu_supports("avx2")) { return is_zero_avx2(bytes, len); }
#endif
    return is_zero_portable(bytes, len);
}

int bench_wipe_then_verify(void *ptr, size_t len) {
    sodium_memzero(ptr, len);
    __asm__ volatile("" : : "r"(ptr) : "memory");
    return bench_is_zero(ptr, len);
}

int bench_wipe_verify_fused(void *ptr, size_t len, size_t chunk) {
    unsigned char *bytes = (unsigned char *)ptr;
    int zero = 1;
    for (size_t offset = 0; offset < len; offset += chunk) {
        size_t n = len - offset < chunk ? len - offset : chunk;
        sodium_memzero(bytes + offset, n);
        __asm__ volatile("" : : "r"(bytes) : "memory");
        zero &= bench_is_zero(bytes + offset, n);
    }
    return zero;
}

#include <sys/mman.h>

void *bench_locked_slot_create(size_t len) {
    const size_t page = 4096, offset = 16;
    size_t mapped = (offset + len + page - 1) / page * page;
    void *start = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (start == MAP_FAILED) { return NULL; }
    if (mlock(start, mapped) != 0) { munmap(start, mapped); return NULL; }
    return (unsigned char *)start + offset;
}

void *bench_locked_huge_slot_create(size_t len) {
    const size_t huge = 2u << 20, offset = 16;
    size_t needed = (offset + len + huge - 1) / huge * huge;
    unsigned char *start = mmap(NULL, needed + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (start == MAP_FAILED) { return NULL; }
    unsigned char *aligned = (unsigned char *)(((uintptr_t)start + huge - 1) & ~(uintptr_t)(huge - 1));
    if (madvise(aligned, needed, MADV_HUGEPAGE) != 0 || mlock(aligned, needed) != 0) {
        munmap(start, needed + huge);
        return NULL;
    }
    return aligned + offset;
}
