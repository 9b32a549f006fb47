#ifndef CWIPING_ALLOCATOR_H
#define CWIPING_ALLOCATOR_H
#include <stddef.h>

/// malloc, as ByteBufferAllocator's `allocate`.
void *_Nullable zr_wiping_allocate(size_t size);
/// A new block with the old one's bytes; the old block is zeroed whole, then freed. Never
/// realloc(3), which may move the bytes and free the old block as it was.
void *_Nullable zr_wiping_reallocate(void *_Nullable old, size_t old_size, size_t new_size);
/// Zeroes the whole malloc block (malloc_usable_size), then frees it.
void zr_wiping_deallocate(void *_Nonnull storage);
/// memcpy, as ByteBufferAllocator's `copy`.
void zr_wiping_copy(void *_Nonnull destination, const void *_Nonnull source, size_t count);
/// The bytes malloc reserved for `storage` (at least what was asked for).
size_t zr_usable_size(void *_Nonnull storage);

#endif
