#ifndef CBENCH_BASELINES_H
#define CBENCH_BASELINES_H
// Baselines that split the pool's release cost into its parts, so a gap to malloc can be pinned
// on the wipe, the verification read, or the bookkeeping.
#include <stddef.h>

/// 1 when all `len` bytes are zero. The same word-wise loop as the library's cvault_is_zero.
int bench_is_zero(const void *ptr, size_t len);

/// What the pool's release does to the bytes: sodium_memzero the whole range, then read it all
/// back. Returns 1 when the read-back was zero.
int bench_wipe_then_verify(void *ptr, size_t len);

/// The same guarantee in one pass over memory: wipe and read back `chunk` bytes at a time, so the
/// read hits L1 instead of going back to L2/L3 for large buffers. Returns 1 when all was zero.
int bench_wipe_verify_fused(void *ptr, size_t len, size_t chunk);
#endif
