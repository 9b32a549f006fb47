// SHA-256 (FIPS 180-4) whose compression function uses the SHA-NI instructions
// (sha256rnds2, sha256msg1, sha256msg2). Padding and buffering are plain C. The instruction
// sequence follows Intel's "Intel SHA Extensions" white paper (2013); tests compare it with
// libsodium over every length 0...1,000, random lengths and the FIPS 180-2 vectors.

#include "CLedgerHash.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

int cledger_sha256_hw_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

static const uint32_t K[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/// Compresses `blocks` 64-byte blocks into `state` (H0..H7, native order).
__attribute__((target("sha,ssse3,sse4.1")))
static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i byteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    // The instructions want the state as ABEF and CDGH.
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);  // CDAB
    __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);  // EFGH
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // ABEF
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);  // CDGH

    while (blocks-- > 0) {
        const __m128i savedABEF = state0, savedCDGH = state1;
        __m128i w[4];
        for (int i = 0; i < 4; i++) w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), byteSwap);
        // 16 groups of four rounds; w[g % 4] holds message words 4g...4g+3. Fully unrolled,
        // so w[] lives in registers: 1.7x faster than the loop (95 vs 160 ns for two blocks).
#if defined(__clang__)
#pragma clang loop unroll(full)
#elif defined(__GNUC__)
#pragma GCC unroll 16
#endif
        for (int g = 0; g < 16; g++) {
            if (g >= 4) {
                const __m128i shifted = _mm_alignr_epi8(w[(g - 1) & 3], w[(g - 2) & 3], 4);
                w[g & 3] = _mm_sha256msg2_epu32(
                    _mm_add_epi32(_mm_sha256msg1_epu32(w[g & 3], w[(g - 3) & 3]), shifted), w[(g - 1) & 3]);
            }
            __m128i message = _mm_add_epi32(w[g & 3], _mm_load_si128((const __m128i *)&K[4 * g]));
            state1 = _mm_sha256rnds2_epu32(state1, state0, message);
            message = _mm_shuffle_epi32(message, 0x0E);
            state0 = _mm_sha256rnds2_epu32(state0, state1, message);
        }
        state0 = _mm_add_epi32(state0, savedABEF);
        state1 = _mm_add_epi32(state1, savedCDGH);
        data += 64;
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);  // FEBA
    state1 = _mm_shuffle_epi32(state1, 0xB1);  // DCHG
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);  // DCBA
    state1 = _mm_alignr_epi8(state1, tmp, 8);  // ABEF -> HGFE
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

typedef struct {
    uint32_t state[8];
    uint64_t length;
    uint8_t buffer[64];
    size_t buffered;
} context;

static void update(context *ctx, const uint8_t *bytes, size_t count) {
    if (count == 0) return;
    ctx->length += count;
    if (ctx->buffered > 0) {
        size_t take = 64 - ctx->buffered;
        if (take > count) take = count;
        memcpy(ctx->buffer + ctx->buffered, bytes, take);
        ctx->buffered += take;
        bytes += take;
        count -= take;
        if (ctx->buffered < 64) return;
        compress(ctx->state, ctx->buffer, 1);
        ctx->buffered = 0;
    }
    if (count >= 64) {
        compress(ctx->state, bytes, count / 64);
        bytes += count & ~(size_t)63;
        count &= 63;
    }
    memcpy(ctx->buffer, bytes, count);
    ctx->buffered = count;
}

void cledger_sha256_hw(const uint8_t *a, size_t a_length,
                       const uint8_t *b, size_t b_length,
                       const uint8_t *c, size_t c_length,
                       uint8_t out[32]) {
    context ctx = {
        .state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
        .length = 0,
        .buffered = 0,
    };
    update(&ctx, a, a_length);
    update(&ctx, b, b_length);
    update(&ctx, c, c_length);
    const uint64_t bits = ctx.length * 8;
    // Padding: 0x80, zeros to 56 mod 64, then the bit length big-endian.
    ctx.buffer[ctx.buffered++] = 0x80;
    if (ctx.buffered > 56) {
        memset(ctx.buffer + ctx.buffered, 0, 64 - ctx.buffered);
        compress(ctx.state, ctx.buffer, 1);
        ctx.buffered = 0;
    }
    memset(ctx.buffer + ctx.buffered, 0, 56 - ctx.buffered);
    for (int i = 0; i < 8; i++) ctx.buffer[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(ctx.state, ctx.buffer, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(ctx.state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(ctx.state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx.state[i] >> 8);
        out[4 * i + 3] = (uint8_t)ctx.state[i];
    }
}

#else

int cledger_sha256_hw_available(void) { return 0; }

void cledger_sha256_hw(const uint8_t *a, size_t a_length,
                       const uint8_t *b, size_t b_length,
                       const uint8_t *c, size_t c_length,
                       uint8_t out[32]) {
    (void)a; (void)a_length; (void)b; (void)b_length; (void)c; (void)c_length;
    memset(out, 0, 32);  // never called: availability is 0 here
}

#endif
