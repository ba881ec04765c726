/* The internal form (see form.h): the front-end's encoder and PID 1's validator, both walking
 * the protobuf-c descriptors, so that no message needs code of its own. */
#define _GNU_SOURCE
#include "agent/form.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/validate.h"

/* How a value of a protobuf type travels. */
enum vkind { V_4, V_8, V_BOOL, V_STR, V_BYTES, V_MSG };

static enum vkind vkind_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return V_8;
	case PROTOBUF_C_TYPE_BOOL:
		return V_BOOL;
	case PROTOBUF_C_TYPE_STRING:
		return V_STR;
	case PROTOBUF_C_TYPE_BYTES:
		return V_BYTES;
	case PROTOBUF_C_TYPE_MESSAGE:
		return V_MSG;
	default:
		return V_4;
	}
}

/* The size of one value in a protobuf-c struct or repeated array. */
static size_t mem_size(enum vkind k)
{
	static const size_t sizes[] = {
		[V_4] = 4,
		[V_8] = 8,
		[V_BOOL] = sizeof(protobuf_c_boolean),
		[V_STR] = sizeof(char *),
		[V_BYTES] = sizeof(ProtobufCBinaryData),
		[V_MSG] = sizeof(ProtobufCMessage *),
	};
	return sizes[k];
}

/* The fewest form bytes one value takes (a message: see min_msg). */
static size_t min_value(enum vkind k)
{
	static const size_t sizes[] = {
		[V_4] = 4, [V_8] = 8, [V_BOOL] = 1, [V_STR] = 5, [V_BYTES] = 4, [V_MSG] = 0,
	};
	return sizes[k];
}

static bool repeated(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_REPEATED;
}

/* A singular field that may be absent carries a presence byte. */
static bool has_presence(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
	       f->label == PROTOBUF_C_LABEL_OPTIONAL;
}

/* The fewest form bytes a message takes: every field at its smallest. */
static size_t min_msg(const ProtobufCMessageDescriptor *d)
{
	size_t n = 0;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (repeated(f))
			n += 4;
		else if (has_presence(f))
			n += 1;
		else
			n += min_value(vkind_of(f->type));
	}
	return n;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void *member(const void *m, unsigned offset)
{
	return (char *)m + offset;
}

/* --- the encoder ------------------------------------------------------------------------------ */

struct meas {
	size_t size, max, items;
	unsigned depth;
	sp_form_wire_len wire_len;
	void *arg;
	struct sp_err *err;
};

static int too_much(struct meas *s, const ProtobufCMessageDescriptor *d,
		    const ProtobufCFieldDescriptor *f, const char *what)
{
	return sp_fail(s->err, SP_E_EXHAUSTED, 0, "%s.%s: %s", d->short_name, f->name, what);
}

static int measure_str(struct meas *s, const ProtobufCMessageDescriptor *d,
		       const ProtobufCFieldDescriptor *f, const char *str)
{
	size_t len = str ? strlen(str) : 0, wire;

	if (str && s->wire_len) {
		wire = s->wire_len(f, str, s->arg);
		if (wire != SIZE_MAX && wire != len)
			return sp_fail(s->err, SP_E_INVALID, 0, "%s.%s: a NUL byte in a string",
				       d->short_name, f->name);
	}
	if (!sp_utf8_valid(str, len))
		return sp_fail(s->err, SP_E_INVALID, 0, "%s.%s: a string that is not UTF-8",
			       d->short_name, f->name);
	s->size += 5 + len;
	return 0;
}

static int measure_msg(struct meas *s, const ProtobufCMessage *m);

static int measure_value(struct meas *s, const ProtobufCMessageDescriptor *d,
			 const ProtobufCFieldDescriptor *f, const void *slot)
{
	switch (vkind_of(f->type)) {
	case V_STR:
		return measure_str(s, d, f, *(char *const *)slot);
	case V_BYTES:
		s->size += 4 + ((const ProtobufCBinaryData *)slot)->len;
		return 0;
	case V_MSG:
		return measure_msg(s, *(ProtobufCMessage *const *)slot);
	case V_BOOL:
		s->size += 1;
		return 0;
	default:
		s->size += min_value(vkind_of(f->type));
		return 0;
	}
}

static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)member(m, f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
		return *(void *const *)member(m, f->offset) != NULL;
	return *(const protobuf_c_boolean *)member(m, f->quantifier_offset);
}

static int measure_field(struct meas *s, const ProtobufCMessage *m,
			 const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (repeated(f)) {
		size_t n = *(const size_t *)member(m, f->quantifier_offset);
		const char *arr = *(char *const *)member(m, f->offset);
		size_t step = mem_size(vkind_of(f->type));

		if (n > SP_FORM_MAX_ITEMS - s->items)
			return too_much(s, d, f, "too many repeated elements");
		s->items += n;
		s->size += 4;
		for (size_t i = 0; i < n; i++)
			if (measure_value(s, d, f, arr + i * step) < 0)
				return -1;
		return 0;
	}
	if (has_presence(f)) {
		s->size += 1;
		if (!present(m, f))
			return 0;
	}
	return measure_value(s, d, f, member(m, f->offset));
}

static int measure_msg(struct meas *s, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int r = 0;

	if (++s->depth > SP_FORM_MAX_DEPTH)
		return sp_fail(s->err, SP_E_EXHAUSTED, 0, "%s: nested too deep", d->short_name);
	for (unsigned i = 0; i < d->n_fields && r == 0; i++) {
		r = measure_field(s, m, &d->fields[i]);
		if (r == 0 && s->size > s->max)
			r = sp_fail(s->err, SP_E_EXHAUSTED, 0, "%s: more than %zu bytes",
				    d->short_name, s->max);
	}
	s->depth--;
	return r;
}

int sp_form_measure(const ProtobufCMessage *m, size_t max, sp_form_wire_len wire_len, void *arg,
		    size_t *size, struct sp_err *err)
{
	struct meas s = { .max = max, .wire_len = wire_len, .arg = arg, .err = err };

	if (measure_msg(&s, m) < 0)
		return -1;
	*size = s.size;
	return 0;
}

static uint8_t *put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

static uint8_t *write_msg(const ProtobufCMessage *m, uint8_t *p);

static uint8_t *write_value(const ProtobufCFieldDescriptor *f, const void *slot, uint8_t *p)
{
	uint32_t v4;
	uint64_t v8;

	switch (vkind_of(f->type)) {
	case V_STR: {
		const char *s = *(char *const *)slot;
		size_t len = s ? strlen(s) : 0;

		p = put_le(p, len, 4);
		if (len)
			memcpy(p, s, len);
		p[len] = 0;
		return p + len + 1;
	}
	case V_BYTES: {
		const ProtobufCBinaryData *b = slot;

		p = put_le(p, b->len, 4);
		if (b->len)
			memcpy(p, b->data, b->len);
		return p + b->len;
	}
	case V_MSG:
		return write_msg(*(ProtobufCMessage *const *)slot, p);
	case V_BOOL:
		*p = *(const protobuf_c_boolean *)slot ? 1 : 0;
		return p + 1;
	case V_8:
		memcpy(&v8, slot, 8);
		return put_le(p, v8, 8);
	default:
		memcpy(&v4, slot, 4);
		return put_le(p, v4, 4);
	}
}

static uint8_t *write_msg(const ProtobufCMessage *m, uint8_t *p)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (repeated(f)) {
			size_t n = *(const size_t *)member(m, f->quantifier_offset);
			const char *arr = *(char *const *)member(m, f->offset);
			size_t step = mem_size(vkind_of(f->type));

			p = put_le(p, n, 4);
			for (size_t k = 0; k < n; k++)
				p = write_value(f, arr + k * step, p);
			continue;
		}
		if (has_presence(f)) {
			bool here = present(m, f);

			*p++ = here;
			if (!here)
				continue;
		}
		p = write_value(f, member(m, f->offset), p);
	}
	return p;
}

void sp_form_write(const ProtobufCMessage *m, uint8_t *out)
{
	(void)write_msg(m, out);
}

/* --- the validator ---------------------------------------------------------------------------
 * One walk, run twice: first to check everything and count what the message needs (build
 * false), then, with exactly that much memory, to fill it in (build true). */

struct walk {
	const uint8_t *p, *end;
	size_t items, alloc;
	unsigned depth;
	bool build;
	uint8_t *mem, *mem_end;
	const char *msg, *field; /* where we are, for errors */
	struct sp_err *err;
};

static int bad(struct walk *w, enum sp_err_kind kind, const char *what)
{
	(void)sp_fail(w->err, kind, 0, "internal form: %s%s%s: %s", w->msg ? w->msg : "",
		      w->field ? "." : "", w->field ? w->field : "", what);
	return -1;
}

static int take(struct walk *w, size_t n, const uint8_t **out)
{
	*out = NULL;
	if ((size_t)(w->end - w->p) < n)
		return bad(w, SP_E_INVALID, "ends early");
	*out = w->p;
	w->p += n;
	return 0;
}

static int rd_le(struct walk *w, unsigned n, uint64_t *v)
{
	const uint8_t *p;

	if (take(w, n, &p) < 0)
		return -1;
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return 0;
}

/* Reserves n bytes of the message's memory: counted on the first walk, handed out (zeroed) on
 * the second. */
static void *reserve(struct walk *w, size_t n)
{
	void *p;

	n = align8(n);
	if (!w->build) {
		w->alloc += n;
		return NULL;
	}
	if ((size_t)(w->mem_end - w->mem) < n)
		return NULL; /* cannot happen: the first walk counted exactly this */
	p = w->mem;
	w->mem += n;
	return p;
}

static int rd_msg(struct walk *w, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

static int rd_str(struct walk *w, char **slot)
{
	const uint8_t *s;
	uint64_t len;

	if (rd_le(w, 4, &len) < 0 || take(w, len + 1, &s) < 0)
		return -1;
	if (s[len] != 0)
		return bad(w, SP_E_INVALID, "a string without its terminating 0");
	if (!w->build && memchr(s, 0, len))
		return bad(w, SP_E_INVALID, "a NUL byte in a string");
	if (!w->build && !sp_utf8_valid((const char *)s, len))
		return bad(w, SP_E_INVALID, "a string that is not UTF-8");
	if (slot)
		*slot = (char *)s;
	return 0;
}

static int rd_bytes(struct walk *w, ProtobufCBinaryData *slot)
{
	const uint8_t *b;
	uint64_t len;

	if (rd_le(w, 4, &len) < 0 || take(w, len, &b) < 0)
		return -1;
	if (slot) {
		slot->len = len;
		slot->data = len ? (uint8_t *)b : NULL;
	}
	return 0;
}

/* One value into slot (NULL on the first walk). */
static int rd_value(struct walk *w, const ProtobufCFieldDescriptor *f, void *slot)
{
	uint64_t v;

	switch (vkind_of(f->type)) {
	case V_STR:
		return rd_str(w, slot);
	case V_BYTES:
		return rd_bytes(w, slot);
	case V_MSG:
		return rd_msg(w, f->descriptor, slot);
	case V_BOOL:
		if (rd_le(w, 1, &v) < 0)
			return -1;
		if (v > 1)
			return bad(w, SP_E_INVALID, "a bool that is neither 0 nor 1");
		if (slot)
			*(protobuf_c_boolean *)slot = (protobuf_c_boolean)v;
		return 0;
	case V_8:
		if (rd_le(w, 8, &v) < 0)
			return -1;
		if (slot)
			memcpy(slot, &v, 8);
		return 0;
	default:
		if (rd_le(w, 4, &v) < 0)
			return -1;
		if (slot) {
			uint32_t v4 = (uint32_t)v;

			memcpy(slot, &v4, 4);
		}
		return 0;
	}
}

/* A repeated field: the count is checked against the bytes left and both budgets before one
 * element is looked at. */
static int rd_repeated(struct walk *w, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
	enum vkind k = vkind_of(f->type);
	size_t step = mem_size(k), least, each;
	uint64_t n;
	char *arr;

	if (rd_le(w, 4, &n) < 0)
		return -1;
	least = k == V_MSG ? min_msg(f->descriptor) : min_value(k);
	if (n > SP_FORM_MAX_ITEMS - w->items)
		return bad(w, SP_E_EXHAUSTED, "more repeated elements than PID 1 takes");
	if (least && n > (size_t)(w->end - w->p) / least)
		return bad(w, SP_E_INVALID, "a count larger than the bytes that follow");
	each = step +
	       (k == V_MSG
			? align8(((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message)
			: 0);
	if (!w->build && w->alloc + align8(n * each) > SP_FORM_MAX_ALLOC)
		return bad(w, SP_E_EXHAUSTED, "a request larger than PID 1 takes");
	w->items += n;
	arr = n ? reserve(w, n * step) : NULL;
	if (m && n) {
		*(size_t *)member(m, f->quantifier_offset) = n;
		*(char **)member(m, f->offset) = arr;
	}
	for (size_t i = 0; i < n; i++)
		if (rd_value(w, f, arr ? arr + i * step : NULL) < 0)
			return -1;
	return 0;
}

/* Is another member of f's oneof present already? seen: bit i for field i present. */
static bool oneof_taken(const ProtobufCMessageDescriptor *d, unsigned i, uint64_t seen)
{
	for (unsigned j = 0; j < i; j++)
		if ((seen >> j & 1) && (d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    d->fields[j].quantifier_offset == d->fields[i].quantifier_offset)
			return true;
	return false;
}

static int rd_presence(struct walk *w, const ProtobufCMessageDescriptor *d, unsigned i,
		       uint64_t *seen, bool *here)
{
	const ProtobufCFieldDescriptor *f = &d->fields[i];
	uint64_t v;

	if (rd_le(w, 1, &v) < 0)
		return -1;
	if (v > 1)
		return bad(w, SP_E_INVALID, "a presence byte that is neither 0 nor 1");
	*here = v;
	if (!v || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 0;
	if (i >= 64)
		return bad(w, SP_E_INVALID, "a oneof member past field 64");
	if (oneof_taken(d, i, *seen))
		return bad(w, SP_E_INVALID, "two members of one oneof");
	*seen |= (uint64_t)1 << i;
	return 0;
}

static int rd_field(struct walk *w, const ProtobufCMessageDescriptor *d, unsigned i,
		    ProtobufCMessage *m, uint64_t *seen)
{
	const ProtobufCFieldDescriptor *f = &d->fields[i];
	bool here = true;

	w->msg = d->short_name;
	w->field = f->name;
	if (repeated(f))
		return rd_repeated(w, f, m);
	if (has_presence(f) && rd_presence(w, d, i, seen, &here) < 0)
		return -1;
	if (!here)
		return 0;
	if (m && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		*(uint32_t *)member(m, f->quantifier_offset) = f->id;
	else if (m && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		 f->type != PROTOBUF_C_TYPE_STRING)
		*(protobuf_c_boolean *)member(m, f->quantifier_offset) = 1;
	return rd_value(w, f, m ? member(m, f->offset) : NULL);
}

static int rd_msg(struct walk *w, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
	ProtobufCMessage *m = NULL;
	uint64_t seen = 0;

	if (w->depth >= SP_FORM_MAX_DEPTH)
		return bad(w, SP_E_EXHAUSTED, "nested deeper than PID 1 takes");
	if (!w->build && w->alloc + align8(d->sizeof_message) > SP_FORM_MAX_ALLOC)
		return bad(w, SP_E_EXHAUSTED, "a request larger than PID 1 takes");
	m = reserve(w, d->sizeof_message);
	if (w->build && !m)
		return bad(w, SP_E_INTERNAL, "out of its own memory");
	if (m)
		protobuf_c_message_init(d, m);
	w->depth++;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (rd_field(w, d, i, m, &seen) < 0)
			return -1;
	w->depth--;
	if (out)
		*out = m;
	return 0;
}

int sp_form_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *form, size_t len,
		   ProtobufCMessage **out, struct sp_err *err)
{
	struct walk w = { .p = form, .end = form + len, .err = err };
	uint8_t *mem;

	*out = NULL;
	if (len > SP_FORM_MAX_LEN)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "internal form: %zu bytes, more than %zu",
			       len, SP_FORM_MAX_LEN);
	if (rd_msg(&w, desc, NULL) < 0)
		return -1;
	if (w.p != w.end)
		return sp_fail(err, SP_E_INVALID, 0, "internal form: %zu bytes after the %s",
			       (size_t)(w.end - w.p), desc->short_name);
	mem = calloc(1, w.alloc);
	if (!mem)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "internal form: out of memory");
	w = (struct walk){ .p = form,
			   .end = form + len,
			   .build = true,
			   .mem = mem,
			   .mem_end = mem + w.alloc,
			   .err = err };
	if (rd_msg(&w, desc, out) < 0) {
		free(mem); /* cannot happen: the first walk checked the same bytes */
		*out = NULL;
		return -1;
	}
	return 0;
}
