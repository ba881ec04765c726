/* The ttRPC side of one host connection in the front-end (see conn.h). */
#define _GNU_SOURCE
#include "front/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "front/request.h"
#include "lib/be.h"
#include "lib/log.h"
#include "ttrpc.pb-c.h"

#define BODY_INITIAL_CAP (64u << 10)

static void account(size_t *total, size_t old_cap, size_t new_cap)
{
	*total = *total - old_cap + new_cap;
}

void fe_conn_init(struct fe_conn *c, const struct tt_server *server, const struct fe_sink *sink,
		  struct fe_totals *totals, uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->server = server;
	c->sink = sink;
	c->totals = totals;
	c->id = id;
	c->rx = FE_RX_HEADER;
}

bool fe_conn_partial(const struct fe_conn *c)
{
	return c->rx != FE_RX_HEADER || c->hdr_have > 0;
}

size_t fe_conn_pending(const struct fe_conn *c)
{
	return c->out_len - c->out_off;
}

const uint8_t *fe_conn_output(const struct fe_conn *c, size_t *len)
{
	*len = fe_conn_pending(c);
	return c->out ? c->out + c->out_off : NULL;
}

static void set_out_cap(struct fe_conn *c, uint8_t *p, size_t cap)
{
	if (c->totals)
		account(&c->totals->out, c->out_cap, cap);
	c->out = p;
	c->out_cap = cap;
}

void fe_conn_consume(struct fe_conn *c, size_t n)
{
	if (n > fe_conn_pending(c))
		n = fe_conn_pending(c);
	c->out_off += n;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		/* Give back a buffer a large reply grew, so an idle connection holds little. */
		if (c->out_cap > BODY_INITIAL_CAP) {
			free(c->out);
			set_out_cap(c, NULL, 0);
		}
	}
}

/* Room for `more` bytes at the end of the output. */
static int out_room(struct fe_conn *c, size_t more)
{
	size_t need, ncap;
	uint8_t *p;

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	need = c->out_len + more;
	if (need <= c->out_cap)
		return 0;
	for (ncap = c->out_cap ? c->out_cap : 256; ncap < need; ncap *= 2)
		;
	p = realloc(c->out, ncap);
	if (!p)
		return -1;
	set_out_cap(c, p, ncap);
	return 0;
}

/* Queues a Response frame packed straight into the output buffer. */
static void queue_response(struct fe_conn *c, uint32_t stream, const Ttrpc__Response *resp)
{
	size_t size = ttrpc__response__get_packed_size(resp);

	if (c->broken)
		return;
	if (fe_conn_pending(c) + TT_HDR_LEN + size > FE_OUT_HARD_MAX ||
	    out_room(c, TT_HDR_LEN + size) < 0) {
		c->broken = true;
		return;
	}
	sp_put_be32(c->out + c->out_len, (uint32_t)size);
	sp_put_be32(c->out + c->out_len + 4, stream);
	c->out[c->out_len + 8] = TT_TYPE_RESPONSE;
	c->out[c->out_len + 9] = 0;
	ttrpc__response__pack(resp, c->out + c->out_len + TT_HDR_LEN);
	c->out_len += TT_HDR_LEN + size;
	c->replies_out++;
}

void fe_conn_respond(struct fe_conn *c, uint32_t stream, uint32_t code, const char *message,
		     const uint8_t *payload, size_t len)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;

	if (code == TT_OK) {
		resp.payload.data = (uint8_t *)payload;
		resp.payload.len = len;
	} else {
		status.code = (int32_t)code;
		status.message = (char *)(message ? message : "");
		resp.status = &status;
	}
	queue_response(c, stream, &resp);
}

static void protocol_error(struct fe_conn *c, uint32_t stream, enum tt_code code,
			   const char *message)
{
	c->protocol_errors++;
	sp_debug("ttrpc", "connection %u stream %u: %s", c->id, stream, message);
	fe_conn_respond(c, stream, code, message, NULL, 0);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void dispatch(struct fe_conn *c, uint32_t stream, const uint8_t *data, size_t len)
{
	struct fe_request r;
	struct sp_err err = { 0 };
	uint8_t *room;

	if (fe_request_decode(c->server, data, len, &r, &err) < 0) {
		protocol_error(c, stream, tt_code_for(&err), err.msg);
		fe_request_release(&r);
		return;
	}
	room = c->sink->begin(c, stream, r.method, r.timeout_nano, r.form_len);
	if (!room) {
		protocol_error(c, stream, TT_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		sp_form_write(r.msg, room);
		c->requests_out++;
		c->sink->end(c);
	}
	fe_request_release(&r);
}

/* ---- frame state machine -------------------------------------------------------------------- */

/* What a frame that is not a request to dispatch gets: an answer where the peer can use one. */
static void refuse_frame(struct fe_conn *c)
{
	char msg[96];

	if (c->len > TT_MAX_DATA) {
		/* Discard the body as it arrives, never buffer it; the connection stays usable. */
		if (c->type == TT_TYPE_REQUEST && (c->stream & 1) && c->stream > c->last_stream)
			c->last_stream = c->stream;
		(void)snprintf(msg, sizeof(msg),
			       "message length %u exceeds maximum message size of %u", c->len,
			       TT_MAX_DATA);
		protocol_error(c, c->stream, TT_RESOURCE_EXHAUSTED, msg);
	} else if (c->type == TT_TYPE_DATA) {
		/* No Kata RPC streams; a data frame can only be for a stream we do not know. */
		protocol_error(c, c->stream, TT_INVALID_ARGUMENT, "data frame on unknown stream");
	} else if (c->type != TT_TYPE_REQUEST) {
		/* A response or an unknown type: nothing sane to answer; drop it. */
		c->protocol_errors++;
		sp_debug("ttrpc", "stream %u: dropped frame of type %u", c->stream, c->type);
	} else if (!(c->stream & 1)) {
		protocol_error(c, c->stream, TT_INVALID_ARGUMENT,
			       "StreamID must be odd for client initiated streams");
	} else {
		protocol_error(c, c->stream, TT_INVALID_ARGUMENT,
			       "StreamID must be greater than the last one");
	}
}

static void on_header(struct fe_conn *c)
{
	c->len = sp_get_be32(c->hdr);
	c->stream = sp_get_be32(c->hdr + 4);
	c->type = c->hdr[8];
	c->flags = c->hdr[9];
	c->hdr_have = 0;
	c->frames_in++;
	if (c->len <= TT_MAX_DATA && c->type == TT_TYPE_REQUEST && (c->stream & 1) &&
	    c->stream > c->last_stream) {
		c->last_stream = c->stream;
		c->rx = FE_RX_BODY;
		c->skip = 0;
		c->body_have = 0;
		if (c->len == 0) {
			c->rx = FE_RX_HEADER;
			dispatch(c, c->stream, NULL, 0);
		}
		return;
	}
	refuse_frame(c);
	c->rx = c->len ? FE_RX_SKIP : FE_RX_HEADER;
	c->skip = c->len;
}

static void set_body(struct fe_conn *c, uint8_t *p, size_t cap)
{
	if (c->totals)
		account(&c->totals->in, c->body_cap, cap);
	c->body = p;
	c->body_cap = cap;
}

/* Grows the body buffer only as bytes arrive: a peer that announces 4 MiB and sends 10 bytes
 * costs us 64 KiB, not 4 MiB. */
static int body_room(struct fe_conn *c, size_t want)
{
	size_t need = c->body_have + want, ncap;
	uint8_t *p;

	if (need <= c->body_cap)
		return 0;
	ncap = c->body_cap ? c->body_cap : BODY_INITIAL_CAP;
	while (ncap < need)
		ncap *= 2;
	if (ncap > c->len)
		ncap = c->len;
	if (c->totals && c->totals->in - c->body_cap + ncap > FE_IN_TOTAL_MAX)
		return -1;
	p = realloc(c->body, ncap);
	if (!p)
		return -1;
	set_body(c, p, ncap);
	return 0;
}

static void release_body(struct fe_conn *c)
{
	if (c->body_cap > BODY_INITIAL_CAP) {
		free(c->body);
		set_body(c, NULL, 0);
	}
	c->body_have = 0;
}

static size_t feed_body(struct fe_conn *c, const uint8_t *data, size_t len)
{
	size_t n = c->len - c->body_have;

	if (n > len)
		n = len;
	if (body_room(c, n) < 0) {
		/* Out of memory, or over the bodies' total: this frame is refused and the rest of
		 * it discarded as it arrives; the connection stays usable. */
		protocol_error(c, c->stream, TT_RESOURCE_EXHAUSTED, "out of memory");
		c->skip = c->len - (uint32_t)c->body_have;
		c->rx = FE_RX_SKIP;
		release_body(c);
		return 0;
	}
	memcpy(c->body + c->body_have, data, n);
	c->body_have += n;
	if (c->body_have == c->len) {
		c->rx = FE_RX_HEADER;
		dispatch(c, c->stream, c->body, c->body_have);
		release_body(c);
	}
	return n;
}

void fe_conn_feed(struct fe_conn *c, const uint8_t *data, size_t len)
{
	while (len > 0 && !c->broken) {
		size_t n;

		switch (c->rx) {
		case FE_RX_HEADER:
			if (c->hdr_have == 0)
				c->frame_start_ms = c->now_ms;
			n = TT_HDR_LEN - c->hdr_have;
			if (n > len)
				n = len;
			memcpy(c->hdr + c->hdr_have, data, n);
			c->hdr_have += n;
			if (c->hdr_have == TT_HDR_LEN)
				on_header(c);
			break;
		case FE_RX_SKIP:
			n = c->skip < len ? c->skip : len;
			c->skip -= (uint32_t)n;
			if (c->skip == 0)
				c->rx = FE_RX_HEADER;
			break;
		case FE_RX_BODY:
		default:
			n = feed_body(c, data, len);
			break;
		}
		data += n;
		len -= n;
	}
}

void fe_conn_destroy(struct fe_conn *c)
{
	free(c->body);
	free(c->out);
	set_body(c, NULL, 0);
	set_out_cap(c, NULL, 0);
	c->body_have = c->out_len = c->out_off = 0;
}
