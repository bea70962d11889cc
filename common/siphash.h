/* SipHash-2-4: the keyed hash for every table filled with attacker-chosen
 * data (allocation 5-tuples, rate-limit buckets, user quotas). */
#ifndef TERN_COMMON_SIPHASH_H
#define TERN_COMMON_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key { uint64_t k0, k1; };

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);
/* Fills the key from the kernel's CSPRNG; returns 0 or negative errno. */
int siphash_key_random(struct siphash_key *key);

#endif
