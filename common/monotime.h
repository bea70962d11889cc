/* Monotonic time for lifetimes and timers (never the wall clock: a clock jump
 * must not expire or extend allocations). Wall-clock time is used only for
 * credential expiry, in auth/. */
#ifndef TERN_COMMON_MONOTIME_H
#define TERN_COMMON_MONOTIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Microseconds, for per-packet timing (media jitter). */
static inline uint64_t monotime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline int64_t walltime_s(void)
{
	return (int64_t)time(NULL);
}

#endif
