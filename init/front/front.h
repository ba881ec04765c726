/* The front-end: the process that reads the control port's bytes, so that PID 1 never decodes
 * one. PID 1 (agent/listen.c) accepts each connection, applies the peer rules and the
 * connection cap, and passes the connected socket here; the front-end frames and decodes the
 * host's ttRPC (front/conn.c, with bounds: front/request.c), hands PID 1 each request in the
 * internal form (agent/form.h) and frames PID 1's answers back to the host.
 *
 * It is a worker (lib/worker.h): /init exec'd in the "front" mode, confined by sp_front_confine:
 * no capability in any set, uid and gid 65534, an empty read-only root in mount, network, IPC
 * and UTS namespaces of its own, no_new_privs, undumpable, and a seccomp filter that allows its
 * socket and memory work only (no open, no exec, no executable memory, no new sockets). Taken
 * over, it is no stronger than the host: it can send PID 1 any frames, which PID 1 checks like
 * the host's requests.
 *
 * Between the two, on the worker's socket, frames {u32 type; u32 len} (lib/worker.h), each a
 * batch of what one side had ready at once, so that a busy port costs a few syscalls per batch
 * rather than per call:
 *   FE_REQUEST   front-end -> PID 1: requests, each struct fe_request_hdr then its internal form
 *   FE_CLOSED    front-end -> PID 1: u32 connection id (it is gone: cancel its calls)
 *   FE_REPLY     PID 1 -> front-end: answers, each struct fe_reply_hdr, the message, the payload
 * and on a second socket (SOCK_SEQPACKET, passed at the spawn), PID 1 -> front-end only: one
 * datagram per connection, a u32 id with the connected socket as SCM_RIGHTS. */
#ifndef SEALPOD_FRONT_FRONT_H
#define SEALPOD_FRONT_FRONT_H

#include <stdint.h>

#include "agent/form.h"
#include "agent/ttrpc.h"
#include "lib/confine.h"
#include "lib/worker.h"

#define FE_MAX_CONNS	 64 /* PID 1's cap (SP_AGENT_MAX_CONNS); an id names a slot below it */
#define FE_CONN_SLOT(id) ((id)&0xffu)

enum fe_frame_type { FE_REQUEST = 1, FE_CLOSED = 2, FE_REPLY = 3 };

struct fe_request_hdr {
	uint32_t conn, stream, method, form_len;
	int64_t timeout_nano;
};

struct fe_reply_hdr {
	uint32_t conn, stream, code, msglen, len; /* msglen < TT_MAX_MESSAGE; len: the payload's */
};

/* A batch frame holds at least one of the largest request or answer. */
#define FE_REQUEST_MAX (sizeof(struct fe_request_hdr) + SP_FORM_MAX_LEN)
#define FE_REPLY_MAX   (sizeof(struct fe_reply_hdr) + TT_MAX_MESSAGE + TT_MAX_DATA)
#define FE_BATCH_MAX   ((size_t)8 << 20)
/* Where a batch stops growing: past this the next one starts a new frame. */
#define FE_BATCH_SOFT ((size_t)256 << 10)

/* The frames each side accepts (lib/worker.h tables), for the front-end's struct sp_worker_def:
 * .in = SP_FRONT_IN, .out = SP_FRONT_OUT. */
extern const struct sp_frame_type sp_front_in_types[1];	 /* FE_REPLY */
extern const struct sp_frame_type sp_front_out_types[2]; /* FE_REQUEST, FE_CLOSED */
#define SP_FRONT_IN                                                                                \
	{                                                                                          \
		sp_front_in_types, 1                                                               \
	}
#define SP_FRONT_OUT                                                                               \
	{                                                                                          \
		sp_front_out_types, 2                                                              \
	}
extern const struct sp_confine sp_front_confine;
/* PID 1 queues at most this much for the front-end (a front-end that lets more pile up is
 * stuck or taken over, and is restarted). */
#define SP_FRONT_QUEUE_MAX ((size_t)16 << 20)

/* The front-end's main (its worker entry calls it with the method table PID 1 serves): serves
 * until PID 1 closes the worker's socket. Returns the exit status. */
int sp_front_main(const struct sp_worker_ctx *ctx, const struct tt_server *server);

#endif
