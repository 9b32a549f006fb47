#define _GNU_SOURCE
#include "CWipingAllocator.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void *zr_wiping_allocate(size_t size) { return malloc(size); }

void *zr_wiping_reallocate(void *old, size_t old_size, size_t new_size) {
    if (old == NULL) { return malloc(new_size); }
    void *new_block = malloc(new_size);
    if (new_block == NULL) { return NULL; }  // the old block stays as it was, still owned
    memcpy(new_block, old, old_size < new_size ? old_size : new_size);
    explicit_bzero(old, malloc_usable_size(old));
    free(old);
    return new_block;
}

void zr_wiping_deallocate(void *storage) {
    explicit_bzero(storage, malloc_usable_size(storage));
    free(storage);
}

void zr_wiping_copy(void *destination, const void *source, size_t count) {
    memcpy(destination, source, count);
}

size_t zr_usable_size(void *storage) { return malloc_usable_size(storage); }
