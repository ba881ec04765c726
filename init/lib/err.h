/* Errors as crun does them, without the heap: a fallible function returns a negative int and
 * fills a fixed-size message at the point of failure ("open /dev/vda: No such device"). */
#ifndef SEALPOD_LIB_ERR_H
#define SEALPOD_LIB_ERR_H

#include <stdarg.h>

struct sp_err {
	int errnum; /* errno of the failure, 0 when it was not a system call */
	char msg[256];
};

/* Fills err with "<fmt>: strerror(errnum)" (or just fmt when errnum is 0) and returns -1, so
 * that `return sp_error(err, errno, "open %s", path);` reads as one line. err may be NULL. */
int sp_error(struct sp_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context on the way up: "mount /proc: <old message>". */
int sp_error_wrap(struct sp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
