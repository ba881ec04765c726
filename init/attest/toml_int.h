/* Shared between the TOML reader's lexing (toml_lex.c) and its tables (toml.c). */
#ifndef SEALPOD_ATTEST_TOML_INT_H
#define SEALPOD_ATTEST_TOML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/toml.h"

struct parser {
	const char *p, *end;
	unsigned line;
	struct sp_err *err;
	struct sp_toml *doc;
};

/* A growable byte buffer for keys and strings, always NUL-terminated once written. */
struct sbuf {
	char *s;
	size_t n, cap;
};

int tl_fail(struct parser *ps, const char *what);
/* Well-formed UTF-8 without overlong forms, surrogates or NUL. */
bool tl_utf8_valid(const unsigned char *s, size_t n);
int tl_put(struct sbuf *b, const char *s, size_t n);
bool tl_at(struct parser *ps, const char *lit);
void tl_skip_ws(struct parser *ps);
/* A newline (LF or CRLF); false when there is none here. */
bool tl_newline(struct parser *ps);
/* Optional comment, then end of line or end of input. */
int tl_end_of_line(struct parser *ps);
bool tl_bare_char(char c);
/* A string of any of the four kinds at ps->p into out; multi-line kinds only when allowed. */
int tl_string(struct parser *ps, struct sbuf *out, bool allow_multi);
/* A (dotted) key into path, segments joined by SP_TOML_SEP, each non-empty and free of the
 * separators. */
int tl_key(struct parser *ps, struct sbuf *path, unsigned *nsegs);

#endif
