#ifndef CVAULT_SODIUM_SHIM_H
#define CVAULT_SODIUM_SHIM_H
// libsodium as one module. Swift code imports it with `internal import CVaultSodium`, so no
// libsodium type appears in this package's public API.
#include <sodium.h>

// The vault's two AEADs over `void *`, as swift-crypto's shims do: Swift then passes raw
// buffers (and `&tuple`) without binding memory to `UInt8`, which is what the libsodium
// prototypes (`unsigned char *`) would otherwise force. `algorithm` is the vocabulary's
// `AEADAlgorithm` raw value: 1 XChaCha20-Poly1305, 2 AES-256-GCM. Detached 16-byte tags; the
// nonce is 24 bytes (AES-GCM reads the first 12). Return 0 on success.

static inline int cvault_aead_seal(int algorithm, void *ciphertext, void *tag, const void *message,
                                   size_t length, const void *ad, size_t ad_length,
                                   const void *nonce, const void *key) {
    unsigned long long tag_length = 0;
    if (algorithm == 2) {
        return crypto_aead_aes256gcm_encrypt_detached(ciphertext, tag, &tag_length, message, length,
                                                      ad, ad_length, NULL, nonce, key);
    }
    return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ciphertext, tag, &tag_length, message,
                                                               length, ad, ad_length, NULL, nonce, key);
}

static inline int cvault_aead_open(int algorithm, void *plaintext, const void *ciphertext, size_t length,
                                   const void *tag, const void *ad, size_t ad_length,
                                   const void *nonce, const void *key) {
    if (algorithm == 2) {
        return crypto_aead_aes256gcm_decrypt_detached(plaintext, NULL, ciphertext, length, tag, ad,
                                                      ad_length, nonce, key);
    }
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(plaintext, NULL, ciphertext, length, tag,
                                                               ad, ad_length, nonce, key);
}
#endif
