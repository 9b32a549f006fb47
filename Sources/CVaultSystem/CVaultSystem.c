#define _GNU_SOURCE
#include "CVaultSystem.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/ucontext.h>
#include <sys/uio.h>
#endif

// MARK: - Constants

#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP 16
#endif
#ifndef MADV_DONTFORK
#define MADV_DONTFORK 10
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef SYS_memfd_secret
// The same number on x86_64 and the generic table (arm64, riscv64).
#define SYS_memfd_secret 447
#endif
#ifndef SYS_mlock2
#define SYS_mlock2 325
#endif

const int cvault_madv_dontdump = MADV_DONTDUMP;
const int cvault_madv_dontfork = MADV_DONTFORK;
const int cvault_madv_wipeonfork = MADV_WIPEONFORK;
const int cvault_mlock_onfault = MLOCK_ONFAULT;
const int cvault_pr_set_dumpable = PR_SET_DUMPABLE;
const int cvault_pr_get_dumpable = PR_GET_DUMPABLE;
const long cvault_sys_memfd_secret = SYS_memfd_secret;
const int cvault_rlimit_memlock = RLIMIT_MEMLOCK;
const int cvault_rlimit_core = RLIMIT_CORE;

// MARK: - Syscalls

int cvault_memfd_secret(unsigned int flags) {
    return (int)syscall(SYS_memfd_secret, flags);
}

int cvault_mlock2(const void *addr, size_t len, unsigned int flags) {
    return (int)syscall(SYS_mlock2, addr, len, flags);
}

int cvault_prctl(int option, unsigned long arg2) {
    return prctl(option, arg2, 0UL, 0UL, 0UL);
}

int cvault_errno(void) { return errno; }
void cvault_set_errno(int value) { errno = value; }

// MARK: - Wiping and checking

static int cvault_is_zero_portable(const unsigned char *bytes, size_t len) {
    size_t i = 0;
    uint64_t acc = 0;
    // Unaligned head, then 64-bit words the compiler vectorizes, then the tail.
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
// Verifying a wipe reads every byte once more; with 32-byte loads and four independent
// accumulators the read runs at about twice the speed of the memset that wiped it, which keeps
// "wipe and prove it" within 1.5x of a plain wipe for megabyte buffers.
__attribute__((target("avx2")))
static int cvault_is_zero_avx2(const unsigned char *bytes, size_t len) {
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
    return cvault_is_zero_portable(bytes + i, len - i);
}
#endif

int cvault_is_zero(const void *ptr, size_t len) {
    const unsigned char *bytes = (const unsigned char *)ptr;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (len >= 256 && __builtin_cpu_supports("avx2")) { return cvault_is_zero_avx2(bytes, len); }
#endif
    return cvault_is_zero_portable(bytes, len);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
// Wipe and read-back in one pass for buffers of up to 16 KiB (a request's chunks and scratch):
// each 128-byte block is stored as zero, then, past a compiler barrier (so neither the stores nor
// the loads can be elided or folded into known zeroes), loaded back and or-ed into the
// accumulator. On this AMD EPYC host glibc's memset uses `rep stosb` for 4 KiB, which with the
// separate read-back pass took more than a third of a 4 KiB lifecycle's non-AEAD time (perf).
// Larger buffers keep the chunked memset + read-back below.
__attribute__((target("avx2")))
static int cvault_wipe_and_verify_small_avx2(unsigned char *bytes, size_t len) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        unsigned char *block = bytes + i;
        _mm256_storeu_si256((__m256i *)(void *)block, zero);
        _mm256_storeu_si256((__m256i *)(void *)(block + 32), zero);
        _mm256_storeu_si256((__m256i *)(void *)(block + 64), zero);
        _mm256_storeu_si256((__m256i *)(void *)(block + 96), zero);
        __asm__ volatile("" : : "r"(block) : "memory");
        a0 = _mm256_or_si256(a0, _mm256_loadu_si256((const __m256i *)(const void *)block));
        a1 = _mm256_or_si256(a1, _mm256_loadu_si256((const __m256i *)(const void *)(block + 32)));
        a2 = _mm256_or_si256(a2, _mm256_loadu_si256((const __m256i *)(const void *)(block + 64)));
        a3 = _mm256_or_si256(a3, _mm256_loadu_si256((const __m256i *)(const void *)(block + 96)));
    }
    int zero_tail = 1;
    if (i < len) {
        sodium_memzero(bytes + i, len - i);
        __asm__ volatile("" : : "r"(bytes) : "memory");
        zero_tail = cvault_is_zero_portable(bytes + i, len - i);
    }
    __m256i acc = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
    return zero_tail && _mm256_testz_si256(acc, acc);
}
#endif

int cvault_wipe_and_verify(void *ptr, size_t len) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (len <= 16384 && __builtin_cpu_supports("avx2")) {
        return cvault_wipe_and_verify_small_avx2((unsigned char *)ptr, len);
    }
#endif
    // Chunks of 16 KiB (half of a typical L1d): each is read back while it is still in cache,
    // so proving the wipe costs a fraction of a second pass over a large buffer. Measured at
    // 1 MiB on the 2-vCPU machine (loaded, best of 30): fill+wipe+read-back as two passes
    // 41.9 us, in 16 KiB chunks 30.8 us, fill+wipe alone 28.2 us. Smaller chunks pay a call per
    // chunk; 1 KiB chunks made 64 KiB buffers slower than two passes.
    enum { chunk = 16384 };
    unsigned char *bytes = (unsigned char *)ptr;
    int zero = 1;
    for (size_t offset = 0; offset < len; offset += chunk) {
        size_t n = len - offset < chunk ? len - offset : chunk;
        sodium_memzero(bytes + offset, n);
        // The compiler must read the memory back, not assume the zeroes it just wrote.
        __asm__ volatile("" : : "r"(bytes) : "memory");
        zero &= cvault_is_zero(bytes + offset, n);
    }
    return zero;
}

size_t cvault_wipe_slot(void *ptr, size_t used, size_t capacity, int *verified) {
    // Only the first `used` bytes can hold content: the owner's access never reaches past them
    // and the rest of the slot read back as zero when it was last released. Wipe those, then
    // prove the whole slot is zero; a tail that is not (a write past `used`) is wiped too.
    unsigned char *bytes = (unsigned char *)ptr;
    size_t wiped = used;
    int zero = cvault_wipe_and_verify(bytes, used);
    if (capacity > used && !cvault_is_zero(bytes + used, capacity - used)) {
        zero &= cvault_wipe_and_verify(bytes + used, capacity - used);
        wiped = capacity;
    }
    *verified = zero;
    return wiped;
}

void cvault_wipe_volatile(void *ptr, size_t len) {
    volatile unsigned char *p = (volatile unsigned char *)ptr;
    while (len--) { *p++ = 0; }
}

// MARK: - Purge registry
//
// A fixed array of (base, length) pairs written with atomics, so the purge path takes no lock
// (a fatal signal can arrive while another thread holds any lock). Registration claims a free
// entry with compare-and-swap on its base. Pools unregister a region before unmapping it, and
// unregistering waits for every purge already running: a purge that read the entry before it was
// cleared would otherwise write into a just-unmapped page.

typedef struct {
    _Atomic(uintptr_t) base;
    _Atomic(size_t) length;
    /// For regions a forked child does not inherit (MADV_DONTFORK: secretmem), the process that
    /// mapped them; 0 otherwise. A purge in a forked child (a fatal signal before exec) must
    /// skip them: the addresses are not mapped there and writing would fault.
    _Atomic(pid_t) owner;
} cvault_region;

static cvault_region cvault_regions[CVAULT_PURGE_CAPACITY];
static _Atomic(uint64_t) cvault_purges;
static _Atomic(int) cvault_registered;
/// Purges running now (any thread, signal handlers included).
static _Atomic(int) cvault_purging;

int cvault_purge_register(void *base, size_t len, int not_inherited_by_fork) {
    if (base == NULL) { return -1; }
    for (int i = 0; i < CVAULT_PURGE_CAPACITY; i++) {
        uintptr_t expected = 0;
        if (atomic_compare_exchange_strong(&cvault_regions[i].base, &expected, (uintptr_t)base)) {
            atomic_store(&cvault_regions[i].owner, not_inherited_by_fork ? getpid() : 0);
            atomic_store(&cvault_regions[i].length, len);
            atomic_fetch_add(&cvault_registered, 1);
            return i;
        }
    }
    return -1;
}

void cvault_purge_unregister(int slot) {
    if (slot < 0 || slot >= CVAULT_PURGE_CAPACITY) { return; }
    atomic_store(&cvault_regions[slot].length, 0);
    atomic_store(&cvault_regions[slot].base, 0);
    atomic_fetch_sub(&cvault_registered, 1);
    // Sequentially consistent on both sides (a purge counts itself in, then reads the entries):
    // either that purge sees the cleared entry, or this load sees it counted. A purge is a
    // bounded loop, so the wait ends; the bound only covers a count inherited mid-purge by a
    // forked child, where no purge is running any more.
    for (int spins = 0; atomic_load(&cvault_purging) != 0 && spins < (1 << 20); spins++) { sched_yield(); }
}

size_t cvault_purge_all(void) {
    size_t wiped = 0;
    pid_t self = getpid();  // async-signal-safe
    atomic_fetch_add(&cvault_purging, 1);
    for (int i = 0; i < CVAULT_PURGE_CAPACITY; i++) {
        uintptr_t base = atomic_load(&cvault_regions[i].base);
        size_t len = atomic_load(&cvault_regions[i].length);
        pid_t owner = atomic_load(&cvault_regions[i].owner);
        if (owner != 0 && owner != self) { continue; }
        if (base != 0 && len != 0) {
            cvault_wipe_volatile((void *)base, len);
            wiped += len;
        }
    }
    atomic_fetch_add(&cvault_purges, 1);
    atomic_fetch_sub(&cvault_purging, 1);
    return wiped;
}

uint64_t cvault_purge_generation(void) { return atomic_load(&cvault_purges); }
int cvault_purge_registered_count(void) { return atomic_load(&cvault_registered); }

// MARK: - Signal handlers

static const int cvault_fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE };
static const int cvault_termination_signals[] = { SIGTERM, SIGINT };
#define CVAULT_MAX_SIGNAL 65
static struct sigaction cvault_previous[CVAULT_MAX_SIGNAL];
static _Atomic(int) cvault_installed[CVAULT_MAX_SIGNAL];

// MARK: - Saved vector registers

#if defined(__x86_64__)
// The signal frame holds the interrupted thread's FP/vector registers (x86_64 Linux: an XSAVE
// image at uc_mcontext.fpregs, standard format). They are restored on sigreturn and written to
// the core when the default action dumps, so a crash in the middle of an AEAD or a memcpy would
// put up to 32 × 64 bytes of plaintext into the core, where neither MADV_DONTDUMP nor the purge
// reaches. The purge handler zeroes them for the fatal signals only (a handled SIGTERM may
// resume the interrupted code, which still needs its registers).
enum {
    cvault_fxsave_registers_offset = 32,   // st0-7/mm0-7 (8 × 16 B), then xmm0-15 (16 × 16 B)
    cvault_fxsave_registers_length = 128 + 256,
    cvault_fxsave_sw_reserved_offset = 464, // struct _fpx_sw_bytes, filled by the kernel
    cvault_xsave_header_offset = 512,       // XSTATE_BV: which components the image holds
    cvault_xsave_legacy_length = 576,       // FXSAVE area + XSAVE header
};
#define CVAULT_FP_XSTATE_MAGIC1 0x46505853u

// Components that hold data registers: AVX upper halves (2), AVX-512 opmasks (5), ZMM upper
// halves (6), ZMM16-31 (7), AMX tile configuration and data (17, 18). Not PKRU (9), which
// holds access rights, not data. Offsets and sizes come from CPUID leaf 0xD, read once at
// install time so the handler runs no CPUID.
static const unsigned cvault_vector_components[] = { 2, 5, 6, 7, 17, 18 };
#define CVAULT_VECTOR_COMPONENTS (sizeof(cvault_vector_components) / sizeof(unsigned))
static uint32_t cvault_component_offset[CVAULT_VECTOR_COMPONENTS];
static uint32_t cvault_component_size[CVAULT_VECTOR_COMPONENTS];

static void cvault_read_xsave_layout(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 26))) { return; }  // no XSAVE
    for (size_t i = 0; i < CVAULT_VECTOR_COMPONENTS; i++) {
        __cpuid_count(0xD, cvault_vector_components[i], eax, ebx, ecx, edx);
        cvault_component_size[i] = eax;
        cvault_component_offset[i] = ebx;
    }
}

static void cvault_clear_saved_vector_registers(void *context) {
    ucontext_t *uc = context;
    if (uc == NULL || uc->uc_mcontext.fpregs == NULL) { return; }
    unsigned char *image = (unsigned char *)uc->uc_mcontext.fpregs;
    cvault_wipe_volatile(image + cvault_fxsave_registers_offset, cvault_fxsave_registers_length);
    uint32_t magic, xstate_size;
    uint64_t features;
    memcpy(&magic, image + cvault_fxsave_sw_reserved_offset, 4);
    if (magic != CVAULT_FP_XSTATE_MAGIC1) { return; }  // an FXSAVE-only frame: nothing more
    memcpy(&features, image + cvault_fxsave_sw_reserved_offset + 8, 8);
    memcpy(&xstate_size, image + cvault_fxsave_sw_reserved_offset + 16, 4);
    uint64_t present;
    memcpy(&present, image + cvault_xsave_header_offset, 8);
    for (size_t i = 0; i < CVAULT_VECTOR_COMPONENTS; i++) {
        uint64_t bit = 1ull << cvault_vector_components[i];
        uint32_t offset = cvault_component_offset[i], size = cvault_component_size[i];
        if (!(features & bit) || size == 0 || offset < cvault_xsave_legacy_length
            || offset > xstate_size || size > xstate_size - offset) { continue; }
        cvault_wipe_volatile(image + offset, size);
        // A clear XSTATE_BV bit makes sigreturn load the component's initial (zero) state.
        present &= ~bit;
    }
    memcpy(image + cvault_xsave_header_offset, &present, 8);
}
#else
// Other architectures keep the FP/SIMD state in a different frame layout; not cleared yet
// (Docs/ThreatModel.md, "Registers").
static void cvault_read_xsave_layout(void) {}
static void cvault_clear_saved_vector_registers(void *context) { (void)context; }
#endif

static int cvault_is_fatal_signal(int sig) {
    for (size_t i = 0; i < sizeof(cvault_fatal_signals) / sizeof(int); i++) {
        if (cvault_fatal_signals[i] == sig) { return 1; }
    }
    return 0;
}

static void cvault_purge_handler(int sig, siginfo_t *info, void *context) {
    int saved_errno = errno;
    cvault_purge_all();
    // Before chaining: a crash reporter needs the general registers, not the vector state.
    if (cvault_is_fatal_signal(sig)) { cvault_clear_saved_vector_registers(context); }
    struct sigaction *prev = (sig > 0 && sig < CVAULT_MAX_SIGNAL) ? &cvault_previous[sig] : NULL;
    if (prev != NULL && (prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction != NULL) {
        errno = saved_errno;
        prev->sa_sigaction(sig, info, context);
        return;
    }
    if (prev != NULL && !(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL
        && prev->sa_handler != SIG_IGN && prev->sa_handler != NULL) {
        errno = saved_errno;
        prev->sa_handler(sig);
        return;
    }
    if (prev != NULL && !(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN) {
        errno = saved_errno;
        return;
    }
    // No handler before ours: restore the default action and deliver the signal again, so the
    // process ends the way it would have (exit status, core policy) minus the content.
    signal(sig, SIG_DFL);
    errno = saved_errno;
    raise(sig);
}

static int cvault_install(const int *signals, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int sig = signals[i];
        int expected = 0;
        if (!atomic_compare_exchange_strong(&cvault_installed[sig], &expected, 1)) { continue; }
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_sigaction = cvault_purge_handler;
        // SA_ONSTACK: a stack overflow SIGSEGV still runs us on the alternate stack if the host
        // (or the Swift runtime) set one up. SA_NODEFER is not set: a fault inside the purge
        // re-enters as the default action.
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sigemptyset(&action.sa_mask);
        if (sigaction(sig, &action, &cvault_previous[sig]) != 0) {
            atomic_store(&cvault_installed[sig], 0);
            return -1;
        }
    }
    return 0;
}

int cvault_install_fatal_purge_handlers(void) {
    static pthread_once_t layout_once = PTHREAD_ONCE_INIT;
    pthread_once(&layout_once, cvault_read_xsave_layout);
    return cvault_install(cvault_fatal_signals, sizeof(cvault_fatal_signals) / sizeof(int));
}

int cvault_install_termination_purge_handlers(void) {
    return cvault_install(cvault_termination_signals,
                          sizeof(cvault_termination_signals) / sizeof(int));
}

// MARK: - Fork probe

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/// In a probe's child: closes every descriptor but stdio and `keep` (-1: none). The child of a
/// fork without exec holds every descriptor the process had open, and with them each open file
/// description's flock(2) lock, until it exits: a probe forked while a ledger in another thread
/// was open kept that ledger's writer lock, and the ledger's next open failed with EAGAIN.
void cvault_child_close_inherited(int keep) {
    if (keep > 3) { syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u); }
    if (syscall(SYS_close_range, keep >= 3 ? (unsigned)keep + 1 : 3u, ~0u, 0u) == 0) { return; }
    for (int fd = keep >= 3 ? keep + 1 : 3; fd < 65536; fd++) { close(fd); }  // before Linux 5.9
}

static int cvault_wait_child(pid_t child);

int cvault_fork_descriptor_probe(int fd) {
    pid_t child = fork();
    if (child < 0) { return -1; }
    if (child == 0) {
        cvault_child_close_inherited(-1);
        _exit(fcntl(fd, F_GETFD) == -1 && errno == EBADF ? 0 : 2);
    }
    return cvault_wait_child(child);
}

int cvault_fork_probe(const void *ptr, size_t len) {
    int fds[2];
    if (pipe(fds) != 0) { return -1; }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]); close(fds[1]);
        errno = e;
        return -1;
    }
    if (child == 0) {
        // Child: only async-signal-safe calls. write(2) copies from our address space and fails
        // with EFAULT instead of faulting when a page is not mapped here (MADV_DONTFORK); once
        // the kernel has read a chunk, the child may look at it directly.
        cvault_child_close_inherited(fds[1]);
        const unsigned char *p = (const unsigned char *)ptr;
        size_t offset = 0;
        int saw_nonzero = 0;
        while (offset < len) {
            size_t n = len - offset < 4096 ? len - offset : 4096;
            ssize_t w = write(fds[1], p + offset, n);
            if (w < 0) {
                if (errno == EINTR) { continue; }
                _exit(errno == EFAULT ? 1 : 3);
            }
            for (ssize_t k = 0; k < w; k++) { saw_nonzero |= (p[offset + (size_t)k] != 0); }
            offset += (size_t)w;
        }
        _exit(saw_nonzero ? 2 : 0);
    }
    close(fds[1]);
    // Drain the pipe so the child never blocks on a full pipe.
    unsigned char sink[4096];
    while (read(fds[0], sink, sizeof(sink)) > 0) { }
    close(fds[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) { return -1; }
    }
    if (!WIFEXITED(status)) { errno = ECHILD; return -1; }
    int code = WEXITSTATUS(status);
    if (code > 2) { errno = EIO; return -1; }
    return code;
}

// MARK: - Purge probes (children use async-signal-safe calls only)

static int cvault_wait_child(pid_t child) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) { return -1; }
    }
    if (WIFSIGNALED(status)) { return 3; }
    if (!WIFEXITED(status)) { errno = ECHILD; return -1; }
    return WEXITSTATUS(status);
}

int cvault_fork_purge_probe(const void *ptr, size_t len) {
    pid_t child = fork();
    if (child < 0) { return -1; }
    if (child == 0) {
        cvault_child_close_inherited(-1);
        cvault_purge_all();
        _exit(cvault_is_zero(ptr, len) ? 0 : 2);
    }
    return cvault_wait_child(child);
}

static const void *cvault_probe_ptr;
static size_t cvault_probe_len;

static void cvault_probe_previous_handler(int sig) {
    (void)sig;
    _exit(cvault_is_zero(cvault_probe_ptr, cvault_probe_len) ? 0 : 2);
}

int cvault_fork_signal_probe(const void *ptr, size_t len, int sig) {
    pid_t child = fork();
    if (child < 0) { return -1; }
    if (child == 0) {
        cvault_child_close_inherited(-1);
        cvault_probe_ptr = ptr;
        cvault_probe_len = len;
        struct sigaction previous;
        memset(&previous, 0, sizeof(previous));
        previous.sa_handler = cvault_probe_previous_handler;
        sigemptyset(&previous.sa_mask);
        if (sigaction(sig, &previous, NULL) != 0) { _exit(4); }
        // The inherited "installed" flags may say the parent installed already; the child
        // resets them so it installs over the probe handler it just set.
        for (int i = 0; i < CVAULT_MAX_SIGNAL; i++) { atomic_store(&cvault_installed[i], 0); }
        if (cvault_install_fatal_purge_handlers() != 0) { _exit(5); }
        if (cvault_install_termination_purge_handlers() != 0) { _exit(5); }
        // The forking thread may be a dispatch worker, which blocks asynchronous signals.
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, sig);
        pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
        raise(sig);
        // A sanitizer runtime may defer an asynchronous signal to its next interception point;
        // give it a few before concluding that the handlers never ran.
        for (int i = 0; i < 200; i++) { usleep(1000); }
        _exit(6);
    }
    return cvault_wait_child(child);
}

// MARK: - Vector register probe

#if defined(__x86_64__)
static int cvault_xstate_holds(pid_t child, const unsigned char *canary) {
    static unsigned char image[16384];  // XSAVE image with AMX tiles fits (< 12 KiB)
    struct iovec vector = { image, sizeof(image) };
    if (ptrace(PTRACE_GETREGSET, child, (void *)NT_X86_XSTATE, &vector) != 0) { return -1; }
    return memmem(image, vector.iov_len, canary, 16) != NULL;
}

static int cvault_wait_stop(pid_t child, int expected) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) { return 0; }
    }
    return WIFSTOPPED(status) && WSTOPSIG(status) == expected;
}
#endif

#if defined(__x86_64__)
static const unsigned char *cvault_chain_probe_canary;

/// The host's own handler in the chain probe: a crash reporter that looks at the vector state.
static void cvault_chain_probe_host_handler(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)info;
    ucontext_t *uc = context;
    if (uc == NULL || uc->uc_mcontext.fpregs == NULL) { _exit(7); }
    const unsigned char *image = (const unsigned char *)uc->uc_mcontext.fpregs;
    size_t length = 512;  // the FXSAVE area, unless the frame says it holds more
    uint32_t magic, xstate_size;
    memcpy(&magic, image + cvault_fxsave_sw_reserved_offset, 4);
    if (magic == CVAULT_FP_XSTATE_MAGIC1) {
        memcpy(&xstate_size, image + cvault_fxsave_sw_reserved_offset + 16, 4);
        if (xstate_size >= 512 && xstate_size <= 16384) { length = xstate_size; }
    }
    _exit(memmem(image, length, cvault_chain_probe_canary, 16) != NULL ? 2 : 0);
}
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CVAULT_UNDER_SANITIZER 1
#endif
#endif

int cvault_fork_vector_register_chain_probe(const void *canary, int sig, int purge) {
#if defined(CVAULT_UNDER_SANITIZER)
    (void)canary; (void)sig; (void)purge;
    return 9;
#elif defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx")) { return 8; }
    pid_t child = fork();
    if (child < 0) { return -1; }
    if (child == 0) {
        cvault_child_close_inherited(-1);
        cvault_chain_probe_canary = canary;
        struct sigaction host;
        memset(&host, 0, sizeof(host));
        host.sa_sigaction = cvault_chain_probe_host_handler;
        host.sa_flags = SA_SIGINFO;
        sigemptyset(&host.sa_mask);
        if (sigaction(sig, &host, NULL) != 0) { _exit(4); }
        if (purge) {
            for (int i = 0; i < CVAULT_MAX_SIGNAL; i++) { atomic_store(&cvault_installed[i], 0); }
            if (cvault_install_fatal_purge_handlers() != 0) { _exit(5); }
        }
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, sig);
        pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
        long pid = getpid(), tid = syscall(SYS_gettid), number = SYS_tgkill;
        __asm__ volatile(
            "vbroadcastf128 (%1), %%ymm0\n\t"  "vmovaps %%ymm0, %%ymm1\n\t"
            "vmovaps %%ymm0, %%ymm2\n\t"  "vmovaps %%ymm0, %%ymm3\n\t"
            "vmovaps %%ymm0, %%ymm4\n\t"  "vmovaps %%ymm0, %%ymm5\n\t"
            "vmovaps %%ymm0, %%ymm6\n\t"  "vmovaps %%ymm0, %%ymm7\n\t"
            "vmovaps %%ymm0, %%ymm8\n\t"  "vmovaps %%ymm0, %%ymm9\n\t"
            "vmovaps %%ymm0, %%ymm10\n\t" "vmovaps %%ymm0, %%ymm11\n\t"
            "vmovaps %%ymm0, %%ymm12\n\t" "vmovaps %%ymm0, %%ymm13\n\t"
            "vmovaps %%ymm0, %%ymm14\n\t" "vmovaps %%ymm0, %%ymm15\n\t"
            "syscall\n\t"
            : "+a"(number)
            : "r"(canary), "D"(pid), "S"(tid), "d"((long)sig)
            : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
        _exit(6);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) { return -1; }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
#else
    (void)canary; (void)sig; (void)purge;
    return 8;
#endif
}

int cvault_fork_vector_register_probe(const void *canary) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx")) { return 8; }
    pid_t child = fork();
    if (child < 0) { return -1; }
    if (child == 0) {
        cvault_child_close_inherited(-1);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) { _exit(4); }
        raise(SIGSTOP);
        // Ours on top of the default action, as in a process with no other handler.
        struct sigaction default_action;
        memset(&default_action, 0, sizeof(default_action));
        default_action.sa_handler = SIG_DFL;
        sigemptyset(&default_action.sa_mask);
        if (sigaction(SIGSEGV, &default_action, NULL) != 0) { _exit(4); }
        for (int i = 0; i < CVAULT_MAX_SIGNAL; i++) { atomic_store(&cvault_installed[i], 0); }
        if (cvault_install_fatal_purge_handlers() != 0) { _exit(5); }
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, SIGSEGV);
        pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
        // Both halves of every ymm register hold the canary when the store to address 0 faults.
        __asm__ volatile(
            "vbroadcastf128 (%0), %%ymm0\n\t"  "vmovaps %%ymm0, %%ymm1\n\t"
            "vmovaps %%ymm0, %%ymm2\n\t"  "vmovaps %%ymm0, %%ymm3\n\t"
            "vmovaps %%ymm0, %%ymm4\n\t"  "vmovaps %%ymm0, %%ymm5\n\t"
            "vmovaps %%ymm0, %%ymm6\n\t"  "vmovaps %%ymm0, %%ymm7\n\t"
            "vmovaps %%ymm0, %%ymm8\n\t"  "vmovaps %%ymm0, %%ymm9\n\t"
            "vmovaps %%ymm0, %%ymm10\n\t" "vmovaps %%ymm0, %%ymm11\n\t"
            "vmovaps %%ymm0, %%ymm12\n\t" "vmovaps %%ymm0, %%ymm13\n\t"
            "vmovaps %%ymm0, %%ymm14\n\t" "vmovaps %%ymm0, %%ymm15\n\t"
            "xorl %%eax, %%eax\n\t"
            "movb $1, (%%rax)\n\t"
            : : "r"(canary)
            : "rax", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
        _exit(6);
    }
    int result = -1;
    // 1. The initial stop; 2. the fault, before any handler: the canary must be in the
    // registers, or the probe proves nothing; 3. after the purge handler re-raised and
    // returned, the default action is next: what a core would hold.
    if (cvault_wait_stop(child, SIGSTOP) && ptrace(PTRACE_CONT, child, NULL, NULL) == 0
        && cvault_wait_stop(child, SIGSEGV)) {
        int before = cvault_xstate_holds(child, canary);
        if (before != 1) {
            result = before < 0 ? -1 : 3;
        } else if (ptrace(PTRACE_CONT, child, NULL, (void *)(intptr_t)SIGSEGV) == 0
                   && cvault_wait_stop(child, SIGSEGV)) {
            int after = cvault_xstate_holds(child, canary);
            result = after < 0 ? -1 : (after ? 2 : 0);
        }
    }
    kill(child, SIGKILL);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    return result;
#else
    (void)canary;
    return 8;
#endif
}
