/* The boot timeline: one line per step on the console, `[%5lu.%06lu] sealpod: <step>: <detail>`
 * stamped with CLOCK_MONOTONIC (time since the kernel started), mirrored to /dev/kmsg at
 * priority 7 so that it is kept in dmesg without printing twice on the console.
 * Never pass a secret; pass untrusted text through sp_log_escape() first. */
#ifndef SEALPOD_LIB_LOG_H
#define SEALPOD_LIB_LOG_H

#include <stddef.h>

enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG };

/* Takes ownership of neither fd; -1 disables that sink. Before this call lines go to fd 2. */
void sp_log_set_sinks(int console_fd, int kmsg_fd);
/* The /dev/kmsg sink, -1 when there is none (a worker gets it passed: lib/worker.c). */
int sp_log_kmsg_fd(void);
void sp_log_set_level(enum sp_log_level level);
enum sp_log_level sp_log_get_level(void);

void sp_log(enum sp_log_level level, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define sp_info(step, ...)  sp_log(SP_LOG_INFO, step, __VA_ARGS__)
#define sp_warn(step, ...)  sp_log(SP_LOG_WARN, step, __VA_ARGS__)
#define sp_debug(step, ...) sp_log(SP_LOG_DEBUG, step, __VA_ARGS__)

/* `sealpod: FATAL <code>: <reason>`, always printed whatever the level. */
void sp_log_fatal(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies at most len bytes of untrusted src into dst (always NUL-terminated), escaping every
 * byte outside printable ASCII as \xNN and truncating with "..." when dst is too small. */
void sp_log_escape(char *dst, size_t dst_size, const char *src, size_t len);

#endif
