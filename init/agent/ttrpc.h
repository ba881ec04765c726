/* ttRPC server side, without sockets: bytes go in with tt_conn_feed(), replies come out of
 * tt_conn_output(). The socket layer (listen.c), the unit tests and the fuzzer all drive the same
 * state machine.
 *
 * A request is dispatched through a table of services and methods to a handler that gets a
 * struct tt_call. The handler answers now (tt_call_reply / tt_call_error, then returns what they
 * return) or parks the call (tt_call_park, return TT_PARKED) and answers later, when its event
 * fires, by the same functions; other calls on the connection keep flowing meanwhile. When the
 * connection goes away every parked call's cancel hook runs and the call is freed. */
#ifndef SEALPOD_AGENT_TTRPC_H
#define SEALPOD_AGENT_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define TT_HDR_LEN	10
#define TT_MAX_DATA	(4u << 20)  /* the frame data limit of containerd/ttrpc */
#define TT_OUT_SOFT_MAX (1u << 20)  /* stop reading a peer whose replies pile up beyond this */
#define TT_OUT_HARD_MAX (16u << 20) /* a peer that lets more pile up is disconnected */
#define TT_MAX_PARKED	1024	    /* parked calls per connection (a call over it is refused) */

enum tt_frame_type { TT_TYPE_REQUEST = 1, TT_TYPE_RESPONSE = 2, TT_TYPE_DATA = 3 };

/* google.rpc.Code values we use. */
enum tt_code {
	TT_OK = 0,
	TT_CANCELLED = 1,
	TT_INVALID_ARGUMENT = 3,
	TT_DEADLINE_EXCEEDED = 4,
	TT_NOT_FOUND = 5,
	TT_ALREADY_EXISTS = 6,
	TT_PERMISSION_DENIED = 7,
	TT_RESOURCE_EXHAUSTED = 8,
	TT_FAILED_PRECONDITION = 9,
	TT_UNIMPLEMENTED = 12,
	TT_INTERNAL = 13,
	TT_UNAVAILABLE = 14,
};

enum tt_handler_result { TT_DONE = 0, TT_PARKED = 1 };

struct tt_call;
struct tt_conn;

/* payload is the request message's bytes (untrusted, valid only during the call to the handler).
 * Return tt_call_reply()/tt_call_error() (TT_DONE) or TT_PARKED after tt_call_park(). */
typedef int (*tt_handler)(struct tt_call *call, const uint8_t *payload, size_t len);

struct tt_method {
	const char *name;
	tt_handler fn;
};

struct tt_service {
	const char *name; /* "<proto package>.<service>", e.g. "grpc.Health" */
	const struct tt_method *methods;
	size_t nmethods;
};

struct tt_server {
	const struct tt_service *const *services;
	size_t nservices;
	void *data; /* for handlers: tt_call->conn->server->data */
};

struct tt_call {
	struct tt_conn *conn;
	uint32_t stream;
	int64_t timeout_nano;
	const struct tt_method *method;
	/* Parked calls: cancel runs when the connection goes away before the answer; priv is the
	 * handler's. */
	bool parked;
	void (*cancel)(struct tt_call *call);
	void *priv;
	struct tt_call *prev, *next;
};

enum tt_rx_state { TT_RX_HEADER, TT_RX_BODY, TT_RX_SKIP };

struct tt_conn {
	const struct tt_server *server;
	/* receive side */
	enum tt_rx_state rx;
	uint8_t hdr[TT_HDR_LEN];
	size_t hdr_have;
	uint32_t len, stream;
	uint8_t type, flags;
	uint8_t *body;
	size_t body_have, body_cap;
	uint32_t skip;	      /* body bytes still to discard */
	uint32_t last_stream; /* highest client stream id accepted */
	/* send side: out[out_off..out_len) is pending */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool broken; /* output over TT_OUT_HARD_MAX or out of memory: the owner should close */
	/* parked calls */
	struct tt_call *parked;
	unsigned nparked;
	struct tt_call *dispatching;
	/* Called when a reply is queued outside tt_conn_feed (a parked call answered later). */
	void (*on_output)(struct tt_conn *conn);
	void *owner;
	/* counters, for logs and tests */
	unsigned long frames_in, replies_out, protocol_errors;
};

void tt_conn_init(struct tt_conn *conn, const struct tt_server *server);
/* Consumes all of data[0..len), in any chunking; replies are queued. */
void tt_conn_feed(struct tt_conn *conn, const uint8_t *data, size_t len);
size_t tt_conn_pending(const struct tt_conn *conn);
const uint8_t *tt_conn_output(const struct tt_conn *conn, size_t *len);
void tt_conn_consume(struct tt_conn *conn, size_t n);
/* Cancels and frees every parked call, frees the buffers. conn may be re-initialised after. */
void tt_conn_destroy(struct tt_conn *conn);

/* Answers the call with an OK Response whose payload is msg packed (msg may be NULL: empty
 * payload). Frees the call. Returns TT_DONE. */
int tt_call_reply(struct tt_call *call, const ProtobufCMessage *msg);
/* Answers with Response{status{code, message}}. message goes to the host: no secrets. */
int tt_call_error(struct tt_call *call, enum tt_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tt_call_park(struct tt_call *call, void (*cancel)(struct tt_call *call), void *priv);

/* The one place where the kind of an error becomes a gRPC status: the modules below the API
 * say what kind of failure it was (lib/err.h), never which code the host gets. */
enum tt_code tt_code_for(const struct sp_err *err);
/* Answers with tt_code_for(err) and err->msg (never err->detail). Returns TT_DONE. */
int tt_call_fail(struct tt_call *call, const struct sp_err *err);
/* The same for a failure described here: tt_call_failf(call, SP_E_NOT_FOUND, "no %s", x). */
int tt_call_failf(struct tt_call *call, enum sp_err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- methods that take a decoded request ------------------------------------------------------
 * A module that serves requests exports a table of these (runtime, net, sandbox, the agent's
 * own); agent/service.c assembles the AgentService from the tables, decodes each request with
 * desc, asks the policy and calls fn with the decoded request (freed when fn returns: a handler
 * that parks copies what it needs) and the policy's verdict on it (struct sp_verdict,
 * policy/policy.h: what the policy consented to and what the request must still show). fn
 * answers like a tt_handler. */
struct sp_verdict;
typedef int (*tt_msg_handler)(struct tt_call *call, const ProtobufCMessage *req,
			      const struct sp_verdict *verdict);
struct tt_msg_method {
	const char *name; /* the method, e.g. "CreateContainer" */
	const ProtobufCMessageDescriptor *desc;
	tt_msg_handler fn;
};
struct tt_msg_table {
	const char *module; /* for messages */
	const struct tt_msg_method *methods;
	size_t n;
};
/* One table entry for handler fn(struct tt_call *, const Type *, const struct sp_verdict *): an
 * adapter keeps the handler's request type. lower is the message's descriptor prefix. */
#define TT_MSG_ADAPTER(fn, Type)                                                                   \
	static int fn##_msg(struct tt_call *call, const ProtobufCMessage *req,                     \
			    const struct sp_verdict *verdict)                                      \
	{                                                                                          \
		return fn(call, (const Type *)(const void *)req, verdict);                         \
	}
#define TT_MSG_METHOD(name, lower, fn)                                                             \
	{                                                                                          \
		name, &lower##__descriptor, fn##_msg                                               \
	}

/* Appends one frame (header + data) to conn's output; also used by tests to build requests. */
int tt_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream, uint8_t type,
		    uint8_t flags, const uint8_t *data, size_t dlen);

/* health.c */
extern const struct tt_service sp_health_service;

#endif
