/* A small, strict TOML reader: enough for Kata initdata, aa.toml, cdh.toml and
 * containers-registries.conf. Accepted: comments, [table] and [[array of tables]] headers with
 * dotted/quoted keys, key = value with dotted/quoted keys, basic and literal strings (single- and
 * multi-line), decimal integers, booleans, arrays of strings, inline tables { k = v } (one line,
 * closed once written) and arrays of inline tables. Everything else (floats, dates, mixed arrays,
 * duplicate keys, invalid UTF-8, control characters) is refused whole with the line number. The
 * input is untrusted. */
#ifndef SEALPOD_ATTEST_TOML_H
#define SEALPOD_ATTEST_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_TOML_MAX_DOC	    ((size_t)1 << 20) /* bytes of one document */
#define SP_TOML_MAX_ENTRIES 1024
#define SP_TOML_MAX_ARRAY   256
#define SP_TOML_MAX_DEPTH   16	   /* key segments */
#define SP_TOML_SEP	    '\x1f' /* joins key segments in a path (never inside a key) */
/* An element of an array of tables is the segment SP_TOML_ELEM followed by its decimal index:
 * a control character, so no key (quoted or bare) can spell it. */
#define SP_TOML_ELEM	 '\x1e'
#define SP_TOML_ELEM_MAX 24

/* SP_TOML_TABLES: an array of tables ([[name]] or name = [ {...}, ... ]); narr counts its
 * elements, each an SP_TOML_TABLE at path SEP ELEM index. */
enum sp_toml_type {
	SP_TOML_TABLE,
	SP_TOML_STRING,
	SP_TOML_INT,
	SP_TOML_BOOL,
	SP_TOML_ARRAY,
	SP_TOML_TABLES,
};

struct sp_toml_ent {
	char *path; /* segments joined by SP_TOML_SEP */
	enum sp_toml_type type;
	char *str; /* SP_TOML_STRING: NUL-terminated (strings holding NUL are refused) */
	size_t str_len;
	int64_t i;
	bool b;
	char **arr; /* SP_TOML_ARRAY: strings */
	size_t narr;
	bool closed; /* an inline table or array: nothing may be added under it later */
};

struct sp_toml {
	struct sp_toml_ent *ents;
	size_t n, cap;
};

int sp_toml_parse(const char *buf, size_t len, struct sp_toml *doc, struct sp_err *err);
void sp_toml_free(struct sp_toml *doc);

/* Lookups by key segments, NULL-terminated:
 * sp_toml_get(doc, (const char *[]){ "data", "aa.toml", NULL }). */
const struct sp_toml_ent *sp_toml_get(const struct sp_toml *doc, const char *const *segs);
/* The key segment naming element i of an array of tables, into buf. */
const char *sp_toml_elem(char buf[SP_TOML_ELEM_MAX], size_t i);
/* A string value, NULL when absent; -1 with err when present with another type. */
int sp_toml_string(const struct sp_toml *doc, const char *const *segs, const char **out,
		   struct sp_err *err);

#endif
