/* Latency samples of the load generator: a bounded array of nanosecond
 * figures (first `cap` samples of a run kept; beyond that, every k-th),
 * read back as percentiles in microseconds. */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <stdlib.h>

int lg_samples_init(struct lg_samples *s, size_t cap)
{
	s->v = calloc(cap, sizeof(*s->v));
	s->n = 0;
	s->cap = cap;
	return s->v ? 0 : -ENOMEM;
}

void lg_samples_add(struct lg_samples *s, uint64_t ns)
{
	uint32_t v = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	if (s->n < s->cap) {
		s->v[s->n++] = v;
		return;
	}
	/* Full: overwrite a pseudo-random slot, so a long run is still sampled
	 * over its whole length rather than only at its start. */
	static uint64_t x = 88172645463325252ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->v[x % s->cap] = v;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

double lg_samples_pct(struct lg_samples *s, double pct)
{
	if (s->n == 0)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	size_t i = (size_t)(pct / 100.0 * (double)(s->n - 1) + 0.5);
	if (i >= s->n)
		i = s->n - 1;
	return s->v[i] / 1000.0;
}

void lg_samples_reset(struct lg_samples *s)
{
	s->n = 0;
}
