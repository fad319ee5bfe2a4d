// sha256.h: SHA-256 (FIPS 180-4), for checkpoint integrity checks (spec §10: every checkpoint
// carries a checksum that loading verifies). Streaming: init, update any number of times, final.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64  // without the terminating NUL

typedef struct {
    uint32_t h[8];       // chaining state H0..H7
    uint64_t nbytes;     // message length so far, in bytes
    uint8_t block[64];   // pending partial block
    size_t block_len;    // bytes used in block
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
// Writes the 32-byte digest; the context must be re-initialised before reuse.
void sha256_final(Sha256 *s, uint8_t digest[SHA256_DIGEST_LEN]);
// One-shot digest of a buffer.
void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);
// Lower-case hex of a digest into out (65 bytes: 64 digits + NUL).
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1]);
