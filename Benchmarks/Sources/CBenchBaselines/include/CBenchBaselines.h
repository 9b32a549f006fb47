#ifndef CBENCH_BASELINES_H
#define CBENCH_BASELINES_H
// Baselines that split the pool's release cost into its parts, so a gap to malloc can be pinned
// on the wipe, the verification read, or the bookkeeping.
#include <stddef.h>

/// 1 when all `len` bytes are zero: the library's cvault_is_zero (AVX2 from 256 B when the CPU has it).
int bench_is_zero(const void *ptr, size_t len);

/// Wipe and verify in two passes: sodium_memzero the whole range, then read it all back (what
/// the pool did before it fused the two). Returns 1 when the read-back was zero.
int bench_wipe_then_verify(void *ptr, size_t len);

/// The same guarantee in one pass over memory: wipe and read back `chunk` bytes at a time, so the
/// read hits L1 instead of going back to L2/L3 (the library uses 16 KiB). Returns 1 when all was zero.
int bench_wipe_verify_fused(void *ptr, size_t len, size_t chunk);
/// A slot laid out like the pool's: `len` bytes at a 16-byte offset into a private anonymous
/// mapping locked with mlock (4 KiB pages, no transparent huge pages in practice). Never freed: one
/// per size for the life of the benchmark process. NULL when the mapping or the lock fails.
void *bench_locked_slot_create(size_t len);

/// The same slot in a 2 MiB-aligned mapping advised MADV_HUGEPAGE before mlock, so the kernel
/// backs it with transparent huge pages (physically contiguous), as malloc's heap often is.
void *bench_locked_huge_slot_create(size_t len);
#endif
