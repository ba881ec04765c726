/* The YAML reader (yaml.h): libyaml's events into a bounded tree. */
#include "yaml.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ANCHORS 4096

struct anchor {
	char *name;
	struct spy_node *node;
};

struct reader {
	struct spy_stream *s;
	struct spy_node *stack[SPY_MAX_DEPTH];
	size_t depth;
	struct spy_node *root;
	struct anchor anchors[MAX_ANCHORS];
	size_t nanchors;
	size_t total; /* nodes so far, aliases expanded */
	struct sp_err *err;
};

static const char *const core_tags[] = {
	"tag:yaml.org,2002:str",  "tag:yaml.org,2002:int",   "tag:yaml.org,2002:bool",
	"tag:yaml.org,2002:null", "tag:yaml.org,2002:float", "tag:yaml.org,2002:map",
	"tag:yaml.org,2002:seq",
};

static int check_tag(struct reader *r, const yaml_char_t *tag, size_t line)
{
	if (!tag)
		return 0;
	for (size_t i = 0; i < sizeof(core_tags) / sizeof(core_tags[0]); i++)
		if (strcmp((const char *)tag, core_tags[i]) == 0)
			return 0;
	return sp_fail(r->err, SP_E_UNSUPPORTED, 0, "line %zu: the tag '%.64s' is not supported",
		       line, (const char *)tag);
}

static struct spy_node *new_node(struct reader *r, enum spy_kind kind, size_t line)
{
	struct spy_node *n;

	if (++r->total > SPY_MAX_NODES) {
		sp_fail(r->err, SP_E_EXHAUSTED, 0, "line %zu: more than %d nodes", line,
			SPY_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		sp_fail(r->err, SP_E_EXHAUSTED, 0, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	n->weight = 1;
	n->next_alloc = r->s->arena;
	r->s->arena = n;
	return n;
}

static int add_anchor(struct reader *r, const yaml_char_t *name, struct spy_node *n)
{
	if (!name)
		return 0;
	if (r->nanchors == MAX_ANCHORS)
		return sp_fail(r->err, SP_E_EXHAUSTED, 0, "line %zu: more than %d anchors", n->line,
			       MAX_ANCHORS);
	r->anchors[r->nanchors].name = strdup((const char *)name);
	if (!r->anchors[r->nanchors].name)
		return sp_fail(r->err, SP_E_EXHAUSTED, 0, "out of memory");
	r->anchors[r->nanchors++].node = n;
	return 0;
}

static void drop_anchors(struct reader *r)
{
	for (size_t i = 0; i < r->nanchors; i++)
		free(r->anchors[i].name);
	r->nanchors = 0;
}

/* Hangs n under the open collection (or makes it the document's root). */
static int attach(struct reader *r, struct spy_node *n)
{
	struct spy_node *p;

	if (!n)
		return -1;
	if (!r->depth) {
		r->root = n;
		return 0;
	}
	p = r->stack[r->depth - 1];
	if (!p)
		return sp_fail(r->err, SP_E_INTERNAL, 0, "line %zu: no open collection", n->line);
	if (p->kind == SPY_MAP && !(p->n % 2)) {
		if (n->kind != SPY_SCALAR)
			return sp_fail(r->err, SP_E_UNSUPPORTED, 0,
				       "line %zu: a mapping key that is not a scalar", n->line);
		if (strcmp(n->str, "<<") == 0 && n->plain)
			return sp_fail(r->err, SP_E_UNSUPPORTED, 0,
				       "line %zu: merge keys ('<<') are not supported", n->line);
		if (spy_get(p, n->str))
			return sp_fail(r->err, SP_E_INVALID, 0,
				       "line %zu: the key '%.64s' appears twice in one mapping",
				       n->line, n->str);
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct spy_node **v = realloc(p->v, cap * sizeof(struct spy_node *));

		if (!v)
			return sp_fail(r->err, SP_E_EXHAUSTED, 0, "out of memory");
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = n;
	p->weight += n->weight;
	return 0;
}

static int on_scalar(struct reader *r, const yaml_event_t *e, size_t line)
{
	struct spy_node *n;

	if (check_tag(r, e->data.scalar.tag, line) < 0)
		return -1;
	if (strlen((const char *)e->data.scalar.value) != e->data.scalar.length)
		return sp_fail(r->err, SP_E_INVALID, 0, "line %zu: a NUL character in a scalar",
			       line);
	n = new_node(r, SPY_SCALAR, line);
	if (!n)
		return -1;
	n->str = strdup((const char *)e->data.scalar.value);
	if (!n->str)
		return sp_fail(r->err, SP_E_EXHAUSTED, 0, "out of memory");
	n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !e->data.scalar.tag;
	if (add_anchor(r, e->data.scalar.anchor, n) < 0)
		return -1;
	return attach(r, n);
}

static int on_open(struct reader *r, enum spy_kind kind, const yaml_char_t *tag,
		   const yaml_char_t *anchor, size_t line)
{
	struct spy_node *n;

	if (check_tag(r, tag, line) < 0)
		return -1;
	if (r->depth == SPY_MAX_DEPTH)
		return sp_fail(r->err, SP_E_EXHAUSTED, 0, "line %zu: nested deeper than %d", line,
			       SPY_MAX_DEPTH);
	n = new_node(r, kind, line);
	if (!n || add_anchor(r, anchor, n) < 0)
		return -1;
	r->stack[r->depth++] = n;
	return 0;
}

static int on_close(struct reader *r)
{
	struct spy_node *n = r->stack[--r->depth];

	return attach(r, n);
}

static int on_alias(struct reader *r, const yaml_char_t *name, size_t line)
{
	struct spy_node *n = NULL;

	for (size_t i = r->nanchors; i-- > 0;)
		if (strcmp(r->anchors[i].name, (const char *)name) == 0) {
			n = r->anchors[i].node;
			break;
		}
	if (!n)
		return sp_fail(r->err, SP_E_INVALID, 0,
			       "line %zu: the alias '*%.64s' has no anchor", line,
			       (const char *)name);
	for (size_t i = 0; i < r->depth; i++)
		if (r->stack[i] == n)
			return sp_fail(r->err, SP_E_INVALID, 0,
				       "line %zu: the alias '*%.64s' refers to a node that "
				       "contains it",
				       line, (const char *)name);
	r->total += n->weight;
	if (r->total > SPY_MAX_NODES)
		return sp_fail(r->err, SP_E_EXHAUSTED, 0,
			       "line %zu: aliases expand to more than %d nodes", line,
			       SPY_MAX_NODES);
	return attach(r, n);
}

static int on_event(struct reader *r, const yaml_event_t *e)
{
	size_t line = e->start_mark.line + 1;

	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (r->s->ndocs == SPY_MAX_DOCS)
			return sp_fail(r->err, SP_E_EXHAUSTED, 0,
				       "line %zu: more than %d documents", line, SPY_MAX_DOCS);
		r->root = NULL;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		r->s->docs[r->s->ndocs++] = r->root;
		drop_anchors(r);
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(r, e, line);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(r, SPY_SEQ, e->data.sequence_start.tag,
			       e->data.sequence_start.anchor, line);
	case YAML_MAPPING_START_EVENT:
		return on_open(r, SPY_MAP, e->data.mapping_start.tag, e->data.mapping_start.anchor,
			       line);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_close(r);
	case YAML_ALIAS_EVENT:
		return on_alias(r, e->data.alias.anchor, line);
	default:
		return 0;
	}
}

int spy_parse(const char *buf, size_t len, struct spy_stream *out, struct sp_err *err)
{
	struct reader *r;
	yaml_parser_t parser;
	int ret = 0;
	bool done = false;

	memset(out, 0, sizeof(*out));
	if (len > SPY_MAX_INPUT)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "the file is larger than %zu bytes",
			       SPY_MAX_INPUT);
	if (memchr(buf, 0, len))
		return sp_fail(err, SP_E_INVALID, 0, "a NUL byte in the file");
	r = calloc(1, sizeof(*r));
	if (!r)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	r->s = out;
	r->err = err;
	if (!yaml_parser_initialize(&parser)) {
		free(r);
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && ret == 0) {
		yaml_event_t e;

		if (!yaml_parser_parse(&parser, &e)) {
			ret = sp_fail(err, SP_E_INVALID, 0, "line %zu: %.160s",
				      parser.problem_mark.line + 1,
				      parser.problem ? parser.problem : "malformed YAML");
			break;
		}
		done = e.type == YAML_STREAM_END_EVENT;
		ret = on_event(r, &e);
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&parser);
	drop_anchors(r);
	free(r);
	if (ret < 0)
		spy_free(out);
	return ret;
}

void spy_free(struct spy_stream *s)
{
	struct spy_node *n = s->arena;

	while (n) {
		struct spy_node *next = n->next_alloc;

		free(n->str);
		free(n->v);
		free(n);
		n = next;
	}
	memset(s, 0, sizeof(*s));
}

const struct spy_node *spy_get(const struct spy_node *m, const char *key)
{
	if (!m || m->kind != SPY_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (strcmp(m->v[i]->str, key) == 0)
			return m->v[i + 1];
	return NULL;
}

const char *spy_str(const struct spy_node *n)
{
	return n && n->kind == SPY_SCALAR ? n->str : NULL;
}

bool spy_is_null(const struct spy_node *n)
{
	if (!n)
		return true;
	if (n->kind != SPY_SCALAR || !n->plain)
		return false;
	return !n->str[0] || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}
