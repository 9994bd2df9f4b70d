/* rng.h (private to the library) - the seeded random number generator of the
 * nn module.
 *
 * xoshiro256** seeded through splitmix64. A generator is identified by a
 * (seed, stream) pair so that independent consumers - weight init, the epoch
 * shuffle, the dropout masks of image j in step s - each get their own
 * reproducible sequence without sharing state across threads. Same seed and
 * stream = same numbers on every machine.
 */
#ifndef CASSNN_NN_RNG_H
#define CASSNN_NN_RNG_H

#include <stdint.h>

typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;

/* Starts the sequence for (seed, stream). */
void nn_rng_seed(nn_rng *r, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t nn_rng_u64(nn_rng *r);

/* Uniform float in [0, 1) with 24 random bits. */
float nn_rng_uniform(nn_rng *r);

/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t nn_rng_below(nn_rng *r, uint32_t n);

#endif
