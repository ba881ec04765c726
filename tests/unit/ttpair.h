/* For tests and fuzzers: one host connection through both halves of the control port in one
 * process, with no sockets and no process boundary: the front-end's framing and decoding
 * (init/front/conn.c) hands each request's internal form straight to PID 1's dispatch
 * (init/agent/ttrpc.c), whose answers go straight back to the front-end's framing. The bytes in
 * and out are exactly what a host would send and read. */
#ifndef SEALPOD_TESTS_TTPAIR_H
#define SEALPOD_TESTS_TTPAIR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ttrpc.h"
#include "front/conn.h"

struct ttpair {
	struct fe_conn fe;
	struct tt_conn p1;
	struct fe_totals totals;
	uint8_t *form;
	size_t form_cap, form_len;
	uint32_t stream, method;
	int64_t timeout_nano;
	/* answers that reached the front-end from outside a feed (a parked call answered later) */
	unsigned long late_replies;
	int feeding;
};

static inline struct ttpair *ttpair_of_fe(struct fe_conn *c)
{
	return c->owner;
}

static inline uint8_t *ttpair_begin(struct fe_conn *c, uint32_t stream, uint32_t method,
				    int64_t timeout_nano, size_t size)
{
	struct ttpair *t = ttpair_of_fe(c);

	if (size + 1 > t->form_cap) {
		uint8_t *p = realloc(t->form, size + 1);

		if (!p)
			return NULL;
		t->form = p;
		t->form_cap = size + 1;
	}
	t->stream = stream;
	t->method = method;
	t->timeout_nano = timeout_nano;
	t->form_len = size;
	return t->form;
}

static inline void ttpair_end(struct fe_conn *c)
{
	struct ttpair *t = ttpair_of_fe(c);

	tt_conn_dispatch(&t->p1, t->stream, t->method, t->timeout_nano, t->form, t->form_len);
}

static inline int ttpair_reply(struct tt_conn *conn, uint32_t stream, enum tt_code code,
			       const char *message, const ProtobufCMessage *msg)
{
	struct ttpair *t = conn->owner;
	size_t n = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return -1;
	if (msg)
		protobuf_c_message_pack(msg, buf);
	fe_conn_respond(&t->fe, stream, code, message, buf, n);
	free(buf);
	if (!t->feeding)
		t->late_replies++;
	return 0;
}

static const struct fe_sink ttpair_fe_sink = { ttpair_begin, ttpair_end };
static const struct tt_sink ttpair_p1_sink = { ttpair_reply };

static inline void ttpair_init(struct ttpair *t, const struct tt_server *server)
{
	memset(t, 0, sizeof(*t));
	fe_conn_init(&t->fe, server, &ttpair_fe_sink, &t->totals, 1);
	t->fe.owner = t;
	tt_conn_init(&t->p1, server, &ttpair_p1_sink, 1);
	t->p1.owner = t;
}

static inline void ttpair_feed(struct ttpair *t, const uint8_t *data, size_t len)
{
	t->feeding++;
	fe_conn_feed(&t->fe, data, len);
	t->feeding--;
}

static inline const uint8_t *ttpair_output(const struct ttpair *t, size_t *len)
{
	return fe_conn_output(&t->fe, len);
}

static inline void ttpair_consume(struct ttpair *t, size_t n)
{
	fe_conn_consume(&t->fe, n);
}

static inline void ttpair_destroy(struct ttpair *t)
{
	tt_conn_destroy(&t->p1);
	fe_conn_destroy(&t->fe);
	free(t->form);
	t->form = NULL;
	t->form_cap = 0;
}

#endif
