#define _GNU_SOURCE
#include "agent/ttrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/be.h"
#include "lib/log.h"
#include "ttrpc.pb-c.h"

#define BODY_INITIAL_CAP (64u << 10)

void tt_conn_init(struct tt_conn *conn, const struct tt_server *server)
{
	memset(conn, 0, sizeof(*conn));
	conn->server = server;
	conn->rx = TT_RX_HEADER;
}

size_t tt_conn_pending(const struct tt_conn *conn)
{
	return conn->out_len - conn->out_off;
}

const uint8_t *tt_conn_output(const struct tt_conn *conn, size_t *len)
{
	*len = tt_conn_pending(conn);
	return conn->out ? conn->out + conn->out_off : NULL;
}

void tt_conn_consume(struct tt_conn *conn, size_t n)
{
	if (n > tt_conn_pending(conn))
		n = tt_conn_pending(conn);
	conn->out_off += n;
	if (conn->out_off == conn->out_len) {
		conn->out_off = conn->out_len = 0;
		/* Give back a buffer a large reply grew, so an idle connection holds little. */
		if (conn->out_cap > BODY_INITIAL_CAP) {
			free(conn->out);
			conn->out = NULL;
			conn->out_cap = 0;
		}
	}
}

/* Makes room for `more` bytes at the end of buf[0..*len). */
static int reserve(uint8_t **buf, size_t *len, size_t *cap, size_t more)
{
	size_t need = *len + more, ncap;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 256;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*buf, ncap);
	if (!p)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

int tt_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream, uint8_t type,
		    uint8_t flags, const uint8_t *data, size_t dlen)
{
	if (dlen > UINT32_MAX || reserve(buf, len, cap, TT_HDR_LEN + dlen) < 0)
		return -1;
	sp_put_be32(*buf + *len, (uint32_t)dlen);
	sp_put_be32(*buf + *len + 4, stream);
	(*buf)[*len + 8] = type;
	(*buf)[*len + 9] = flags;
	if (dlen)
		memcpy(*buf + *len + TT_HDR_LEN, data, dlen);
	*len += TT_HDR_LEN + dlen;
	return 0;
}

/* Queues a Response frame packed straight into the output buffer. */
static void queue_response(struct tt_conn *conn, uint32_t stream, const Ttrpc__Response *resp)
{
	size_t size = ttrpc__response__get_packed_size(resp);

	if (conn->broken)
		return;
	if (tt_conn_pending(conn) + TT_HDR_LEN + size > TT_OUT_HARD_MAX) {
		conn->broken = true;
		return;
	}
	if (conn->out_off > 0 && conn->out_off == conn->out_len)
		conn->out_off = conn->out_len = 0;
	if (reserve(&conn->out, &conn->out_len, &conn->out_cap, TT_HDR_LEN + size) < 0) {
		conn->broken = true;
		return;
	}
	sp_put_be32(conn->out + conn->out_len, (uint32_t)size);
	sp_put_be32(conn->out + conn->out_len + 4, stream);
	conn->out[conn->out_len + 8] = TT_TYPE_RESPONSE;
	conn->out[conn->out_len + 9] = 0;
	ttrpc__response__pack(resp, conn->out + conn->out_len + TT_HDR_LEN);
	conn->out_len += TT_HDR_LEN + size;
	conn->replies_out++;
}

static void queue_status(struct tt_conn *conn, uint32_t stream, enum tt_code code,
			 const char *message)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;

	status.code = (int32_t)code;
	status.message = (char *)message;
	resp.status = &status;
	queue_response(conn, stream, &resp);
}

static void protocol_error(struct tt_conn *conn, uint32_t stream, enum tt_code code,
			   const char *message)
{
	conn->protocol_errors++;
	sp_debug("ttrpc", "stream %u: %s", stream, message);
	queue_status(conn, stream, code, message);
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

static void finish(struct tt_call *call, const Ttrpc__Response *resp)
{
	struct tt_conn *conn = call->conn;
	bool later = conn->dispatching != call;

	unlink_call(call);
	queue_response(conn, call->stream, resp);
	free(call);
	if (later && conn->on_output)
		conn->on_output(conn);
}

int tt_call_reply(struct tt_call *call, const ProtobufCMessage *msg)
{
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	size_t size = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	uint8_t *buf = NULL;

	/* The reply must fit a frame together with its envelope (tag + length: 6 bytes). */
	if (size > TT_MAX_DATA - 16)
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "reply of %zu bytes too large",
				     size);
	if (size > 0) {
		buf = malloc(size);
		if (!buf)
			return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "out of memory");
		protobuf_c_message_pack(msg, buf);
		resp.payload.data = buf;
		resp.payload.len = size;
	}
	finish(call, &resp);
	free(buf);
	return TT_DONE;
}

int tt_call_error(struct tt_call *call, enum tt_code code, const char *fmt, ...)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	status.code = (int32_t)code;
	status.message = message;
	resp.status = &status;
	finish(call, &resp);
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

static const struct tt_method *lookup(const struct tt_server *server, const char *service,
				      const char *method, bool *service_found)
{
	*service_found = false;
	for (size_t i = 0; server && i < server->nservices; i++) {
		const struct tt_service *s = server->services[i];

		if (strcmp(s->name, service) != 0)
			continue;
		*service_found = true;
		for (size_t j = 0; j < s->nmethods; j++)
			if (strcmp(s->methods[j].name, method) == 0)
				return &s->methods[j];
		return NULL;
	}
	return NULL;
}

static void dispatch(struct tt_conn *conn, uint32_t stream, const uint8_t *data, size_t len)
{
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, data);
	const struct tt_method *m;
	struct tt_call *call;
	bool service_found;
	char name[80];
	int r;

	if (!req) {
		protocol_error(conn, stream, TT_INVALID_ARGUMENT, "invalid request envelope");
		return;
	}
	m = lookup(conn->server, req->service, req->method, &service_found);
	if (!m) {
		char msg[100];
		const char *what = service_found ? req->method : req->service;

		/* Echoed to the peer and maybe logged: printable ASCII only (proto3 strings must be
		 * UTF-8 for the Go client). */
		sp_log_escape(name, sizeof(name), what, strlen(what));
		(void)snprintf(msg, sizeof(msg), "%s %s", service_found ? "method" : "service",
			       name);
		protocol_error(conn, stream, TT_UNIMPLEMENTED, msg);
		goto out;
	}
	call = calloc(1, sizeof(*call));
	if (!call) {
		protocol_error(conn, stream, TT_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	call->conn = conn;
	call->stream = stream;
	call->timeout_nano = req->timeout_nano;
	call->method = m;
	conn->dispatching = call;
	r = m->fn(call, req->payload.data, req->payload.len);
	if (conn->dispatching == call) {
		conn->dispatching = NULL;
		if (r != TT_PARKED || !call->parked) {
			/* A handler bug; answer rather than leak the call or hang the client. */
			sp_warn("ttrpc", "%s did not answer stream %u", m->name, stream);
			tt_call_error(call, TT_INTERNAL, "internal error");
		} else if (conn->nparked > TT_MAX_PARKED) {
			/* The cap binds only calls that wait, so that Check and SignalProcess (the
			 * way to release the parked calls) are still answered at the cap. */
			if (call->cancel)
				call->cancel(call);
			tt_call_error(call, TT_RESOURCE_EXHAUSTED, "too many calls in flight");
		}
	}
out:
	ttrpc__request__free_unpacked(req, NULL);
}

/* ---- frame state machine -------------------------------------------------------------------- */

static void on_header(struct tt_conn *conn)
{
	conn->len = sp_get_be32(conn->hdr);
	conn->stream = sp_get_be32(conn->hdr + 4);
	conn->type = conn->hdr[8];
	conn->flags = conn->hdr[9];
	conn->hdr_have = 0;
	conn->frames_in++;

	conn->rx = TT_RX_SKIP;
	conn->skip = conn->len;
	if (conn->len > TT_MAX_DATA) {
		char msg[96];

		/* Discard the body as it arrives, never buffer it; the connection stays usable. */
		if (conn->type == TT_TYPE_REQUEST && (conn->stream & 1) &&
		    conn->stream > conn->last_stream)
			conn->last_stream = conn->stream;
		(void)snprintf(msg, sizeof(msg),
			       "message length %u exceeds maximum message size of %u", conn->len,
			       TT_MAX_DATA);
		protocol_error(conn, conn->stream, TT_RESOURCE_EXHAUSTED, msg);
	} else if (conn->type == TT_TYPE_DATA) {
		/* No Kata RPC streams; a data frame can only be for a stream we do not know. */
		protocol_error(conn, conn->stream, TT_INVALID_ARGUMENT,
			       "data frame on unknown stream");
	} else if (conn->type != TT_TYPE_REQUEST) {
		/* A response or an unknown type: nothing sane to answer; drop it. */
		conn->protocol_errors++;
		sp_debug("ttrpc", "stream %u: dropped frame of type %u", conn->stream, conn->type);
	} else if (!(conn->stream & 1)) {
		protocol_error(conn, conn->stream, TT_INVALID_ARGUMENT,
			       "StreamID must be odd for client initiated streams");
	} else if (conn->stream <= conn->last_stream) {
		protocol_error(conn, conn->stream, TT_INVALID_ARGUMENT,
			       "StreamID must be greater than the last one");
	} else {
		conn->last_stream = conn->stream;
		conn->rx = TT_RX_BODY;
		conn->skip = 0;
		conn->body_have = 0;
	}
	if (conn->rx == TT_RX_SKIP && conn->skip == 0)
		conn->rx = TT_RX_HEADER;
	if (conn->rx == TT_RX_BODY && conn->len == 0) {
		conn->rx = TT_RX_HEADER;
		dispatch(conn, conn->stream, NULL, 0);
	}
}

/* Grows the body buffer only as bytes arrive: a peer that announces 4 MiB and sends 10 bytes
 * costs us 64 KiB, not 4 MiB. */
static int body_room(struct tt_conn *conn, size_t want)
{
	size_t need = conn->body_have + want, ncap;
	uint8_t *p;

	if (need <= conn->body_cap)
		return 0;
	ncap = conn->body_cap ? conn->body_cap : BODY_INITIAL_CAP;
	while (ncap < need)
		ncap *= 2;
	if (ncap > conn->len)
		ncap = conn->len;
	p = realloc(conn->body, ncap);
	if (!p)
		return -1;
	conn->body = p;
	conn->body_cap = ncap;
	return 0;
}

static void release_body(struct tt_conn *conn)
{
	if (conn->body_cap > BODY_INITIAL_CAP) {
		free(conn->body);
		conn->body = NULL;
		conn->body_cap = 0;
	}
	conn->body_have = 0;
}

void tt_conn_feed(struct tt_conn *conn, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t n;

		switch (conn->rx) {
		case TT_RX_HEADER:
			n = TT_HDR_LEN - conn->hdr_have;
			if (n > len)
				n = len;
			memcpy(conn->hdr + conn->hdr_have, data, n);
			conn->hdr_have += n;
			if (conn->hdr_have == TT_HDR_LEN)
				on_header(conn);
			break;
		case TT_RX_SKIP:
			n = conn->skip < len ? conn->skip : len;
			conn->skip -= (uint32_t)n;
			if (conn->skip == 0)
				conn->rx = TT_RX_HEADER;
			break;
		case TT_RX_BODY:
		default:
			n = conn->len - conn->body_have;
			if (n > len)
				n = len;
			if (body_room(conn, n) < 0) {
				protocol_error(conn, conn->stream, TT_RESOURCE_EXHAUSTED,
					       "out of memory");
				conn->skip = conn->len - (uint32_t)conn->body_have;
				conn->rx = TT_RX_SKIP;
				release_body(conn);
				n = 0;
				break;
			}
			memcpy(conn->body + conn->body_have, data, n);
			conn->body_have += n;
			if (conn->body_have == conn->len) {
				conn->rx = TT_RX_HEADER;
				dispatch(conn, conn->stream, conn->body, conn->body_have);
				release_body(conn);
			}
			break;
		}
		data += n;
		len -= n;
	}
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
	free(conn->body);
	free(conn->out);
	conn->body = conn->out = NULL;
	conn->body_cap = conn->out_cap = 0;
	conn->body_have = conn->out_len = conn->out_off = 0;
}
