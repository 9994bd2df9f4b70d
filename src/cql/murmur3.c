/* murmur3.c - the token of a partition key under Cassandra's
 * Murmur3Partitioner: the first 64 bits of MurmurHash3_x64_128 (seed 0),
 * with Cassandra's quirk that tail bytes are sign-extended (Java bytes are
 * signed), and Long.MIN_VALUE mapped to Long.MAX_VALUE. */
#include "cassnn/cql.h"

static uint64_t rotl64(uint64_t v, int n) { return (v << n) | (v >> (64 - n)); }

static uint64_t fmix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static uint64_t block_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A Java (long) of a signed byte. */
static uint64_t sbyte(uint8_t b) { return (uint64_t)(int64_t)(int8_t)b; }

int64_t cql_murmur3_token(const uint8_t *key, size_t len) {
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0, h2 = 0;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = block_le(key + 16 * i), k2 = block_le(key + 16 * i + 8);
        k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *tail = key + 16 * nblocks;
    size_t rest = len & 15;
    uint64_t k1 = 0, k2 = 0;
    if (rest > 8) {
        for (size_t i = rest; i > 8; i--) k2 ^= sbyte(tail[i - 1]) << (8 * (i - 9));
        k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
    }
    if (rest > 0) {
        size_t top = rest > 8 ? 8 : rest;
        for (size_t i = top; i > 0; i--) k1 ^= sbyte(tail[i - 1]) << (8 * (i - 1));
        k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;
    int64_t token = (int64_t)h1;
    return token == INT64_MIN ? INT64_MAX : token;
}
