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

/* Ratios in 1/10000 (0 = a clean stream gets its own bucket), jitter in
 * microseconds: 1 ms (a LAN) to 1 s (a broken path); WebRTC's jitter buffer
 * copes up to some 50-100 ms. */
const uint64_t metrics_media_bounds[MMH_COUNT][MHIST_BUCKETS] = {
	[MMH_LOSS] = { 0, 10, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000 },
	[MMH_JITTER_US] = { 1000, 2000, 5000, 10000, 20000, 30000, 50000, 75000, 100000, 200000,
			    500000, 1000000 },
	[MMH_REORDER] = { 0, 1, 5, 10, 50, 100, 200, 500, 1000, 2000, 5000, 10000 },
	[MMH_DUPLICATE] = { 0, 1, 5, 10, 50, 100, 200, 500, 1000, 2000, 5000, 10000 },
};
