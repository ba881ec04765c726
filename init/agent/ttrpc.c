/* ttRPC calls in PID 1 (see ttrpc.h): a request from the front-end in, its handler run, its
 * answer out through the connection's sink. */
#define _GNU_SOURCE
#include "agent/ttrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "lib/be.h"
#include "lib/log.h"

const struct tt_method *tt_server_method(const struct tt_server *server, uint32_t id)
{
	uint32_t s = id >> 16, m = id & 0xffff;

	if (!server || s >= server->nservices || m >= server->services[s]->nmethods)
		return NULL;
	return &server->services[s]->methods[m];
}

const ProtobufCMessageDescriptor *tt_method_form(const struct tt_method *m)
{
	return m->form ? m->form : m->request;
}

void tt_conn_init(struct tt_conn *conn, const struct tt_server *server, const struct tt_sink *sink,
		  uint32_t id)
{
	memset(conn, 0, sizeof(*conn));
	conn->server = server;
	conn->sink = sink;
	conn->id = id;
}

int tt_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream, uint8_t type,
		    uint8_t flags, const uint8_t *data, size_t dlen)
{
	size_t need = *len + TT_HDR_LEN + dlen, ncap;

	if (dlen > UINT32_MAX)
		return -1;
	if (need > *cap) {
		uint8_t *p;

		for (ncap = *cap ? *cap : 256; ncap < need; ncap *= 2)
			;
		p = realloc(*buf, ncap);
		if (!p)
			return -1;
		*buf = p;
		*cap = ncap;
	}
	sp_put_be32(*buf + *len, (uint32_t)dlen);
	sp_put_be32(*buf + *len + 4, stream);
	(*buf)[*len + 8] = type;
	(*buf)[*len + 9] = flags;
	if (dlen)
		memcpy(*buf + *len + TT_HDR_LEN, data, dlen);
	*len += TT_HDR_LEN + dlen;
	return 0;
}

/* ---- calls ---------------------------------------------------------------------------------- */

static void unlink_call(struct tt_call *call)
{
	struct tt_conn *conn = call->conn;

	if (call->parked) {
		if (call->prev)
			call->prev->next = call->next;
		else
			conn->parked = call->next;
		if (call->next)
			call->next->prev = call->prev;
		conn->nparked--;
		call->parked = false;
	}
	if (conn->dispatching == call)
		conn->dispatching = NULL;
}

static void finish(struct tt_call *call, enum tt_code code, const char *message,
		   const ProtobufCMessage *msg)
{
	struct tt_conn *conn = call->conn;

	unlink_call(call);
	if (conn->sink->reply(conn, call->stream, code, message, msg) == 0)
		conn->replies_out++;
	free(call);
}

int tt_call_reply(struct tt_call *call, const ProtobufCMessage *msg)
{
	size_t size = msg ? protobuf_c_message_get_packed_size(msg) : 0;

	/* The reply must fit a frame together with its envelope (tag + length: 6 bytes). */
	if (size > TT_MAX_DATA - 16)
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "reply of %zu bytes too large",
				     size);
	finish(call, TT_OK, NULL, msg);
	return TT_DONE;
}

int tt_call_error(struct tt_call *call, enum tt_code code, const char *fmt, ...)
{
	char message[TT_MAX_MESSAGE];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	finish(call, code == TT_OK ? TT_INTERNAL : code, message, NULL);
	return TT_DONE;
}

enum tt_code tt_code_for(const struct sp_err *err)
{
	static const enum tt_code codes[] = {
		[SP_E_INTERNAL] = TT_INTERNAL,
		[SP_E_INVALID] = TT_INVALID_ARGUMENT,
		[SP_E_DENIED] = TT_PERMISSION_DENIED,
		[SP_E_NOT_FOUND] = TT_NOT_FOUND,
		[SP_E_EXISTS] = TT_ALREADY_EXISTS,
		[SP_E_PRECONDITION] = TT_FAILED_PRECONDITION,
		[SP_E_EXHAUSTED] = TT_RESOURCE_EXHAUSTED,
		[SP_E_UNAVAILABLE] = TT_UNAVAILABLE,
		[SP_E_TIMEOUT] = TT_DEADLINE_EXCEEDED,
		[SP_E_UNSUPPORTED] = TT_UNIMPLEMENTED,
	};

	if (!err || err->kind >= sizeof(codes) / sizeof(codes[0]))
		return TT_INTERNAL;
	return codes[err->kind];
}

int tt_call_fail(struct tt_call *call, const struct sp_err *err)
{
	return tt_call_error(call, tt_code_for(err), "%s", err ? err->msg : "internal error");
}

int tt_call_failf(struct tt_call *call, enum sp_err_kind kind, const char *fmt, ...)
{
	struct sp_err err = { .kind = (uint8_t)kind };
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	return tt_call_fail(call, &err);
}

void tt_call_park(struct tt_call *call, void (*cancel)(struct tt_call *call), void *priv)
{
	struct tt_conn *conn = call->conn;

	call->cancel = cancel;
	call->priv = priv;
	if (call->parked)
		return;
	call->parked = true;
	call->prev = NULL;
	call->next = conn->parked;
	if (conn->parked)
		conn->parked->prev = call;
	conn->parked = call;
	conn->nparked++;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* A request the front-end should never have sent (no such method, a form PID 1 refuses): answered
 * like a bad payload, and counted. */
static void refuse(struct tt_conn *conn, uint32_t stream, const struct sp_err *err)
{
	char message[TT_MAX_MESSAGE];

	conn->bad_forms++;
	sp_log_escape(message, sizeof(message), err->msg, strlen(err->msg));
	sp_warn("ttrpc", "connection %u stream %u: %s", conn->id, stream, message);
	(void)conn->sink->reply(conn, stream, tt_code_for(err), message, NULL);
}

/* After the handler: it answered, parked, or (a bug) did neither. */
static void handled(struct tt_conn *conn, struct tt_call *call, int r)
{
	if (conn->dispatching != call)
		return;
	conn->dispatching = NULL;
	if (r != TT_PARKED || !call->parked) {
		/* A handler bug; answer rather than leak the call or hang the client. */
		sp_warn("ttrpc", "%s did not answer stream %u", call->method->name, call->stream);
		tt_call_error(call, TT_INTERNAL, "internal error");
	} else if (conn->nparked > TT_MAX_PARKED) {
		/* The cap binds only calls that wait, so that Check and SignalProcess (the way to
		 * release the parked calls) are still answered at the cap. */
		if (call->cancel)
			call->cancel(call);
		tt_call_error(call, TT_RESOURCE_EXHAUSTED, "too many calls in flight");
	}
}

void tt_conn_dispatch(struct tt_conn *conn, uint32_t stream, uint32_t method, int64_t timeout_nano,
		      const uint8_t *form, size_t len)
{
	const struct tt_method *m = tt_server_method(conn->server, method);
	ProtobufCMessage *req = NULL;
	struct tt_call *call;
	struct sp_err err = { 0 };

	conn->calls++;
	if (!m) {
		sp_fail(&err, SP_E_INVALID, 0, "no method numbered %#x", method);
		refuse(conn, stream, &err);
		return;
	}
	if (sp_form_decode(tt_method_form(m), form, len, &req, &err) < 0) {
		sp_error_wrap(&err, "bad %s payload", m->request->short_name);
		refuse(conn, stream, &err);
		return;
	}
	call = calloc(1, sizeof(*call));
	if (!call) {
		free(req);
		sp_fail(&err, SP_E_EXHAUSTED, 0, "out of memory");
		refuse(conn, stream, &err);
		return;
	}
	call->conn = conn;
	call->stream = stream;
	call->timeout_nano = timeout_nano;
	call->method = m;
	conn->dispatching = call;
	handled(conn, call, m->fn(call, req));
	free(req);
}

void tt_conn_destroy(struct tt_conn *conn)
{
	struct tt_call *call = conn->parked;

	/* Detach the whole list first, then walk it: each call is freed only after its successor
	 * was read, and the list head never points at a freed call. */
	conn->parked = NULL;
	conn->nparked = 0;
	while (call) {
		struct tt_call *next = call->next;

		call->parked = false;
		call->prev = call->next = NULL;
		if (conn->dispatching == call)
			conn->dispatching = NULL;
		if (call->cancel)
			call->cancel(call);
		free(call);
		call = next;
	}
}
