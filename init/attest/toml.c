/* Strict TOML subset reader (toml.h): tables, arrays of tables and values. One pass over the
 * bytes (recursion only for inline tables, bounded by SP_TOML_MAX_DEPTH): keys and values are
 * copied into a flat table of entries keyed by their full path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"
#include "attest/toml_int.h"

/* a is b, or a path prefix of b at a segment boundary. */
static bool path_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);
	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == SP_TOML_SEP);
}

/* The entry at exactly this path, or NULL. */
static struct sp_toml_ent *find_path(const struct sp_toml *doc, const char *path)
{
	for (size_t i = 0; i < doc->n; i++)
		if (strcmp(doc->ents[i].path, path) == 0)
			return &doc->ents[i];
	return NULL;
}

/* May path be added under o, a proper prefix of it? Only under a table still open, or as an
 * element of an array of tables. */
static int check_under(struct parser *ps, const struct sp_toml_ent *o, const char *path)
{
	if (o->closed)
		return tl_fail(ps, "an inline table or array cannot be extended after it is "
				   "written");
	if (o->type == SP_TOML_TABLES) {
		if (path[strlen(o->path) + 1] != SP_TOML_ELEM)
			return tl_fail(ps, "key used both as an array of tables and as a table");
		return 0;
	}
	if (o->type != SP_TOML_TABLE)
		return tl_fail(ps, "key used both as a value and as a table");
	return 0;
}

static int add_entry(struct parser *ps, char *path, struct sp_toml_ent *e)
{
	struct sp_toml *d = ps->doc;

	for (size_t i = 0; i < d->n; i++) {
		const struct sp_toml_ent *o = &d->ents[i];
		if (strcmp(o->path, path) == 0)
			return tl_fail(ps, o->type == SP_TOML_TABLE && e->type == SP_TOML_TABLE
						   ? "table defined twice"
						   : "key defined twice");
		if (path_prefix(o->path, path) && check_under(ps, o, path) < 0)
			return -1;
		if (e->type != SP_TOML_TABLE && path_prefix(path, o->path))
			return tl_fail(ps, "key used both as a value and as a table");
	}
	if (d->n >= SP_TOML_MAX_ENTRIES)
		return tl_fail(ps, "too many keys");
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct sp_toml_ent *t = realloc(d->ents, cap * sizeof(*t));
		if (!t)
			return tl_fail(ps, "out of memory");
		d->ents = t, d->cap = cap;
	}
	e->path = path;
	d->ents[d->n++] = *e;
	return 0;
}

/* A container entry (table or array of tables) at a copy of path; its index in *idx. */
static int add_container(struct parser *ps, const char *path, enum sp_toml_type type, size_t *idx)
{
	struct sp_toml_ent e = { .type = type };
	char *own = path ? strdup(path) : NULL;

	if (!own)
		return tl_fail(ps, "out of memory");
	*idx = ps->doc->n; /* where add_entry puts it */
	if (add_entry(ps, own, &e) < 0) {
		free(own);
		return -1;
	}
	return 0; // NOLINT(clang-analyzer-unix.Malloc): the doc owns the copy
}

static void ent_free(struct sp_toml_ent *e)
{
	free(e->path);
	free(e->str);
	for (size_t i = 0; e->type == SP_TOML_ARRAY && i < e->narr; i++)
		free(e->arr[i]);
	free(e->arr);
}

/* Whitespace, newlines and comments inside an array. */
static int skip_array_space(struct parser *ps)
{
	for (;;) {
		tl_skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '#') {
			if (tl_end_of_line(ps) < 0)
				return -1;
			continue;
		}
		if (!tl_newline(ps))
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
			return tl_fail(ps, "arrays hold strings or inline tables, one kind only");
		if (tl_string(ps, &s, true) < 0) {
			free(s.s);
			return -1;
		}
		if (strlen(s.s) != s.n || e->narr >= SP_TOML_MAX_ARRAY) {
			free(s.s);
			return tl_fail(ps, "string with NUL or array too long");
		}
		t = realloc(e->arr, (e->narr + 1) * sizeof(*t));
		if (!t) {
			free(s.s);
			return tl_fail(ps, "out of memory");
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
		return tl_fail(ps, "expected , or ] in an array");
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
		return tl_fail(ps, "unsupported value");
	if (*ps->p == '0' && ps->p + 1 < ps->end && (tl_bare_char(ps->p[1]) || ps->p[1] == '.'))
		return tl_fail(ps, "leading zeros, floats, dates and prefixed integers are "
				   "unsupported");
	while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '_')) {
		if (*ps->p == '_') {
			if (prev < '0' || prev > '9' || ps->p + 1 >= ps->end || ps->p[1] < '0' ||
			    ps->p[1] > '9')
				return tl_fail(ps, "misplaced underscore in an integer");
		} else {
			unsigned d = (unsigned)(*ps->p - '0');
			if (v > (lim - d) / 10)
				return tl_fail(ps, "integer out of range");
			v = v * 10 + d;
		}
		prev = *ps->p++;
	}
	if (ps->p < ps->end && (tl_bare_char(*ps->p) || *ps->p == '.' || *ps->p == ':'))
		return tl_fail(ps, "floats and dates are unsupported");
	(void)s;
	e->type = SP_TOML_INT;
	e->i = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int parse_value(struct parser *ps, struct sp_toml_ent *e)
{
	tl_skip_ws(ps);
	if (ps->p >= ps->end)
		return tl_fail(ps, "missing value");
	if (*ps->p == '"' || *ps->p == '\'') {
		struct sbuf s = { 0 };
		if (tl_string(ps, &s, true) < 0) {
			free(s.s);
			return -1;
		}
		if (strlen(s.s) != s.n) {
			free(s.s);
			return tl_fail(ps, "string with NUL");
		}
		e->type = SP_TOML_STRING, e->str = s.s, e->str_len = s.n;
		return 0;
	}
	if (*ps->p == '[')
		return parse_array(ps, e);
	if (tl_at(ps, "true") && (ps->p + 4 == ps->end || !tl_bare_char(ps->p[4]))) {
		ps->p += 4, e->type = SP_TOML_BOOL, e->b = true;
		return 0;
	}
	if (tl_at(ps, "false") && (ps->p + 5 == ps->end || !tl_bare_char(ps->p[5]))) {
		ps->p += 5, e->type = SP_TOML_BOOL, e->b = false;
		return 0;
	}
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

static int add_value(struct parser *ps, char *path, unsigned depth);

/* Is the array at ps->p one of inline tables? Looks past the [ and any space, then steps back. */
static bool tables_ahead(struct parser *ps)
{
	const char *p = ps->p;
	unsigned line = ps->line;
	bool r;

	ps->p++;
	r = skip_array_space(ps) == 0 && ps->p < ps->end && *ps->p == '{';
	ps->p = p, ps->line = line;
	return r;
}

static int parse_inline(struct parser *ps, char *path, unsigned depth);

/* name = [ { ... }, ... ]: an array of tables written whole, so closed at its ]. */
static int parse_table_array(struct parser *ps, char *path, unsigned depth)
{
	size_t idx = 0;
	int r;

	ps->p++; /* [ */
	r = add_container(ps, path, SP_TOML_TABLES, &idx);
	free(path);
	if (r < 0)
		return -1;
	for (;;) {
		struct sp_toml_ent *arr = &ps->doc->ents[idx];
		char el[SP_TOML_ELEM_MAX];

		if (skip_array_space(ps) < 0)
			return -1;
		if (ps->p < ps->end && *ps->p == ']')
			break;
		if (ps->p >= ps->end || *ps->p != '{')
			return tl_fail(ps, "arrays hold strings or inline tables, one kind only");
		if (arr->narr >= SP_TOML_MAX_ARRAY)
			return tl_fail(ps, "array too long");
		if (parse_inline(ps, join(arr->path, sp_toml_elem(el, arr->narr++)), depth + 1) < 0)
			return -1;
		if (skip_array_space(ps) < 0)
			return -1;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p >= ps->end || *ps->p != ']')
			return tl_fail(ps, "expected , or ] in an array");
		break;
	}
	ps->p++;
	ps->doc->ents[idx].closed = true;
	return 0;
}

/* { k = v, ... } on one line, closed at its }. */
static int parse_inline(struct parser *ps, char *path, unsigned depth)
{
	size_t idx = 0;
	int r;

	if (depth > SP_TOML_MAX_DEPTH) {
		free(path);
		return tl_fail(ps, "inline tables nested too deeply");
	}
	ps->p++; /* { */
	r = add_container(ps, path, SP_TOML_TABLE, &idx);
	free(path);
	if (r < 0)
		return -1;
	tl_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}')
		goto done;
	for (;;) {
		struct sbuf key = { 0 };
		unsigned nsegs;
		char *child;

		if (tl_key(ps, &key, &nsegs) < 0) {
			free(key.s);
			return -1;
		}
		child = join(ps->doc->ents[idx].path, key.s);
		free(key.s);
		if (ps->p >= ps->end || *ps->p != '=') {
			free(child);
			return tl_fail(ps, "expected = after the key");
		}
		ps->p++;
		if (add_value(ps, child, depth) < 0)
			return -1;
		tl_skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}')
			break;
		return tl_fail(ps, "expected , or } in an inline table (which ends on its line)");
	}
done:
	ps->p++;
	ps->doc->ents[idx].closed = true;
	return 0;
}

/* The value at ps->p stored at path (which the doc takes, or which is freed on failure). */
static int add_value(struct parser *ps, char *path, unsigned depth)
{
	struct sp_toml_ent e = { 0 };

	if (!path)
		return tl_fail(ps, "out of memory");
	tl_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '{')
		return parse_inline(ps, path, depth + 1);
	if (ps->p < ps->end && *ps->p == '[' && tables_ahead(ps))
		return parse_table_array(ps, path, depth);
	if (parse_value(ps, &e) < 0 || add_entry(ps, path, &e) < 0) {
		free(path);
		ent_free(&e);
		return -1;
	}
	/* path and e's buffers now belong to doc. */
	return 0; // NOLINT(clang-analyzer-unix.Malloc)
}

/* A header's name with each array of tables on the way replaced by its last element: [a.b] after
 * [[a]] names a table inside a's last element. */
static int resolve_header(struct parser *ps, const struct sbuf *raw, struct sbuf *out)
{
	const char *seg = raw->s;

	out->n = 0;
	for (;;) {
		const char *sep = strchr(seg, SP_TOML_SEP);
		size_t n = sep ? (size_t)(sep - seg) : strlen(seg);
		const struct sp_toml_ent *o;
		char el[SP_TOML_ELEM_MAX];

		if ((out->n && tl_put(out, (char[]){ SP_TOML_SEP }, 1) < 0) ||
		    tl_put(out, seg, n) < 0)
			return tl_fail(ps, "out of memory");
		if (!sep)
			return 0;
		o = find_path(ps->doc, out->s);
		if (o && o->type == SP_TOML_TABLES && o->narr) {
			sp_toml_elem(el, o->narr - 1);
			if (tl_put(out, (char[]){ SP_TOML_SEP }, 1) < 0 ||
			    tl_put(out, el, strlen(el)) < 0)
				return tl_fail(ps, "out of memory");
		}
		seg = sep + 1;
	}
}

/* [[name]]: a new element at the end of the array name (made on first use); table is its path. */
static int add_element(struct parser *ps, struct sbuf *table)
{
	struct sp_toml_ent *arr = find_path(ps->doc, table->s);
	char el[SP_TOML_ELEM_MAX];
	size_t idx = 0;

	if (!arr) {
		if (add_container(ps, table->s, SP_TOML_TABLES, &idx) < 0)
			return -1;
		arr = &ps->doc->ents[idx];
	} else if (arr->type != SP_TOML_TABLES) {
		return tl_fail(ps, "table defined twice (as a table and as an array of tables)");
	} else if (arr->closed) {
		return tl_fail(ps, "an inline table or array cannot be extended after it is "
				   "written");
	}
	if (arr->narr >= SP_TOML_MAX_ARRAY)
		return tl_fail(ps, "array too long");
	sp_toml_elem(el, arr->narr++);
	if (tl_put(table, (char[]){ SP_TOML_SEP }, 1) < 0 || tl_put(table, el, strlen(el)) < 0)
		return tl_fail(ps, "out of memory");
	return add_container(ps, table->s, SP_TOML_TABLE, &idx);
}

/* A [table] or [[array.of.tables]] header line: its name becomes the prefix of the keys that
 * follow. */
static int parse_table_header(struct parser *ps, struct sbuf *table)
{
	bool array = tl_at(ps, "[[");
	struct sbuf raw = { 0 };
	unsigned nsegs;
	size_t idx = 0;
	int r;

	ps->p += array ? 2 : 1;
	r = tl_key(ps, &raw, &nsegs);
	if (r == 0)
		r = resolve_header(ps, &raw, table);
	free(raw.s);
	if (r < 0)
		return -1;
	tl_skip_ws(ps);
	if (!tl_at(ps, array ? "]]" : "]"))
		return tl_fail(ps, array ? "expected ]] after the array's name"
					 : "expected ] after the table name");
	ps->p += array ? 2 : 1;
	if (array)
		r = add_element(ps, table);
	else
		r = add_container(ps, table->s, SP_TOML_TABLE, &idx);
	if (r < 0)
		return -1;
	return tl_end_of_line(ps);
}

/* A key = value line, stored under the current table. */
static int parse_key_value(struct parser *ps, const struct sbuf *table, struct sbuf *key)
{
	unsigned nsegs;

	if (tl_key(ps, key, &nsegs) < 0)
		return -1;
	if (ps->p >= ps->end || *ps->p != '=')
		return tl_fail(ps, "expected = after the key");
	ps->p++;
	if (add_value(ps, join(table->s, key->s), 0) < 0)
		return -1;
	return tl_end_of_line(ps); // NOLINT(clang-analyzer-unix.Malloc): the doc owns the path
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
	if (!tl_utf8_valid((const unsigned char *)buf, len))
		return sp_error(err, 0, "toml: not valid UTF-8 (or holds a NUL byte)");
	if (tl_put(&table, "", 0) < 0)
		return sp_error(err, 0, "toml: out of memory");
	while (ps.p < ps.end) {
		int r;

		tl_skip_ws(&ps);
		if (ps.p >= ps.end)
			break;
		if (*ps.p == '#' || *ps.p == '\n' || *ps.p == '\r')
			r = tl_end_of_line(&ps);
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
	return find_path(doc, path);
}

const char *sp_toml_elem(char buf[SP_TOML_ELEM_MAX], size_t i)
{
	(void)snprintf(buf, SP_TOML_ELEM_MAX, "%c%zu", SP_TOML_ELEM, i);
	return buf;
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
