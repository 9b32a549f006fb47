// A fast-key-erasure random generator for scope keys and request ids (D. J. Bernstein,
// "Fast-key-erasure random-number generators", 2017; the design of OpenBSD's arc4random and
// of Linux's vDSO getrandom).
//
// Why: libsodium 1.0.18's randombytes_buf is one getrandom syscall per call, measured at ~0.8 µs
// (7-8 % of a 4 KiB request's cycles). Here one ChaCha20 call refills a buffer that serves about
// ten scopes, and the kernel is asked only to seed.
//
// Security properties, each by construction:
// - Forward secrecy: every refill's first 32 keystream bytes replace the key at once, and every
//   output byte is zeroed as it is handed out, so the state never holds anything from which an
//   earlier output can be recomputed.
// - Fork safety: the state lives in MADV_WIPEONFORK memory, so a forked child finds it zeroed
//   (`seeded == 0`) and reseeds from the kernel: parent and child never share a stream.
// - The state is mlock'ed and MADV_DONTDUMP (never swapped, never in a core dump).
// - Reseeded from getrandom every CVAULT_RNG_RESEED_REFILLS refills.
// - Fail closed: if the locked, wipe-on-fork state cannot be set up, every call is a plain
//   getrandom into the caller's buffer (no state at all), and cvault_random_mode() says so.

#define _GNU_SOURCE
#include "CVaultSystem.h"

#include <sodium.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP 16
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/// Shards by CPU, so threads on different cores rarely share a lock.
#define CVAULT_RNG_SHARDS 16
/// Keystream per refill: 32 bytes of next key, then output.
#define CVAULT_RNG_BLOCK 512
#define CVAULT_RNG_OUTPUT (CVAULT_RNG_BLOCK - 32)
/// Refills between reseeds from the kernel (~480 KiB of output per shard).
#define CVAULT_RNG_RESEED_REFILLS 1024

typedef struct {
    /// All-zero bytes are an unlocked default glibc mutex, which is what a forked child finds.
    pthread_mutex_t lock;
    /// 0 after fork (the page was wiped): reseed before use.
    uint32_t seeded;
    uint32_t refills;
    /// Unread output bytes, at the end of `block`.
    size_t available;
    unsigned char key[32];
    unsigned char block[CVAULT_RNG_BLOCK];
} __attribute__((aligned(64))) cvault_rng_shard;

static cvault_rng_shard *cvault_rng_shards;
static size_t cvault_rng_mapping_length;
static int cvault_rng_setup_errno;
static pthread_once_t cvault_rng_once = PTHREAD_ONCE_INIT;

static void cvault_rng_setup(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t length = (sizeof(cvault_rng_shard) * CVAULT_RNG_SHARDS + page - 1) / page * page;
    void *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) { cvault_rng_setup_errno = errno; return; }
    // Wipe-on-fork is what makes the state fork-safe: without it, no state.
    if (madvise(base, length, MADV_WIPEONFORK) != 0 || madvise(base, length, MADV_DONTDUMP) != 0 ||
        mlock(base, length) != 0) {
        cvault_rng_setup_errno = errno;
        munmap(base, length);
        return;
    }
    memset(base, 0, length);
    cvault_rng_mapping_length = length;
    cvault_rng_shards = base;
}

/// getrandom until `len` bytes arrived (it may return fewer, or be interrupted).
static int cvault_getrandom_all(unsigned char *out, size_t len) {
    while (len > 0) {
        ssize_t got = getrandom(out, len, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        out += got;
        len -= (size_t)got;
    }
    return 0;
}

/// Reseeds of an already seeded shard (its refill count reached CVAULT_RNG_RESEED_REFILLS), for
/// tests: not state, so it lives outside the wiped mapping.
static _Atomic unsigned long cvault_rng_periodic_reseeds;

static int cvault_rng_refill(cvault_rng_shard *shard) {
    if (!shard->seeded || shard->refills >= CVAULT_RNG_RESEED_REFILLS) {
        if (shard->seeded) { atomic_fetch_add(&cvault_rng_periodic_reseeds, 1); }
        if (cvault_getrandom_all(shard->key, sizeof shard->key) != 0) return -1;
        shard->seeded = 1;
        shard->refills = 0;
    }
    // A fresh key every refill, so the all-zero nonce never repeats under one key.
    static const unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];
    crypto_stream_chacha20(shard->block, CVAULT_RNG_BLOCK, nonce, shard->key);
    memcpy(shard->key, shard->block, 32);
    sodium_memzero(shard->block, 32);
    shard->available = CVAULT_RNG_OUTPUT;
    shard->refills += 1;
    return 0;
}

static int cvault_random_bytes_from(unsigned shard_index, unsigned char *out, size_t len) {
    cvault_rng_shard *shard = &cvault_rng_shards[shard_index % CVAULT_RNG_SHARDS];
    pthread_mutex_lock(&shard->lock);
    int status = 0;
    while (len > 0) {
        if (shard->available == 0 && cvault_rng_refill(shard) != 0) { status = -1; break; }
        size_t take = len < shard->available ? len : shard->available;
        unsigned char *from = shard->block + CVAULT_RNG_BLOCK - shard->available;
        memcpy(out, from, take);
        sodium_memzero(from, take);
        shard->available -= take;
        out += take;
        len -= take;
    }
    pthread_mutex_unlock(&shard->lock);
    return status;
}

int cvault_random_bytes(void *output, size_t len) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    if (cvault_rng_shards == NULL) return cvault_getrandom_all(output, len);
    int cpu = sched_getcpu();
    return cvault_random_bytes_from((unsigned)(cpu < 0 ? 0 : cpu), output, len);
}

int cvault_fork_random_probe(void *child_output, void *parent_output, size_t len) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    if (cvault_rng_shards == NULL || len > 64) { errno = EINVAL; return -1; }
    // Seed shard 0 first: without wipe-on-fork the child would continue the parent's stream.
    unsigned char warm;
    if (cvault_random_bytes_from(0, &warm, 1) != 0) return -1;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t child = fork();
    if (child < 0) { close(fds[0]); close(fds[1]); return -1; }
    if (child == 0) {
        cvault_child_close_inherited(fds[1]);
        unsigned char drawn[64];
        int status = cvault_random_bytes_from(0, drawn, len);
        ssize_t written = status == 0 ? write(fds[1], drawn, len) : -1;
        _exit(written == (ssize_t)len ? 0 : 1);
    }
    close(fds[1]);
    int result = cvault_random_bytes_from(0, parent_output, len);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fds[0], (unsigned char *)child_output + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { result = -1; break; }
        got += (size_t)n;
    }
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) result = -1;
    return result;
}

int cvault_random_mode(void) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    return cvault_rng_shards != NULL ? 1 : 0;
}

int cvault_random_setup_errno(void) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    return cvault_rng_setup_errno;
}

const void *cvault_random_state(size_t *length) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    *length = cvault_rng_mapping_length;
    return cvault_rng_shards;
}

unsigned long cvault_random_periodic_reseeds(void) { return atomic_load(&cvault_rng_periodic_reseeds); }

int cvault_random_erasure_check(void) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    if (cvault_rng_shards == NULL) return -1;
    int violations = 0;
    for (unsigned i = 0; i < CVAULT_RNG_SHARDS; i++) {
        cvault_rng_shard *shard = &cvault_rng_shards[i];
        pthread_mutex_lock(&shard->lock);
        if (shard->seeded) {
            // Everything before the unread output: the next key's copy and every byte handed out.
            size_t used = CVAULT_RNG_BLOCK - shard->available;
            if (!sodium_is_zero(shard->block, used)) violations += 1;
            if (memmem(shard->block, CVAULT_RNG_BLOCK, shard->key, sizeof shard->key) != NULL) violations += 1;
        }
        pthread_mutex_unlock(&shard->lock);
    }
    return violations;
}

const void *cvault_random_seeded_shard(size_t *length) {
    pthread_once(&cvault_rng_once, cvault_rng_setup);
    *length = 0;
    if (cvault_rng_shards == NULL) return NULL;
    unsigned char warm;
    if (cvault_random_bytes_from(0, &warm, 1) != 0) return NULL;
    *length = sizeof(cvault_rng_shard);
    return &cvault_rng_shards[0];
}
