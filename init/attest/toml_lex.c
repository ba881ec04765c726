/* The TOML reader's lexing (toml_int.h): UTF-8 checks, strings of the four kinds, dotted keys,
 * line ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"
#include "attest/toml_int.h"
#include "lib/validate.h"

int tl_fail(struct parser *ps, const char *what)
{
	return sp_error(ps->err, 0, "toml line %u: %s", ps->line, what);
}

/* Well-formed UTF-8 without overlong forms, surrogates or NUL. */
bool tl_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], need, min;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

int tl_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *t;

		while (cap < b->n + n + 1)
			cap *= 2;
		t = realloc(b->s, cap);
		if (!t)
			return -1;
		b->s = t, b->cap = cap;
	}
	if (!b->s)
		return -1;
	if (n)
		memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

static int sb_utf8(struct sbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80)
		u[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	else
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	return tl_put(b, u, n);
}

/* --- lexing helpers ------------------------------------------------------------------------ */
bool tl_at(struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0;
}

void tl_skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A newline (LF or CRLF); returns false when there is none here. */
bool tl_newline(struct parser *ps)
{
	if (tl_at(ps, "\r\n")) {
		ps->p += 2;
	} else if (ps->p < ps->end && *ps->p == '\n') {
		ps->p++;
	} else {
		return false;
	}
	ps->line++;
	return true;
}

/* Optional comment, then end of line or end of input. */
int tl_end_of_line(struct parser *ps)
{
	tl_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#') {
		while (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r') {
			unsigned char c = (unsigned char)*ps->p;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return tl_fail(ps, "control character in a comment");
			ps->p++;
		}
	}
	if (ps->p == ps->end || tl_newline(ps))
		return 0;
	return tl_fail(ps, "expected the end of the line");
}

bool tl_bare_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* A string of any of the four kinds at ps->p into out. Multi-line kinds only when allowed. */
/* \u and \U: exactly 4 or 8 hex digits naming a Unicode scalar value other than NUL. */
static int parse_unicode_escape(struct parser *ps, struct sbuf *out, unsigned nd)
{
	uint32_t cp = 0;

	if ((size_t)(ps->end - ps->p) < nd)
		return tl_fail(ps, "short unicode escape");
	for (unsigned k = 0; k < nd; k++) {
		int h = sp_hexval(ps->p[k]);
		if (h < 0)
			return tl_fail(ps, "bad unicode escape");
		cp = cp << 4 | (uint32_t)h;
	}
	ps->p += nd;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return tl_fail(ps, "unicode escape out of range");
	if (sb_utf8(out, cp) < 0)
		return tl_fail(ps, "out of memory");
	return 0;
}

/* An escape in a basic string; ps->p is on the backslash. */
static int parse_escape(struct parser *ps, struct sbuf *out, bool multi)
{
	const char *simple = NULL;
	unsigned char c;

	if (++ps->p >= ps->end)
		return tl_fail(ps, "unterminated escape");
	c = (unsigned char)*ps->p++;
	switch (c) {
	case 'b':
		simple = "\b";
		break;
	case 't':
		simple = "\t";
		break;
	case 'n':
		simple = "\n";
		break;
	case 'f':
		simple = "\f";
		break;
	case 'r':
		simple = "\r";
		break;
	case '"':
		simple = "\"";
		break;
	case '\\':
		simple = "\\";
		break;
	case 'u':
	case 'U':
		return parse_unicode_escape(ps, out, c == 'u' ? 4 : 8);
	default:
		if (multi && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
			/* Line-ending backslash: trims whitespace and newlines that follow. */
			ps->p--;
			tl_skip_ws(ps);
			if (!tl_newline(ps))
				return tl_fail(ps, "backslash before text on the same line");
			for (;;) {
				if (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
					ps->p++;
				else if (!tl_newline(ps))
					break;
			}
			return 0;
		}
		return tl_fail(ps, "unknown escape");
	}
	if (tl_put(out, simple, 1) < 0)
		return tl_fail(ps, "out of memory");
	return 0;
}

int tl_string(struct parser *ps, struct sbuf *out, bool allow_multi)
{
	bool literal = *ps->p == '\'';
	const char *q = literal ? "'" : "\"";
	const char *q3 = literal ? "'''" : "\"\"\"";
	bool multi = false;

	if (tl_at(ps, q3)) {
		if (!allow_multi)
			return tl_fail(ps, "multi-line string not allowed here");
		multi = true;
		ps->p += 3;
		tl_newline(ps); /* a newline right after the opening quotes is trimmed */
	} else {
		ps->p++;
	}
	if (tl_put(out, "", 0) < 0)
		return tl_fail(ps, "out of memory");
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end)
			return tl_fail(ps, "unterminated string");
		if (multi && tl_at(ps, q3)) {
			/* Up to two more quotes before the closing three belong to the string. */
			size_t extra = 0;
			while (extra < 2 && ps->p + 3 + extra < ps->end && ps->p[3 + extra] == *q)
				extra++;
			if (tl_put(out, ps->p, extra) < 0)
				return tl_fail(ps, "out of memory");
			ps->p += 3 + extra;
			return 0;
		}
		if (!multi && *ps->p == *q) {
			ps->p++;
			return 0;
		}
		c = (unsigned char)*ps->p;
		if (c == '\n' || c == '\r') {
			if (!multi)
				return tl_fail(ps, "newline in a single-line string");
			if (!tl_newline(ps))
				return tl_fail(ps, "bare carriage return in a string");
			if (tl_put(out, "\n", 1) < 0)
				return tl_fail(ps, "out of memory");
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return tl_fail(ps, "control character in a string");
		if (!literal && c == '\\') {
			if (parse_escape(ps, out, multi) < 0)
				return -1;
			continue;
		}
		if (tl_put(out, ps->p, 1) < 0)
			return tl_fail(ps, "out of memory");
		ps->p++;
	}
}

/* A (dotted) key into segs; each segment non-empty and free of SP_TOML_SEP. */
int tl_key(struct parser *ps, struct sbuf *path, unsigned *nsegs)
{
	*nsegs = 0;
	path->n = 0;
	for (;;) {
		struct sbuf seg = { 0 };

		tl_skip_ws(ps);
		if (ps->p >= ps->end)
			return tl_fail(ps, "expected a key");
		if (*ps->p == '"' || *ps->p == '\'') {
			if (tl_string(ps, &seg, false) < 0) {
				free(seg.s);
				return -1;
			}
		} else {
			const char *s = ps->p;
			while (ps->p < ps->end && tl_bare_char(*ps->p))
				ps->p++;
			if (ps->p == s || tl_put(&seg, s, (size_t)(ps->p - s)) < 0) {
				free(seg.s);
				return tl_fail(ps, "expected a key");
			}
		}
		if (seg.n == 0 || memchr(seg.s, SP_TOML_SEP, seg.n) ||
		    memchr(seg.s, SP_TOML_ELEM, seg.n) || strlen(seg.s) != seg.n) {
			free(seg.s);
			return tl_fail(ps, "empty or invalid key");
		}
		if (++*nsegs > SP_TOML_MAX_DEPTH) {
			free(seg.s);
			return tl_fail(ps, "key nested too deeply");
		}
		if ((path->n && tl_put(path, (char[]){ SP_TOML_SEP }, 1) < 0) ||
		    tl_put(path, seg.s, seg.n) < 0) {
			free(seg.s);
			return tl_fail(ps, "out of memory");
		}
		free(seg.s);
		tl_skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '.') {
			ps->p++;
			continue;
		}
		return 0;
	}
}
