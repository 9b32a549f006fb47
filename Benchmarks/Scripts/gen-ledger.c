// Writes a large, valid RetentionLedger file (Docs/LedgerFormat.md, version 2) quickly, for the
// scale measurements of Docs/Performance.md ("Scale at 5M records"): appending 5M records
// through `Ledger` takes minutes on a shared machine, this takes seconds. It is an independent
// implementation of the format, so `zdr ledger verify` accepting its output also checks the
// spec. Records: discard receipts of 137 bytes (149 framed), request ids (0x5eed, i), a signed
// checkpoint every CHECKPOINT_EVERY receipts and one at the end, no key evolution.
//
//   cc -O2 -msse4.2 -o /tmp/gen-ledger Benchmarks/Scripts/gen-ledger.c -lsodium
//   /tmp/gen-ledger OUT.zdr SIGNER.key VERIFIER.txt 5000000
//
// SIGNER.key (mode 0600) and VERIFIER.txt are written too, from a fixed seed (a test key).
#include <fcntl.h>
#include <nmmintrin.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKPOINT_EVERY 1000
static const char *origin = "scale.example/ledger";

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n >= 8) { uint64_t v; memcpy(&v, p, 8); crc = (uint32_t)_mm_crc32_u64(crc, v); p += 8; n -= 8; }
    while (n--) crc = _mm_crc32_u8(crc, *p++);
    return ~crc;
}

static uint8_t *out; static size_t out_len, out_cap;
static void put(const void *p, size_t n) {
    if (out_len + n > out_cap) { out_cap = (out_cap + n) * 2; out = realloc(out, out_cap); }
    memcpy(out + out_len, p, n); out_len += n;
}
static void u8(uint8_t **w, uint8_t v) { *(*w)++ = v; }
static void u32(uint8_t **w, uint32_t v) { for (int i = 3; i >= 0; i--) *(*w)++ = (uint8_t)(v >> (8 * i)); }
static void u64(uint8_t **w, uint64_t v) { for (int i = 7; i >= 0; i--) *(*w)++ = (uint8_t)(v >> (8 * i)); }

// RFC 6962 tree as its frontier: the roots of the perfect subtrees, largest first.
static uint8_t frontier[64][32]; static int frontier_count; static uint64_t tree_size;
static void node(const uint8_t l[32], const uint8_t r[32], uint8_t o[32]) {
    crypto_hash_sha256_state s; uint8_t p = 1;
    crypto_hash_sha256_init(&s); crypto_hash_sha256_update(&s, &p, 1);
    crypto_hash_sha256_update(&s, l, 32); crypto_hash_sha256_update(&s, r, 32); crypto_hash_sha256_final(&s, o);
}
static void append_leaf(const uint8_t *record, size_t n) {
    crypto_hash_sha256_state s; uint8_t p = 0, h[32];
    crypto_hash_sha256_init(&s); crypto_hash_sha256_update(&s, &p, 1);
    crypto_hash_sha256_update(&s, record, n); crypto_hash_sha256_final(&s, h);
    for (uint64_t size = tree_size; size & 1; size >>= 1) node(frontier[--frontier_count], h, h);
    memcpy(frontier[frontier_count++], h, 32);
    tree_size++;
}
static void root(uint8_t o[32]) {
    memcpy(o, frontier[frontier_count - 1], 32);
    for (int i = frontier_count - 2; i >= 0; i--) node(frontier[i], o, o);
}

static void frame(const uint8_t *record, size_t n) {
    uint8_t head[8], *w = head; u32(&w, (uint32_t)n); u32(&w, ~(uint32_t)n);
    uint32_t crc = crc32c(crc32c(0, head, 4), record, n);
    uint8_t tail[4]; w = tail; u32(&w, crc);
    put(head, 8); put(record, n); put(tail, 4);
    append_leaf(record, n);
}

static unsigned char sk[64], pk[32];
static uint64_t clock_ns = 1700000000000000000ull;

static void checkpoint(void) {
    uint8_t r[32]; root(r);
    char b64[64], body[256];
    sodium_bin2base64(b64, sizeof b64, r, 32, sodium_base64_VARIANT_ORIGINAL);
    int len = snprintf(body, sizeof body, "%s\n%llu\n%s\n", origin, (unsigned long long)tree_size, b64);
    uint8_t sig[64]; crypto_sign_detached(sig, NULL, (uint8_t *)body, (size_t)len, sk);
    uint8_t rec[128], *w = rec;
    u8(&w, 1); u8(&w, 8); u64(&w, clock_ns++); u64(&w, tree_size); memcpy(w, r, 32); w += 32; u32(&w, 0);
    memcpy(w, sig, 64); w += 64;
    frame(rec, (size_t)(w - rec));
}

static void write_text(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) != 0) { perror(path); exit(2); }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 5 || sodium_init() < 0) { fprintf(stderr, "usage: gen-ledger OUT.zdr SIGNER.key VERIFIER.txt COUNT\n"); return 64; }
    uint64_t count = strtoull(argv[4], NULL, 10);
    unsigned char seed[32]; memset(seed, 0x5e, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    // Key id: SHA-256(name || 0x0a || 0x01 || public key)[0:4].
    uint8_t idin[300], idh[32]; size_t on = strlen(origin);
    memcpy(idin, origin, on); idin[on] = 0x0a; idin[on + 1] = 1; memcpy(idin + on + 2, pk, 32);
    crypto_hash_sha256(idh, idin, on + 34);
    uint8_t typed[33]; char b64[80], text[400];
    typed[0] = 1; memcpy(typed + 1, seed, 32);
    sodium_bin2base64(b64, sizeof b64, typed, 33, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "PRIVATE+KEY+%s+%02x%02x%02x%02x+%s\n", origin, idh[0], idh[1], idh[2], idh[3], b64);
    write_text(argv[2], text, 0600);
    memcpy(typed + 1, pk, 32);
    sodium_bin2base64(b64, sizeof b64, typed, 33, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "%s+%02x%02x%02x%02x+%s\n", origin, idh[0], idh[1], idh[2], idh[3], b64);
    write_text(argv[3], text, 0644);

    uint8_t header[300], *w = header;
    memcpy(w, "ZDRLEDGR", 8); w += 8; u8(&w, 0); u8(&w, 2); u8(&w, 0); u8(&w, 0); u8(&w, (uint8_t)on);
    memcpy(w, origin, on); w += on;
    uint32_t hcrc = crc32c(0, header, (size_t)(w - header)); u32(&w, hcrc);
    put(header, (size_t)(w - header));

    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(argv[1]); return 2; }
    for (uint64_t i = 0; i < count; i++) {
        uint8_t rec[256]; w = rec;
        u8(&w, 1); u8(&w, 5); u64(&w, clock_ns++);
        u64(&w, 0x5eed); u64(&w, i);                       // request id
        u8(&w, 1);                                        // completed
        u64(&w, 1700000000000000000ull); u8(&w, 1); u64(&w, 1700000000100000000ull); u64(&w, 1700000001000000000ull);
        u64(&w, 4096); u64(&w, 12345); u64(&w, 3); u64(&w, 2); u64(&w, 12345);
        u8(&w, 1); u8(&w, 0); u8(&w, 1); u8(&w, 1);       // key destroyed, no corruption, secretmem, xchacha
        u8(&w, 20); for (int h = 0; h < 20; h++) { u8(&w, (uint8_t)(1 + h % 7)); u8(&w, 1); }
        frame(rec, (size_t)(w - rec));
        if ((i + 1) % CHECKPOINT_EVERY == 0 || i + 1 == count) checkpoint();
        if (out_len > (64 << 20)) { if (write(fd, out, out_len) != (ssize_t)out_len) { perror("write"); return 2; } out_len = 0; }
    }
    if (write(fd, out, out_len) != (ssize_t)out_len || fsync(fd) != 0) { perror("write"); return 2; }
    close(fd);
    printf("%llu records (%llu receipts)\n", (unsigned long long)tree_size, (unsigned long long)count);
    return 0;
}
