/* In the front-end: the ttRPC side of one host connection, without sockets. Bytes go in with
 * fe_conn_feed(); each complete request goes to the sink as (stream, method, internal form),
 * errors of framing and decoding are answered here; PID 1's answers come in with
 * fe_conn_respond() and leave, framed, through fe_conn_output(). The front-end's socket layer
 * (front.c), the unit tests and the fuzzers all drive the same state machine.
 *
 * Memory is bounded per connection (a body buffer that grows only as bytes arrive, up to one
 * frame; pending output up to FE_OUT_HARD_MAX, then the connection is broken) and, through
 * struct fe_totals, across connections: the socket layer sees the totals and closes whoever
 * holds the most. */
#ifndef SEALPOD_FRONT_CONN_H
#define SEALPOD_FRONT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/ttrpc.h"

#define FE_OUT_SOFT_MAX ((size_t)1 << 20) /* stop reading a peer whose replies pile up */
/* A peer that lets more pile up is disconnected: the soft limit, plus the largest reply that
 * can still arrive for a call it had sent before reading stopped, plus slack. */
#define FE_OUT_HARD_MAX ((size_t)TT_MAX_DATA + ((size_t)2 << 20))

/* Bodies being received, all connections together: past it a frame is refused as it arrives
 * (RESOURCE_EXHAUSTED, the rest discarded), so a host that starts many large frames and finishes
 * none costs the front-end this much at most. */
#define FE_IN_TOTAL_MAX ((size_t)32 << 20)

enum fe_rx_state { FE_RX_HEADER, FE_RX_BODY, FE_RX_SKIP };

/* Buffer memory of all connections together (allocated capacity, not bytes pending). */
struct fe_totals {
	size_t in, out;
};

struct fe_conn;

/* Where requests go: begin returns room for a form of size bytes (NULL: the call is answered
 * RESOURCE_EXHAUSTED here), end says it is written. */
struct fe_sink {
	uint8_t *(*begin)(struct fe_conn *c, uint32_t stream, uint32_t method, int64_t timeout_nano,
			  size_t size);
	void (*end)(struct fe_conn *c);
};

struct fe_conn {
	const struct tt_server *server;
	const struct fe_sink *sink;
	struct fe_totals *totals; /* may be NULL */
	void *owner;
	uint32_t id;
	/* receive side */
	enum fe_rx_state rx;
	uint8_t hdr[TT_HDR_LEN];
	size_t hdr_have;
	uint32_t len, stream;
	uint8_t type, flags;
	uint8_t *body;
	size_t body_have, body_cap;
	uint32_t skip;	      /* body bytes still to discard */
	uint32_t last_stream; /* highest client stream id accepted */
	/* the socket layer's clock (ms), set before each feed: when the frame now arriving began */
	int64_t now_ms, frame_start_ms;
	/* send side: out[out_off..out_len) is pending */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool broken; /* output over FE_OUT_HARD_MAX or out of memory: the owner should close */
	/* counters, for logs and tests */
	unsigned long frames_in, requests_out, replies_out, protocol_errors;
};

void fe_conn_init(struct fe_conn *c, const struct tt_server *server, const struct fe_sink *sink,
		  struct fe_totals *totals, uint32_t id);
/* Consumes all of data[0..len), in any chunking. */
void fe_conn_feed(struct fe_conn *c, const uint8_t *data, size_t len);
/* True while a frame is arriving (part of its header or body is here). */
bool fe_conn_partial(const struct fe_conn *c);
/* PID 1's answer on stream: code TT_OK with payload, else code and message. */
void fe_conn_respond(struct fe_conn *c, uint32_t stream, uint32_t code, const char *message,
		     const uint8_t *payload, size_t len);
size_t fe_conn_pending(const struct fe_conn *c);
const uint8_t *fe_conn_output(const struct fe_conn *c, size_t *len);
void fe_conn_consume(struct fe_conn *c, size_t n);
/* Frees the buffers. c may be re-initialised after. */
void fe_conn_destroy(struct fe_conn *c);

#endif
