/* A SetPolicy document in its fixed form (init/agent/proto/policyform.proto): the front-end
 * parses the host's text with the loaders' own first halves (JSON into a json-c tree, the Rego
 * subset into its default rules) and makes the form; PID 1 builds the policy from the form with
 * the loaders' second halves. So PID 1 runs no JSON or Rego parser on host bytes, and what a
 * document means is decided by the same code as before. */
#define _GNU_SOURCE
#include "policy/policy_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "policyform.pb-c.h"

#define FORM_MAX_VALUES 16384 /* a policy has hundreds; each costs PID 1 a json-c object */
#define FORM_MAX_DEPTH	12    /* PolicyForm and the values stay within the internal form's 16 */

enum { KIND_NULL, KIND_BOOL, KIND_INT, KIND_NUMBER, KIND_STRING, KIND_ARRAY, KIND_OBJECT };
enum { FORMAT_NONE, FORMAT_JSON, FORMAT_REGO };

/* --- the front-end: text into the form ----------------------------------------------------- */

struct make {
	ProtobufCAllocator *a;
	size_t values;
	const char *why; /* the document is no policy */
};

static void *alloc(struct make *m, size_t n)
{
	void *p = m->a->alloc(m->a->allocator_data, n ? n : 1);

	if (p)
		memset(p, 0, n ? n : 1);
	return p;
}

/* A copy of s[0..n) in a block of exactly n + 1 bytes (the encoder checks strings by it). */
static char *text(struct make *m, const char *s, size_t n)
{
	char *p;

	if (memchr(s, 0, n)) {
		m->why = "policy.json: a string with a NUL byte";
		return NULL;
	}
	p = alloc(m, n + 1);
	if (p)
		memcpy(p, s, n);
	return p;
}

static Sealpod__JsonValue *value_of(struct make *m, struct json_object *o, unsigned depth);

static int fill_object(struct make *m, Sealpod__JsonValue *v, struct json_object *o, unsigned depth)
{
	size_t n = (size_t)json_object_object_length(o), i = 0;

	v->keys = alloc(m, n * sizeof(*v->keys));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): n pointers, so a pointer's size is meant
	v->items = alloc(m, n * sizeof(*v->items));
	if (!v->keys || !v->items)
		return -1;
	json_object_object_foreach(o, key, val)
	{
		v->keys[i] = text(m, key, strlen(key));
		if (!v->keys[i])
			return -1;
		v->n_keys = i + 1;
		v->items[i] = value_of(m, val, depth + 1);
		if (!v->items[i])
			return -1;
		v->n_items = ++i;
	}
	return 0;
}

static int fill_array(struct make *m, Sealpod__JsonValue *v, struct json_object *o, unsigned depth)
{
	size_t n = json_object_array_length(o);

	// NOLINTNEXTLINE(bugprone-sizeof-expression): n pointers, so a pointer's size is meant
	v->items = alloc(m, n * sizeof(*v->items));
	if (!v->items)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v->items[i] = value_of(m, json_object_array_get_idx(o, i), depth + 1);
		if (!v->items[i])
			return -1;
		v->n_items = i + 1;
	}
	return 0;
}

static int fill_value(struct make *m, Sealpod__JsonValue *v, struct json_object *o, unsigned depth)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		v->kind = KIND_NULL;
		return 0;
	case json_type_boolean:
		v->kind = KIND_BOOL;
		v->boolean = json_object_get_boolean(o);
		return 0;
	case json_type_int:
		v->kind = KIND_INT;
		v->integer = json_object_get_int64(o);
		return 0;
	case json_type_double:
		v->kind = KIND_NUMBER;
		v->number = json_object_get_double(o);
		return 0;
	case json_type_string:
		v->kind = KIND_STRING;
		v->text = text(m, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		return v->text ? 0 : -1;
	case json_type_array:
		v->kind = KIND_ARRAY;
		return fill_array(m, v, o, depth);
	case json_type_object:
	default:
		v->kind = KIND_OBJECT;
		return fill_object(m, v, o, depth);
	}
}

static Sealpod__JsonValue *value_of(struct make *m, struct json_object *o, unsigned depth)
{
	Sealpod__JsonValue *v;

	if (depth > FORM_MAX_DEPTH) {
		m->why = "policy.json: nested deeper than a policy goes";
		return NULL;
	}
	if (++m->values > FORM_MAX_VALUES) {
		m->why = "policy.json: more values than a policy holds";
		return NULL;
	}
	v = alloc(m, sizeof(*v));
	if (!v)
		return NULL;
	sealpod__json_value__init(v);
	if (fill_value(m, v, o, depth) < 0) {
		protobuf_c_message_free_unpacked(&v->base, m->a);
		return NULL;
	}
	return v;
}

static int make_rego(struct make *m, Sealpod__PolicyForm *f, const char *doc, size_t len,
		     struct sp_err *err)
{
	struct sp_rego_default *defs = calloc(SP_POLICY_MAX_REGO_DEFAULTS, sizeof(*defs));
	size_t n = 0;
	int r = 0;

	if (!defs)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "SetPolicy: out of memory");
	if (sp_policy_rego_scan(doc, len, defs, SP_POLICY_MAX_REGO_DEFAULTS, &n, err) < 0) {
		f->error = text(m, err->msg, strlen(err->msg));
		r = f->error ? 0 : -1;
		goto out;
	}
	f->format = FORMAT_REGO;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): n pointers, so a pointer's size is meant
	f->rego = alloc(m, n * sizeof(*f->rego));
	r = f->rego ? 0 : -1;
	for (size_t i = 0; r == 0 && i < n; i++) {
		Sealpod__RegoDefault *d = alloc(m, sizeof(*d));

		if (!d) {
			r = -1;
			break;
		}
		sealpod__rego_default__init(d);
		f->rego[f->n_rego++] = d;
		d->name = text(m, defs[i].name, strlen(defs[i].name));
		d->value = defs[i].value;
		d->line = defs[i].line;
		if (!d->name) {
			d->name = (char *)protobuf_c_empty_string;
			r = -1;
		}
	}
out:
	free(defs);
	return r;
}

static int make_json(struct make *m, Sealpod__PolicyForm *f, const char *doc, size_t len,
		     struct sp_err *err)
{
	struct json_object *root = NULL;

	if (sp_policy_json_parse(doc, len, &root, err) < 0) {
		f->error = text(m, err->msg, strlen(err->msg));
		return f->error ? 0 : -1;
	}
	f->json = value_of(m, root, 2);
	json_object_put(root);
	if (!f->json && m->why) {
		f->error = text(m, m->why, strlen(m->why));
		return f->error ? 0 : -1;
	}
	f->format = FORMAT_JSON;
	return f->json ? 0 : -1;
}

int sp_policy_form_make(const char *doc, size_t len, struct ProtobufCAllocator *a,
			struct ProtobufCMessage **out, struct sp_err *err)
{
	struct make m = { .a = a };
	Sealpod__PolicyForm *f = alloc(&m, sizeof(*f));
	size_t i = 0;
	int r;

	*out = NULL;
	if (!f)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "SetPolicy: out of memory");
	sealpod__policy_form__init(f);
	f->length = len;
	while (i < len && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\r' || doc[i] == '\n'))
		i++;
	r = i < len && doc[i] == '{' ? make_json(&m, f, doc, len, err)
				     : make_rego(&m, f, doc, len, err);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&f->base, a);
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "SetPolicy: the document is too large");
	}
	*out = &f->base;
	return 0;
}

/* --- PID 1: the form into a policy ---------------------------------------------------------- */

static struct json_object *tree_of(const Sealpod__JsonValue *v, struct sp_err *err);

static struct json_object *object_of(const Sealpod__JsonValue *v, struct sp_err *err)
{
	struct json_object *o = json_object_new_object(), *item;

	if (v->n_keys != v->n_items) {
		json_object_put(o);
		sp_fail(err, SP_E_INVALID, 0,
			"policy form: an object whose keys and values differ");
		return NULL;
	}
	for (size_t i = 0; o && i < v->n_items; i++) {
		if (json_object_object_get_ex(o, v->keys[i], NULL)) {
			sp_fail(err, SP_E_INVALID, 0, "policy form: a key twice in an object");
			json_object_put(o);
			return NULL;
		}
		item = tree_of(v->items[i], err);
		if (!item || json_object_object_add(o, v->keys[i], item) < 0) {
			json_object_put(item);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

static struct json_object *array_of(const Sealpod__JsonValue *v, struct sp_err *err)
{
	struct json_object *o = json_object_new_array(), *item;

	for (size_t i = 0; o && i < v->n_items; i++) {
		item = tree_of(v->items[i], err);
		if (!item || json_object_array_add(o, item) < 0) {
			json_object_put(item);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

static struct json_object *tree_of(const Sealpod__JsonValue *v, struct sp_err *err)
{
	if (v->kind != KIND_ARRAY && v->kind != KIND_OBJECT && (v->n_items || v->n_keys)) {
		sp_fail(err, SP_E_INVALID, 0, "policy form: items on a scalar");
		return NULL;
	}
	switch (v->kind) {
	case KIND_NULL:
		return json_object_new_null();
	case KIND_BOOL:
		return json_object_new_boolean(v->boolean);
	case KIND_INT:
		return json_object_new_int64(v->integer);
	case KIND_NUMBER:
		return json_object_new_double(v->number);
	case KIND_STRING:
		return json_object_new_string_len(v->text, (int)strlen(v->text));
	case KIND_ARRAY:
		return array_of(v, err);
	case KIND_OBJECT:
		return object_of(v, err);
	default:
		sp_fail(err, SP_E_INVALID, 0, "policy form: a value of kind %u", v->kind);
		return NULL;
	}
}

static int load_json(const Sealpod__PolicyForm *f, struct sp_policy **out, struct sp_err *err)
{
	struct json_object *root;
	int r;

	err->msg[0] = '\0';
	root = f->json ? tree_of(f->json, err) : NULL;
	if (!root)
		return err->msg[0] ? -1 : sp_fail(err, SP_E_INVALID, 0, "policy form: no document");
	r = sp_policy_load_json_tree(root, out, err);
	json_object_put(root);
	return r;
}

static int load_rego(const Sealpod__PolicyForm *f, struct sp_policy **out, struct sp_err *err)
{
	struct sp_rego_default *defs;
	int r;

	if (f->n_rego > SP_POLICY_MAX_REGO_DEFAULTS)
		return sp_fail(err, SP_E_INVALID, 0, "policy form: %zu default rules", f->n_rego);
	defs = calloc(f->n_rego ? f->n_rego : 1, sizeof(*defs));
	if (!defs)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "policy form");
	for (size_t i = 0; i < f->n_rego; i++) {
		const Sealpod__RegoDefault *d = f->rego[i];

		if (strlen(d->name) >= sizeof(defs[i].name)) {
			free(defs);
			return sp_fail(err, SP_E_INVALID, 0, "policy form: a rule name too long");
		}
		memcpy(defs[i].name, d->name, strlen(d->name) + 1);
		defs[i].value = d->value;
		defs[i].line = d->line;
	}
	r = sp_policy_load_rego_defaults(defs, f->n_rego, out, err);
	free(defs);
	return r;
}

int sp_policy_form_load(const struct ProtobufCMessage *msg, struct sp_policy **out,
			struct sp_err *err)
{
	const Sealpod__PolicyForm *f = (const Sealpod__PolicyForm *)(const void *)msg;
	char why[200];

	*out = NULL;
	if (msg->descriptor != &sealpod__policy_form__descriptor)
		return sp_fail(err, SP_E_INTERNAL, 0, "policy form: not a PolicyForm");
	switch (f->format) {
	case FORMAT_JSON:
		return load_json(f, out, err) < 0 ? sp_err_kind(err, SP_E_INVALID) : 0;
	case FORMAT_REGO:
		return load_rego(f, out, err) < 0 ? sp_err_kind(err, SP_E_INVALID) : 0;
	case FORMAT_NONE:
		/* The parser's words came from the front-end: escaped again before any log. */
		sp_log_escape(why, sizeof(why), f->error, strlen(f->error));
		return sp_fail(err, SP_E_INVALID, 0, "%s", why[0] ? why : "not a policy");
	default:
		return sp_fail(err, SP_E_INVALID, 0, "policy form: format %u", f->format);
	}
}
