/* Strict TOML subset reader (toml.h). One pass over the bytes, no recursion: keys and values are
 * copied into a flat table of entries keyed by their full path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"

struct parser {
	const char *p, *end;
	unsigned line;
	struct sp_err *err;
	struct sp_toml *doc;
};

static int fail(struct parser *ps, const char *what)
{
	return sp_error(ps->err, 0, "toml line %u: %s", ps->line, what);
}

/* Well-formed UTF-8 without overlong forms, surrogates or NUL. */
static bool utf8_valid(const unsigned char *s, size_t n)
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

/* --- a growable byte buffer for keys and strings ------------------------------------------- */
struct sbuf {
	char *s;
	size_t n, cap;
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
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
	return sb_put(b, u, n);
}

/* --- lexing helpers ------------------------------------------------------------------------ */
static bool at(struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A newline (LF or CRLF); returns false when there is none here. */
static bool take_newline(struct parser *ps)
{
	if (at(ps, "\r\n")) {
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
static int end_of_line(struct parser *ps)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#') {
		while (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r') {
			unsigned char c = (unsigned char)*ps->p;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(ps, "control character in a comment");
			ps->p++;
		}
	}
	if (ps->p == ps->end || take_newline(ps))
		return 0;
	return fail(ps, "expected the end of the line");
}

static bool bare_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string of any of the four kinds at ps->p into out. Multi-line kinds only when allowed. */
/* \u and \U: exactly 4 or 8 hex digits naming a Unicode scalar value other than NUL. */
static int parse_unicode_escape(struct parser *ps, struct sbuf *out, unsigned nd)
{
	uint32_t cp = 0;

	if ((size_t)(ps->end - ps->p) < nd)
		return fail(ps, "short unicode escape");
	for (unsigned k = 0; k < nd; k++) {
		int h = hexval(ps->p[k]);
		if (h < 0)
			return fail(ps, "bad unicode escape");
		cp = cp << 4 | (uint32_t)h;
	}
	ps->p += nd;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(ps, "unicode escape out of range");
	if (sb_utf8(out, cp) < 0)
		return fail(ps, "out of memory");
	return 0;
}

/* An escape in a basic string; ps->p is on the backslash. */
static int parse_escape(struct parser *ps, struct sbuf *out, bool multi)
{
	const char *simple = NULL;
	unsigned char c;

	if (++ps->p >= ps->end)
		return fail(ps, "unterminated escape");
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
			skip_ws(ps);
			if (!take_newline(ps))
				return fail(ps, "backslash before text on the same line");
			for (;;) {
				if (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
					ps->p++;
				else if (!take_newline(ps))
					break;
			}
			return 0;
		}
		return fail(ps, "unknown escape");
	}
	if (sb_put(out, simple, 1) < 0)
		return fail(ps, "out of memory");
	return 0;
}

static int parse_string(struct parser *ps, struct sbuf *out, bool allow_multi)
{
	bool literal = *ps->p == '\'';
	const char *q = literal ? "'" : "\"";
	const char *q3 = literal ? "'''" : "\"\"\"";
	bool multi = false;

	if (at(ps, q3)) {
		if (!allow_multi)
			return fail(ps, "multi-line string not allowed here");
		multi = true;
		ps->p += 3;
		take_newline(ps); /* a newline right after the opening quotes is trimmed */
	} else {
		ps->p++;
	}
	if (sb_put(out, "", 0) < 0)
		return fail(ps, "out of memory");
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		if (multi && at(ps, q3)) {
			/* Up to two more quotes before the closing three belong to the string. */
			size_t extra = 0;
			while (extra < 2 && ps->p + 3 + extra < ps->end && ps->p[3 + extra] == *q)
				extra++;
			if (sb_put(out, ps->p, extra) < 0)
				return fail(ps, "out of memory");
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
				return fail(ps, "newline in a single-line string");
			if (!take_newline(ps))
				return fail(ps, "bare carriage return in a string");
			if (sb_put(out, "\n", 1) < 0)
				return fail(ps, "out of memory");
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(ps, "control character in a string");
		if (!literal && c == '\\') {
			if (parse_escape(ps, out, multi) < 0)
				return -1;
			continue;
		}
		if (sb_put(out, ps->p, 1) < 0)
			return fail(ps, "out of memory");
		ps->p++;
	}
}

/* A (dotted) key into segs; each segment non-empty and free of SP_TOML_SEP. */
static int parse_key(struct parser *ps, struct sbuf *path, unsigned *nsegs)
{
	*nsegs = 0;
	path->n = 0;
	for (;;) {
		struct sbuf seg = { 0 };

		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "expected a key");
		if (*ps->p == '"' || *ps->p == '\'') {
			if (parse_string(ps, &seg, false) < 0) {
				free(seg.s);
				return -1;
			}
		} else {
			const char *s = ps->p;
			while (ps->p < ps->end && bare_char(*ps->p))
				ps->p++;
			if (ps->p == s || sb_put(&seg, s, (size_t)(ps->p - s)) < 0) {
				free(seg.s);
				return fail(ps, "expected a key");
			}
		}
		if (seg.n == 0 || memchr(seg.s, SP_TOML_SEP, seg.n) || strlen(seg.s) != seg.n) {
			free(seg.s);
			return fail(ps, "empty or invalid key");
		}
		if (++*nsegs > SP_TOML_MAX_DEPTH) {
			free(seg.s);
			return fail(ps, "key nested too deeply");
		}
		if ((path->n && sb_put(path, (char[]){ SP_TOML_SEP }, 1) < 0) ||
		    sb_put(path, seg.s, seg.n) < 0) {
			free(seg.s);
			return fail(ps, "out of memory");
		}
		free(seg.s);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '.') {
			ps->p++;
			continue;
		}
		return 0;
	}
}

/* a is b, or a path prefix of b at a segment boundary. */
static bool path_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);
	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == SP_TOML_SEP);
}

static int add_entry(struct parser *ps, char *path, struct sp_toml_ent *e)
{
	struct sp_toml *d = ps->doc;

	for (size_t i = 0; i < d->n; i++) {
		const struct sp_toml_ent *o = &d->ents[i];
		if (strcmp(o->path, path) == 0)
			return fail(ps, o->type == SP_TOML_TABLE && e->type == SP_TOML_TABLE
						? "table defined twice"
						: "key defined twice");
		if (o->type != SP_TOML_TABLE && path_prefix(o->path, path))
			return fail(ps, "key used both as a value and as a table");
		if (e->type != SP_TOML_TABLE && path_prefix(path, o->path))
			return fail(ps, "key used both as a value and as a table");
	}
	if (d->n >= SP_TOML_MAX_ENTRIES)
		return fail(ps, "too many keys");
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct sp_toml_ent *t = realloc(d->ents, cap * sizeof(*t));
		if (!t)
			return fail(ps, "out of memory");
		d->ents = t, d->cap = cap;
	}
	e->path = path;
	d->ents[d->n++] = *e;
	return 0;
}

static void ent_free(struct sp_toml_ent *e)
{
	free(e->path);
	free(e->str);
	for (size_t i = 0; i < e->narr; i++)
		free(e->arr[i]);
	free(e->arr);
}

/* Whitespace, newlines and comments inside an array. */
static int skip_array_space(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '#') {
			if (end_of_line(ps) < 0)
				return -1;
			continue;
		}
		if (!take_newline(ps))
			return 0;
	}
}

static int parse_array(struct parser *ps, struct sp_toml_ent *e)
{
	ps->p++; /* [ */
	e->type = SP_TOML_ARRAY;
	for (;;) {
		struct sbuf s = { 0 };
		char **t;

		if (skip_array_space(ps) < 0)
			return -1;
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\''))
			return fail(ps, "only arrays of strings are supported");
		if (parse_string(ps, &s, true) < 0) {
			free(s.s);
			return -1;
		}
		if (strlen(s.s) != s.n || e->narr >= SP_TOML_MAX_ARRAY) {
			free(s.s);
			return fail(ps, "string with NUL or array too long");
		}
		t = realloc(e->arr, (e->narr + 1) * sizeof(*t));
		if (!t) {
			free(s.s);
			return fail(ps, "out of memory");
		}
		e->arr = t;
		e->arr[e->narr++] = s.s;
		if (skip_array_space(ps) < 0)
			return -1;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return fail(ps, "expected , or ] in an array");
	}
}

static int parse_int(struct parser *ps, struct sp_toml_ent *e)
{
	const char *s = ps->p;
	bool neg = false;
	uint64_t v = 0, lim;
	char prev = 0;

	if (*ps->p == '+' || *ps->p == '-')
		neg = *ps->p++ == '-';
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return fail(ps, "unsupported value");
	if (*ps->p == '0' && ps->p + 1 < ps->end && (bare_char(ps->p[1]) || ps->p[1] == '.'))
		return fail(ps, "leading zeros, floats, dates and prefixed integers are "
				"unsupported");
	while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '_')) {
		if (*ps->p == '_') {
			if (prev < '0' || prev > '9' || ps->p + 1 >= ps->end || ps->p[1] < '0' ||
			    ps->p[1] > '9')
				return fail(ps, "misplaced underscore in an integer");
		} else {
			unsigned d = (unsigned)(*ps->p - '0');
			if (v > (lim - d) / 10)
				return fail(ps, "integer out of range");
			v = v * 10 + d;
		}
		prev = *ps->p++;
	}
	if (ps->p < ps->end && (bare_char(*ps->p) || *ps->p == '.' || *ps->p == ':'))
		return fail(ps, "floats and dates are unsupported");
	(void)s;
	e->type = SP_TOML_INT;
	e->i = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int parse_value(struct parser *ps, struct sp_toml_ent *e)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "missing value");
	if (*ps->p == '"' || *ps->p == '\'') {
		struct sbuf s = { 0 };
		if (parse_string(ps, &s, true) < 0) {
			free(s.s);
			return -1;
		}
		if (strlen(s.s) != s.n) {
			free(s.s);
			return fail(ps, "string with NUL");
		}
		e->type = SP_TOML_STRING, e->str = s.s, e->str_len = s.n;
		return 0;
	}
	if (*ps->p == '[')
		return parse_array(ps, e);
	if (at(ps, "true") && (ps->p + 4 == ps->end || !bare_char(ps->p[4]))) {
		ps->p += 4, e->type = SP_TOML_BOOL, e->b = true;
		return 0;
	}
	if (at(ps, "false") && (ps->p + 5 == ps->end || !bare_char(ps->p[5]))) {
		ps->p += 5, e->type = SP_TOML_BOOL, e->b = false;
		return 0;
	}
	if (*ps->p == '{')
		return fail(ps, "inline tables are unsupported");
	return parse_int(ps, e);
}

static char *join(const char *a, const char *b)
{
	size_t na = a ? strlen(a) : 0, nb = b ? strlen(b) : 0;
	char *s = malloc(na + nb + 2);

	if (!s)
		return NULL;
	if (na) {
		memcpy(s, a, na);
		s[na++] = SP_TOML_SEP;
	}
	if (nb)
		memcpy(s + na, b, nb);
	s[na + nb] = '\0';
	return s;
}

/* A [table] header line: its name becomes the prefix of the keys that follow. */
static int parse_table_header(struct parser *ps, struct sbuf *table)
{
	struct sp_toml_ent e = { .type = SP_TOML_TABLE };
	unsigned nsegs;
	char *path;

	if (at(ps, "[["))
		return fail(ps, "arrays of tables are unsupported");
	ps->p++;
	if (parse_key(ps, table, &nsegs) < 0)
		return -1;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != ']')
		return fail(ps, "expected ] after the table name");
	ps->p++;
	path = strdup(table->s);
	if (!path)
		return fail(ps, "out of memory");
	if (add_entry(ps, path, &e) < 0) {
		free(path);
		return -1;
	}
	/* path now belongs to doc (add_entry stored it). */
	return end_of_line(ps); // NOLINT(clang-analyzer-unix.Malloc)
}

/* A key = value line, stored under the current table. */
static int parse_key_value(struct parser *ps, const struct sbuf *table, struct sbuf *key)
{
	struct sp_toml_ent e = { 0 };
	unsigned nsegs;
	char *path;

	if (parse_key(ps, key, &nsegs) < 0)
		return -1;
	if (ps->p >= ps->end || *ps->p != '=')
		return fail(ps, "expected = after the key");
	ps->p++;
	if (parse_value(ps, &e) < 0) {
		ent_free(&e);
		return -1;
	}
	path = join(table->s, key->s);
	if (!path) {
		ent_free(&e);
		return fail(ps, "out of memory");
	}
	if (add_entry(ps, path, &e) < 0) {
		free(path);
		ent_free(&e);
		return -1;
	}
	/* path and e's buffers now belong to doc. */
	return end_of_line(ps); // NOLINT(clang-analyzer-unix.Malloc)
}

int sp_toml_parse(const char *buf, size_t len, struct sp_toml *doc, struct sp_err *err)
{
	struct parser ps = { .p = buf, .end = buf + len, .line = 1, .err = err, .doc = doc };
	struct sbuf table = { 0 }, key = { 0 };
	int ret = -1;

	memset(doc, 0, sizeof(*doc));
	if (len > SP_TOML_MAX_DOC)
		return sp_error(err, 0, "toml: document of %zu bytes is over the %zu limit", len,
				SP_TOML_MAX_DOC);
	if (!utf8_valid((const unsigned char *)buf, len))
		return sp_error(err, 0, "toml: not valid UTF-8 (or holds a NUL byte)");
	if (sb_put(&table, "", 0) < 0)
		return sp_error(err, 0, "toml: out of memory");
	while (ps.p < ps.end) {
		int r;

		skip_ws(&ps);
		if (ps.p >= ps.end)
			break;
		if (*ps.p == '#' || *ps.p == '\n' || *ps.p == '\r')
			r = end_of_line(&ps);
		else if (*ps.p == '[')
			r = parse_table_header(&ps, &table);
		else
			r = parse_key_value(&ps, &table, &key);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	free(table.s);
	free(key.s);
	if (ret < 0)
		sp_toml_free(doc);
	return ret;
}

void sp_toml_free(struct sp_toml *doc)
{
	for (size_t i = 0; i < doc->n; i++)
		ent_free(&doc->ents[i]);
	free(doc->ents);
	memset(doc, 0, sizeof(*doc));
}

static const struct sp_toml_ent *find(const struct sp_toml *doc, const char *const *segs)
{
	char path[1024];
	size_t n = 0;

	for (size_t i = 0; segs[i]; i++) {
		size_t l = strlen(segs[i]);
		if (n + l + 2 > sizeof(path))
			return NULL;
		if (i)
			path[n++] = SP_TOML_SEP;
		memcpy(path + n, segs[i], l);
		n += l;
	}
	path[n] = '\0';
	for (size_t i = 0; i < doc->n; i++)
		if (strcmp(doc->ents[i].path, path) == 0)
			return &doc->ents[i];
	return NULL;
}

const struct sp_toml_ent *sp_toml_get(const struct sp_toml *doc, const char *const *segs)
{
	return find(doc, segs);
}

int sp_toml_string(const struct sp_toml *doc, const char *const *segs, const char **out,
		   struct sp_err *err)
{
	const struct sp_toml_ent *e = find(doc, segs);

	*out = NULL;
	if (!e)
		return 0;
	if (e->type != SP_TOML_STRING)
		return sp_error(err, 0, "toml: %s is not a string", segs[0]);
	*out = e->str;
	return 0;
}
