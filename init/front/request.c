/* One request frame into what PID 1 gets (see request.h). */
#define _GNU_SOURCE
#include "front/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "lib/log.h"
#include "ttrpc.pb-c.h"

/* Every block carries its size, so that the budget can be given back and the encoder can learn
 * a string's length on the wire (protobuf-c allocates each string exactly that plus its NUL). */
struct blk {
	size_t size;
	size_t pad; /* keeps what follows 16-byte aligned */
};

static void *fa_alloc(void *data, size_t size)
{
	struct fe_alloc *b = data;
	struct blk *h;

	if (size > b->max - sizeof(*h) || b->used > b->max - sizeof(*h) - size) {
		b->over = true;
		return NULL;
	}
	h = malloc(sizeof(*h) + size);
	if (!h) {
		b->over = true;
		return NULL;
	}
	h->size = size;
	b->used += sizeof(*h) + size;
	if (b->used > b->peak)
		b->peak = b->used;
	return h + 1;
}

static void fa_free(void *data, void *p)
{
	struct fe_alloc *b = data;
	struct blk *h;

	if (!p)
		return;
	h = (struct blk *)p - 1;
	b->used -= sizeof(*h) + h->size;
	free(h);
}

void fe_alloc_init(struct fe_alloc *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->a.alloc = fa_alloc;
	b->a.free = fa_free;
	b->a.allocator_data = b;
	b->max = max;
}

/* The wire length of a string protobuf-c decoded with our allocator: every string it did not
 * allocate is the field's default (the shared empty string). */
static size_t wire_len(const ProtobufCFieldDescriptor *f, const char *s, void *arg)
{
	(void)arg;
	if (s == protobuf_c_empty_string || s == f->default_value)
		return SIZE_MAX;
	return ((const struct blk *)(const void *)s - 1)->size - 1;
}

static const struct tt_method *lookup(const struct tt_server *server, const Ttrpc__Request *env,
				      uint32_t *id, struct sp_err *err)
{
	char name[80];

	for (size_t i = 0; i < server->nservices; i++) {
		const struct tt_service *s = server->services[i];

		if (strcmp(s->name, env->service) != 0)
			continue;
		for (size_t j = 0; j < s->nmethods; j++) {
			if (strcmp(s->methods[j].name, env->method) == 0) {
				*id = TT_METHOD_ID(i, j);
				return &s->methods[j];
			}
		}
		/* Echoed to the peer and maybe logged: printable ASCII only (proto3 strings must be
		 * UTF-8 for the Go client). */
		sp_log_escape(name, sizeof(name), env->method, strlen(env->method));
		sp_fail(err, SP_E_UNSUPPORTED, 0, "method %s", name);
		return NULL;
	}
	sp_log_escape(name, sizeof(name), env->service, strlen(env->service));
	sp_fail(err, SP_E_UNSUPPORTED, 0, "service %s", name);
	return NULL;
}

static int unpack_payload(struct fe_request *r, Ttrpc__Request *env, struct sp_err *err)
{
	const char *what = r->m->request->short_name;

	r->decoded = protobuf_c_message_unpack(r->m->request, &r->alloc.a, env->payload.len,
					       env->payload.data);
	/* The payload's copy is not needed any more: give its budget back now. */
	fa_free(&r->alloc, env->payload.data);
	env->payload.data = NULL;
	env->payload.len = 0;
	if (!r->decoded)
		return r->alloc.over
			       ? sp_fail(err, SP_E_EXHAUSTED, 0, "%s: more than %zu MiB to decode",
					 what, FE_DECODE_MAX >> 20)
			       : sp_fail(err, SP_E_INVALID, 0, "bad %s payload", what);
	/* The host's strings are checked (no NUL, UTF-8) even where PID 1 gets something else. */
	if (sp_form_measure(r->decoded, SP_FORM_MAX_LEN, wire_len, NULL, &r->form_len, err) < 0)
		return sp_error_wrap(err, "bad %s payload", what);
	r->msg = r->decoded;
	if (!r->m->convert)
		return 0;
	if (r->m->convert(r->decoded, &r->alloc.a, &r->msg, err) < 0) {
		r->msg = NULL;
		return -1;
	}
	if (sp_form_measure(r->msg, SP_FORM_MAX_LEN, wire_len, NULL, &r->form_len, err) < 0)
		return sp_error_wrap(err, "%s", what);
	return 0;
}

int fe_request_decode(const struct tt_server *server, const uint8_t *data, size_t len,
		      struct fe_request *r, struct sp_err *err)
{
	Ttrpc__Request *env;

	memset(r, 0, sizeof(*r));
	fe_alloc_init(&r->alloc, FE_DECODE_MAX);
	env = ttrpc__request__unpack(&r->alloc.a, len, data);
	if (!env)
		return r->alloc.over ? sp_fail(err, SP_E_EXHAUSTED, 0,
					       "request envelope: more than %zu MiB to decode",
					       FE_DECODE_MAX >> 20)
				     : sp_fail(err, SP_E_INVALID, 0, "invalid request envelope");
	r->envelope = env;
	r->timeout_nano = env->timeout_nano;
	r->m = lookup(server, env, &r->method, err);
	if (!r->m)
		return -1;
	return unpack_payload(r, env, err);
}

void fe_request_release(struct fe_request *r)
{
	if (r->msg && r->msg != r->decoded)
		protobuf_c_message_free_unpacked(r->msg, &r->alloc.a);
	if (r->decoded)
		protobuf_c_message_free_unpacked(r->decoded, &r->alloc.a);
	if (r->envelope)
		ttrpc__request__free_unpacked(r->envelope, &r->alloc.a);
	r->msg = r->decoded = r->envelope = NULL;
}
