#ifndef CVAULT_SYSTEM_H
#define CVAULT_SYSTEM_H
// The Linux pieces Swift cannot reach directly. Kept small: every function here is either a
// syscall without a glibc wrapper, a constant that differs by libc version, or code that must be
// async-signal-safe (the purge registry and the signal handlers), which Swift cannot promise.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Constants (glibc versions differ in what they define)
extern const int cvault_madv_dontdump;
extern const int cvault_madv_dontfork;
extern const int cvault_madv_wipeonfork;
extern const int cvault_mlock_onfault;
extern const int cvault_pr_set_dumpable;
extern const int cvault_pr_get_dumpable;
extern const long cvault_sys_memfd_secret;
extern const int cvault_rlimit_memlock;
extern const int cvault_rlimit_core;

// MARK: - Syscalls without a glibc wrapper; return -1 and set errno on failure.
int cvault_memfd_secret(unsigned int flags);
int cvault_mlock2(const void *addr, size_t len, unsigned int flags);
int cvault_prctl(int option, unsigned long arg2);
int cvault_errno(void);
void cvault_set_errno(int value);

// MARK: - Wiping and checking
/// Returns 1 when all `len` bytes are zero. Word-at-a-time so that verifying a wipe costs less
/// than the wipe itself (libsodium's sodium_is_zero is constant-time and byte-wise: too slow for
/// megabytes, and timing does not matter for memory we just zeroed).
int cvault_is_zero(const void *ptr, size_t len);
/// Wipes [ptr, ptr+len) with sodium_memzero and reads it back, chunk by chunk while each chunk is
/// hot in cache. Returns 1 when every byte read back as zero.
int cvault_wipe_and_verify(void *ptr, size_t len);
/// Wipes the first `used` bytes of a `capacity`-byte slot and proves the whole slot reads back
/// as zero (wiping the tail as well if it is not). Sets *verified to 1 when every byte is zero.
/// Returns the bytes wiped.
size_t cvault_wipe_slot(void *ptr, size_t used, size_t capacity, int *verified);
/// Zeroes through a volatile pointer: safe in a signal handler and never elided.
void cvault_wipe_volatile(void *ptr, size_t len);

// MARK: - Purge registry (lock-free, async-signal-safe)
/// Capacity of the registry. Regions are pool-sized (hundreds of KiB), so this covers many GiB.
#define CVAULT_PURGE_CAPACITY 16384
/// Registers [base, base+len) to be wiped by cvault_purge_all. Pass a non-zero
/// `not_inherited_by_fork` for MADV_DONTFORK regions, which a purge in a forked child must skip.
/// Returns a slot index, or -1 when the registry is full.
int cvault_purge_register(void *base, size_t len, int not_inherited_by_fork);
/// Removes a registration and waits for any purge already running to finish, so the region can
/// be unmapped safely afterwards. Call before unmapping the region.
void cvault_purge_unregister(int slot);
/// Wipes every registered region. Lock-free and async-signal-safe. Returns bytes wiped.
size_t cvault_purge_all(void);
/// How many times cvault_purge_all has run in this process.
uint64_t cvault_purge_generation(void);
/// Number of live registrations (diagnostics).
int cvault_purge_registered_count(void);

// MARK: - Signal handlers
/// Installs handlers for the fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE)
/// that purge every registered region and then chain to the handler that was installed before
/// (the Swift runtime's backtracer, a crash reporter) or, if none, re-raise with the default
/// action. Idempotent. Returns 0, or -1 with errno set.
int cvault_install_fatal_purge_handlers(void);
/// Installs handlers for SIGTERM and SIGINT that purge and then chain, or re-raise with the
/// default action (terminate). Idempotent. Returns 0, or -1 with errno set.
int cvault_install_termination_purge_handlers(void);

// MARK: - Fork probe
/// For the probes' forked children (no exec): closes every descriptor but stdio and `keep`
/// (-1: none), so a probe child never holds another thread's open files or their flock(2) locks.
void cvault_child_close_inherited(int keep);
/// Forks a child that closes what it inherited, as the probes do, and reports whether `fd` is
/// closed in it: 0 closed, 2 still open, -1 (errno set) when the fork failed.
int cvault_fork_descriptor_probe(int fd);

/// Forks a child that tries to read [ptr, ptr+len) through a pipe (so an unmapped page yields
/// EFAULT instead of a crash) and reports what it saw. Returns 0 when the child saw only
/// zeroes, 1 when the range is not mapped in the child, 2 when the child read non-zero bytes,
/// and -1 (errno set) when the probe itself failed. Uses only async-signal-safe calls in the child.
int cvault_fork_probe(const void *ptr, size_t len);

/// Forks a child that runs cvault_purge_all() and then reports whether [ptr, ptr+len) reads as
/// zero: 0 zero, 2 non-zero, -1 (errno set) probe failure. Proves the purge path on a copy of
/// the process without wiping the parent's memory.
int cvault_fork_purge_probe(const void *ptr, size_t len);

/// Forks a child that installs a plain handler for `sig` (which checks that [ptr, ptr+len) is
/// zero and exits 0, or 2 if not), then installs the purge handlers on top, then raises `sig`.
/// Proves that the purge handler runs first and chains to the handler installed before it.
/// Returns the child's exit code (0 or 2), 3 when the child died by the signal itself, or -1.
int cvault_fork_signal_probe(const void *ptr, size_t len, int sig);

/// Forks a traced child that loads the 16-byte `canary` into both halves of ymm0-15, installs
/// the purge handlers over the default action and faults. Reads the child's saved XSAVE state
/// at the fault (where the canary must be) and again when the default action is about to run,
/// after the purge handler: what a core dump would hold. Returns 0 when the canary was gone,
/// 2 when it was still there, 3 when it was not seen even at the fault (the probe proves
/// nothing), 8 when unsupported (not x86_64 with AVX), -1 when ptrace or fork failed.
int cvault_fork_vector_register_probe(const void *canary);
/// Forks a child with a host handler (SA_SIGINFO) for `sig` that searches the saved FP/vector
/// state of the context it is given for the 16-byte `canary`. With `purge` the purge handlers
/// are installed over it, so they run first and chain to it, as they do to a crash reporter.
/// The child loads the canary into ymm0-15 and sends itself `sig` with a bare tgkill syscall
/// (nothing in between touches a vector register). Returns the child's exit status: 0 when the
/// host handler did not see the canary, 2 when it did, 7 when it got no FP state; 8 when
/// unsupported (not x86_64 with AVX), 9 under a sanitizer (which defers signals and hands the
/// handler its own context), -1 when fork or waitpid failed or the child ended otherwise.
int cvault_fork_vector_register_chain_probe(const void *canary, int sig, int purge);

// MARK: - Key generator (KeyGenerator.c)
/// Fills `output` with `len` random bytes from a fast-key-erasure ChaCha20 generator whose state
/// is locked, excluded from core dumps and wiped on fork (a forked child reseeds), seeded and
/// reseeded from getrandom. Returns 0, or -1 with errno set when the kernel refused randomness.
int cvault_random_bytes(void *output, size_t len);
/// 1 when the locked, wipe-on-fork state is in use; 0 when it could not be set up and every
/// call is a direct getrandom (see cvault_random_setup_errno).
int cvault_random_mode(void);
/// The errno that prevented the state's setup, or 0.
int cvault_random_setup_errno(void);
/// The state's mapping (tests: prove a forked child sees it zeroed). NULL in direct mode.
const void *cvault_random_state(size_t *length);
/// Test hook: seeds shard 0 (draws one byte from it) and returns that shard, so a test sees a
/// key in the parent whatever ran before it. NULL in direct mode.
const void *cvault_random_seeded_shard(size_t *length);
/// Test probe: forks; the child draws `len` (≤ 64) bytes from the state it inherited (shard 0,
/// which the parent seeded before forking) into `child_output`, the parent draws `len` from its
/// own into `parent_output`. Without wipe-on-fork both would be the same bytes. 0, or -1.
int cvault_fork_random_probe(void *child_output, void *parent_output, size_t len);
/// Tests: how many times a seeded shard was reseeded from the kernel after its refill budget.
unsigned long cvault_random_periodic_reseeds(void);
/// Tests: in every seeded shard, the output already handed out and the copy of the next key
/// must read zero, and the key must not appear in the buffer. Returns the number of violations
/// (0), or -1 without the buffered state.
int cvault_random_erasure_check(void);

#ifdef __cplusplus
}
#endif
#endif
