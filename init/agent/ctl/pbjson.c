/* JSON <-> protobuf-c through the descriptors. See pbjson.h. */
#define _GNU_SOURCE
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) (snprintf(why, whylen, __VA_ARGS__), -1)

/* protoc's JSON name: drop each '_' and upper-case the letter after it. */
static void json_name(const char *name, char *out, size_t outlen)
{
	size_t j = 0;
	bool up = false;

	for (size_t i = 0; name[i] && j + 1 < outlen; i++) {
		if (name[i] == '_') {
			up = true;
			continue;
		}
		out[j++] = up && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
		up = false;
	}
	out[j] = '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
						  const char *key)
{
	char jn[128];

	for (unsigned i = 0; i < d->n_fields; i++) {
		if (!strcmp(d->fields[i].name, key))
			return &d->fields[i];
		json_name(d->fields[i].name, jn, sizeof(jn));
		if (!strcmp(jn, key))
			return &d->fields[i];
	}
	return NULL;
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 5 && !strcmp(d->name + n - 5, "Entry") && d->n_fields == 2 &&
	       !strcmp(d->fields[0].name, "key") && !strcmp(d->fields[1].name, "value");
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

/* --- base64 ------------------------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Standard or URL-safe alphabet, padding optional. */
static int b64_decode(const char *s, ProtobufCBinaryData *out)
{
	size_t n = strlen(s), bits = 0, j = 0;
	uint32_t acc = 0;

	out->data = malloc(n / 4 * 3 + 3);
	out->len = 0;
	if (!out->data)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *c;
		int v;

		if (s[i] == '=')
			break;
		if (s[i] == '-')
			v = 62;
		else if (s[i] == '_')
			v = 63;
		else if ((c = strchr(b64, s[i])) && s[i])
			v = (int)(c - b64);
		else
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[j++] = (uint8_t)(acc >> bits);
		}
	}
	out->len = j;
	return 0;
}

/* --- JSON -> message --------------------------------------------------------------------------- */

static int get_i64(json_object *v, int64_t *out, char *why, size_t whylen)
{
	char *end;

	if (json_object_is_type(v, json_type_int)) {
		errno = 0;
		*out = json_object_get_int64(v);
		return errno ? FAIL("integer out of range") : 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		errno = 0;
		*out = strtoll(s, &end, 10);
		if (!*s || *end || errno)
			return FAIL("'%s' is not an integer", s);
		return 0;
	}
	return FAIL("expected an integer");
}

static int get_u64(json_object *v, uint64_t *out, char *why, size_t whylen)
{
	char *end;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return FAIL("expected an unsigned integer");
		*out = json_object_get_uint64(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		errno = 0;
		*out = strtoull(s, &end, 10);
		if (!*s || *s == '-' || *end || errno)
			return FAIL("'%s' is not an unsigned integer", s);
		return 0;
	}
	return FAIL("expected an integer");
}

static int set_int32(json_object *v, int32_t *dst, char *why, size_t whylen)
{
	int64_t i;

	if (get_i64(v, &i, why, whylen) < 0)
		return -1;
	if (i < INT32_MIN || i > INT32_MAX)
		return FAIL("%" PRId64 " out of int32 range", i);
	*dst = (int32_t)i;
	return 0;
}

static int set_uint32(json_object *v, uint32_t *dst, char *why, size_t whylen)
{
	uint64_t u;

	if (get_u64(v, &u, why, whylen) < 0)
		return -1;
	if (u > UINT32_MAX)
		return FAIL("%" PRIu64 " out of uint32 range", u);
	*dst = (uint32_t)u;
	return 0;
}

/* An enum by its name or its number. */
static int set_enum(const ProtobufCEnumDescriptor *ed, json_object *v, int *dst, char *why,
		    size_t whylen)
{
	const ProtobufCEnumValue *ev;
	int64_t i;

	if (json_object_is_type(v, json_type_string)) {
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_object_get_string(v));
		if (!ev)
			return FAIL("'%s' is not a %s", json_object_get_string(v), ed->name);
		*dst = ev->value;
		return 0;
	}
	if (get_i64(v, &i, why, whylen) < 0)
		return -1;
	if (i < INT32_MIN || i > INT32_MAX)
		return FAIL("enum value out of range");
	*dst = (int)i;
	return 0;
}

static int set_one(const ProtobufCFieldDescriptor *f, void *dst, json_object *v, char *why,
		   size_t whylen)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return set_int32(v, dst, why, whylen);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return set_uint32(v, dst, why, whylen);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return get_i64(v, (int64_t *)dst, why, whylen);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return get_u64(v, (uint64_t *)dst, why, whylen);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return FAIL("expected a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)dst = (float)json_object_get_double(v);
		else
			*(double *)dst = json_object_get_double(v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return FAIL("expected true or false");
		*(protobuf_c_boolean *)dst = json_object_get_boolean(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return set_enum(f->descriptor, v, dst, why, whylen);
	case PROTOBUF_C_TYPE_STRING:
		if (!json_object_is_type(v, json_type_string))
			return FAIL("expected a string");
		*(char **)dst = strdup(json_object_get_string(v));
		return *(char **)dst ? 0 : FAIL("out of memory");
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_object_is_type(v, json_type_string))
			return FAIL("expected base64 text");
		if (b64_decode(json_object_get_string(v), dst) < 0)
			return FAIL("bad base64");
		return 0;
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *m = pbjson_to_message(f->descriptor, v, why, whylen);

		*(ProtobufCMessage **)dst = m;
		return m ? 0 : -1;
	}
	}
	return FAIL("unsupported field type");
}

/* A map field from a JSON object: one XxxEntry per member. */
static json_object *map_to_array(const ProtobufCMessageDescriptor *ed, json_object *obj)
{
	json_object *arr = json_object_new_array();

	json_object_object_foreach(obj, k, val)
	{
		json_object *e = json_object_new_object();

		json_object_object_add(e, "key", json_object_new_string(k));
		json_object_object_add(e, "value", json_object_get(val));
		json_object_array_add(arr, e);
	}
	(void)ed;
	return arr;
}

static int set_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_object *v,
		     char *why, size_t whylen)
{
	uint8_t *base = (uint8_t *)msg;
	char w[200];

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		json_object *arr = v, *owned = NULL;
		size_t n, sz = elem_size(f->type);
		uint8_t *elems;

		if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor) &&
		    json_object_is_type(v, json_type_object))
			arr = owned = map_to_array(f->descriptor, v);
		if (!json_object_is_type(arr, json_type_array))
			return FAIL("%s: expected an array", f->name);
		n = json_object_array_length(arr);
		elems = calloc(n ? n : 1, sz);
		if (!elems) {
			json_object_put(owned);
			return FAIL("out of memory");
		}
		/* Owned by the message from here, so that a failure half-way is freed with it. */
		*(void **)(base + f->offset) = elems;
		for (size_t i = 0; i < n; i++) {
			if (set_one(f, elems + i * sz, json_object_array_get_idx(arr, i), w,
				    sizeof(w)) < 0) {
				json_object_put(owned);
				return FAIL("%s[%zu]: %s", f->name, i, w);
			}
			*(size_t *)(base + f->quantifier_offset) = i + 1;
		}
		json_object_put(owned);
		return 0;
	}
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		/* Replace the default (a static empty string or NULL) only once the value is good. */
		void *val = NULL;

		if (set_one(f, &val, v, w, sizeof(w)) < 0)
			return FAIL("%s: %s", f->name, w);
		*(void **)(base + f->offset) = val;
	} else if (set_one(f, base + f->offset, v, w, sizeof(w)) < 0) {
		return FAIL("%s: %s", f->name, w);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	return 0;
}

ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, json_object *obj,
				    char *why, size_t whylen)
{
	ProtobufCMessage *msg;

	if (!json_object_is_type(obj, json_type_object)) {
		(void)snprintf(why, whylen, "%s: expected a JSON object", desc->name);
		return NULL;
	}
	msg = calloc(1, desc->sizeof_message);
	if (!msg) {
		(void)snprintf(why, whylen, "out of memory");
		return NULL;
	}
	desc->message_init(msg);
	json_object_object_foreach(obj, key, val)
	{
		const ProtobufCFieldDescriptor *f = find_field(desc, key);

		if (!f) {
			(void)snprintf(why, whylen, "%s has no field '%s'", desc->name, key);
			goto fail;
		}
		if (json_object_is_type(val, json_type_null))
			continue;
		if (set_field(msg, f, val, why, whylen) < 0)
			goto fail;
	}
	return msg;
fail:
	protobuf_c_message_free_unpacked(msg, NULL);
	return NULL;
}

/* --- message -> JSON --------------------------------------------------------------------------- */

static json_object *one_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_int64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_object_new_int64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_object_new_uint64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_object_new_double(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_object_new_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);

		return ev ? json_object_new_string(ev->name) : json_object_new_int(*(const int *)p);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return json_object_new_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char *s = b64_encode(b->data, b->len);
		json_object *o = json_object_new_string(s ? s : "");

		free(s);
		return o;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;

		return m ? pbjson_from_message(m) : json_object_new_object();
	}
	}
	return NULL;
}

static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p == NULL;
	default: {
		static const uint8_t zero[8];

		return !memcmp(p, zero, elem_size(f->type));
	}
	}
}

json_object *pbjson_from_message(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const uint8_t *base = (const uint8_t *)msg;
	json_object *obj = json_object_new_object();

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;
		char jn[128];
		json_object *v;

		json_name(f->name, jn, sizeof(jn));
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const uint8_t *elems = *(const uint8_t *const *)p;
			bool map = f->type == PROTOBUF_C_TYPE_MESSAGE &&
				   is_map_entry(f->descriptor);

			if (n == 0)
				continue;
			v = map ? json_object_new_object() : json_object_new_array();
			for (size_t k = 0; k < n; k++) {
				const void *e = elems + k * elem_size(f->type);

				if (map) {
					const ProtobufCMessage *em = *(ProtobufCMessage *const *)e;
					const ProtobufCMessageDescriptor *ed = f->descriptor;
					const char *key = *(char *const *)((const uint8_t *)em +
									   ed->fields[0].offset);

					json_object_object_add(
						v, key ? key : "",
						one_to_json(&ed->fields[1],
							    (const uint8_t *)em +
								    ed->fields[1].offset));
				} else {
					json_object_array_add(v, one_to_json(f, e));
				}
			}
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
					continue;
			} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
				   f->type != PROTOBUF_C_TYPE_STRING &&
				   f->type != PROTOBUF_C_TYPE_MESSAGE) {
				if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
					continue;
			} else if (is_default(f, p)) {
				continue;
			}
			v = one_to_json(f, p);
		}
		json_object_object_add(obj, jn, v);
	}
	return obj;
}
