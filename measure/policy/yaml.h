/* A small YAML tree for sealpod-policy, read with libyaml's event parser: scalars, sequences and
 * mappings, every document of a stream. The reader refuses what a Kubernetes manifest does not
 * need and what could make one file mean two things or cost unbounded work: explicit tags other
 * than YAML's core ones, merge keys (`<<`), duplicate keys, complex (non-scalar) keys, nesting
 * deeper than SPY_MAX_DEPTH, and aliases that would expand past SPY_MAX_NODES (the "billion
 * laughs" document). An alias shares its anchor's node, so a tree is a DAG owned by its arena. */
#ifndef SEALPOD_MEASURE_POLICY_YAML_H
#define SEALPOD_MEASURE_POLICY_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define SPY_MAX_INPUT ((size_t)4 * 1024 * 1024) /* bytes of one file */
#define SPY_MAX_NODES 200000			/* nodes of a stream, aliases expanded */
#define SPY_MAX_DEPTH 64			/* nesting of collections */
#define SPY_MAX_DOCS  256			/* documents of a stream */

enum spy_kind { SPY_SCALAR, SPY_SEQ, SPY_MAP };

struct spy_node {
	enum spy_kind kind;
	bool plain;    /* a plain (unquoted, untagged) scalar: may be a number, bool or null */
	size_t line;   /* 1-based, where it starts */
	size_t weight; /* nodes beneath it, itself included, aliases expanded */
	char *str;     /* SPY_SCALAR: the value (NUL-terminated; NUL bytes refused) */
	struct spy_node **v; /* SPY_SEQ: the items; SPY_MAP: key, value, key, value, ... */
	size_t n;	     /* items; for a map twice its pairs */
	size_t cap;
	struct spy_node *next_alloc; /* the arena's list */
};

struct spy_stream {
	struct spy_node *docs[SPY_MAX_DOCS]; /* each document's root (NULL for an empty one) */
	size_t ndocs;
	struct spy_node *arena;
};

/* Parses buf[0..len) into *out (free with spy_free). Returns 0, or -1 with err naming the line
 * and what is wrong. */
int spy_parse(const char *buf, size_t len, struct spy_stream *out, struct sp_err *err);
void spy_free(struct spy_stream *s);

/* A mapping's value for key, or NULL (also when m is no mapping). */
const struct spy_node *spy_get(const struct spy_node *m, const char *key);
/* A scalar's text, or NULL when n is absent or not a scalar. */
const char *spy_str(const struct spy_node *n);
/* A plain scalar that is YAML's null (`null`, `~`, empty) or an absent node. */
bool spy_is_null(const struct spy_node *n);

#endif
