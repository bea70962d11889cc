/* Histogram bucket bounds for the per-allocation distributions; the
 * exporter prints them as the `le` labels. Chosen for telehealth calls:
 * minutes to hours, kilobytes to gigabytes, a few to thousands of packets
 * per second. */
#include "metrics/counters.h"

const uint64_t metrics_hist_bounds[MH_COUNT][MHIST_BUCKETS] = {
	[MH_LIFETIME_S] = { 10, 30, 60, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400 },
	[MH_BYTES] = { 1000, 10000, 100000, 1000000, 10000000, 50000000, 100000000, 500000000,
		       1000000000, 5000000000ULL, 10000000000ULL, 100000000000ULL },
	[MH_PACKETS] = { 10, 100, 1000, 10000, 50000, 100000, 500000, 1000000, 5000000, 10000000,
			 50000000, 100000000 },
	[MH_PEAK_PPS] = { 1, 5, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000 },
};

const uint64_t metrics_revocation_bounds[MHIST_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000,
};
