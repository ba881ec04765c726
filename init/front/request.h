/* In the front-end: one ttRPC request frame of the host's turned into what PID 1 gets (the
 * method's number and the request, re-encoded in the internal form of agent/form.h).
 *
 * Decoding is bounded before allocation: every allocation protobuf-c makes for the envelope
 * and the request (its scan of the fields included) comes from a budget of FE_DECODE_MAX bytes,
 * so a frame of two million empty repeated entries stops at the budget instead of costing
 * hundreds of MiB. */
#ifndef SEALPOD_FRONT_REQUEST_H
#define SEALPOD_FRONT_REQUEST_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/ttrpc.h"
#include "lib/err.h"

#define FE_DECODE_MAX ((size_t)16 << 20) /* bytes protobuf-c may allocate for one frame */

/* A protobuf-c allocator that refuses to go past max bytes in all. */
struct fe_alloc {
	ProtobufCAllocator a;
	size_t used, max, peak;
	bool over; /* an allocation was refused: the input was too large, not malformed */
};
void fe_alloc_init(struct fe_alloc *b, size_t max);

struct fe_request {
	uint32_t method; /* TT_METHOD_ID */
	int64_t timeout_nano;
	const struct tt_method *m;
	ProtobufCMessage *msg; /* what PID 1 gets, of tt_method_form(m) */
	size_t form_len;       /* its internal form's length */
	/* owned: */
	struct fe_alloc alloc;
	void *envelope, *decoded;
};

/* data[0..len): the data of a request frame. 0 with r filled (release it), or -1 with err: its
 * kind says which status the host gets (tt_code_for) and err->msg the message. */
int fe_request_decode(const struct tt_server *server, const uint8_t *data, size_t len,
		      struct fe_request *r, struct sp_err *err);
void fe_request_release(struct fe_request *r);

#endif
