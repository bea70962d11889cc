/* Operational logging: levelled, per-subsystem, rate-limited where a remote
 * peer can trigger the line. Never pass IP addresses, user ids, usernames or
 * secrets here: those belong to the audit trail. */
#ifndef TERN_COMMON_LOG_H
#define TERN_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "info", "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A per-call-site, per-thread budget: at most `burst` lines per `interval_s`
 * seconds; the first line after a suppressed stretch says how many were dropped. */
struct log_ratelimit {
	uint64_t window_start_s;
	uint32_t printed;
	uint32_t suppressed;
};
bool log_ratelimit_allow(struct log_ratelimit *rl, uint32_t burst, uint32_t interval_s,
			 uint32_t *suppressed_out);

#define log_err(sub, ...)   log_msg(LOG_LVL_ERR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_LVL_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_LVL_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_msg(LOG_LVL_DEBUG, sub, __VA_ARGS__)

/* For anything a remote client can cause: 10 lines per minute per call site and thread. */
#define log_limited(level, sub, fmt, ...) do {                                  \
	static _Thread_local struct log_ratelimit rl_;                           \
	uint32_t dropped_;                                                       \
	if (log_get_level() >= (level) &&                                        \
	    log_ratelimit_allow(&rl_, 10, 60, &dropped_))                       \
		log_msg(level, sub, fmt " (%u similar suppressed)", ##__VA_ARGS__, \
			dropped_);                                               \
} while (0)

#endif
