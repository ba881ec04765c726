#define _GNU_SOURCE
#include "lib/err.h"

#include <stdio.h>
#include <string.h>

int sp_error(struct sp_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return -1;
	err->errnum = errnum;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
		(void)snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s",
			       strerror(errnum));
	return -1;
}

int sp_error_wrap(struct sp_err *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	size_t n, rest;
	va_list ap;
	int r;

	if (!err)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	r = vsnprintf(err->msg, sizeof(err->msg) - 3, fmt, ap);
	va_end(ap);
	n = r < 0 ? 0 : (size_t)r > sizeof(err->msg) - 4 ? sizeof(err->msg) - 4 : (size_t)r;
	memcpy(err->msg + n, ": ", 2);
	n += 2;
	rest = sizeof(err->msg) - n - 1;
	r = (int)strnlen(old, rest);
	memcpy(err->msg + n, old, (size_t)r);
	err->msg[n + (size_t)r] = '\0';
	return -1;
}
