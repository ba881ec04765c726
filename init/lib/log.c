#define _GNU_SOURCE
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int console_fd = 2;
static int kmsg_fd = -1;
static enum sp_log_level cur_level = SP_LOG_INFO;

void sp_log_set_sinks(int console, int kmsg)
{
	console_fd = console;
	kmsg_fd = kmsg;
}

int sp_log_kmsg_fd(void)
{
	return kmsg_fd;
}

void sp_log_set_level(enum sp_log_level level)
{
	cur_level = level;
}

enum sp_log_level sp_log_get_level(void)
{
	return cur_level;
}

static void write_line(int fd, const char *buf, size_t len)
{
	while (fd >= 0 && len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void emit(const char *what, const char *tag, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void emit(const char *what, const char *tag, const char *fmt, va_list ap)
{
	char body[768], line[900];
	struct timespec ts = { 0, 0 };
	int saved = errno;
	int n;

	(void)vsnprintf(body, sizeof(body), fmt, ap);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "[%5lu.%06lu] sealpod: %s%s%s\n", (unsigned long)ts.tv_sec,
		     (unsigned long)(ts.tv_nsec / 1000), what, tag, body);
	if (n > 0)
		write_line(console_fd, line,
			   (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	if (kmsg_fd >= 0) {
		/* One write is one kmsg record; <7> keeps it off the console (we already printed it). */
		n = snprintf(line, sizeof(line), "<7>sealpod: %s%s%s\n", what, tag, body);
		if (n > 0)
			write_line(kmsg_fd, line,
				   (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	errno = saved;
}

void sp_log(enum sp_log_level level, const char *step, const char *fmt, ...)
{
	char what[64];
	va_list ap;

	if (level > cur_level)
		return;
	(void)snprintf(what, sizeof(what), "%s: ", step);
	va_start(ap, fmt);
	emit(what,
	     level == SP_LOG_ERROR  ? "error: "
	     : level == SP_LOG_WARN ? "warning: "
				    : "",
	     fmt, ap);
	va_end(ap);
}

void sp_log_fatal(const char *code, const char *fmt, ...)
{
	char what[64];
	va_list ap;

	(void)snprintf(what, sizeof(what), "FATAL %s: ", code);
	va_start(ap, fmt);
	emit(what, "", fmt, ap);
	va_end(ap);
}

void sp_log_escape(char *dst, size_t dst_size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dst_size == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (o + need + 4 > dst_size) { /* keep room for "..." and NUL */
			if (o + 4 <= dst_size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
}
