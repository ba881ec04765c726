/* ttRPC calls in PID 1, without sockets and without host bytes.
 *
 * The host's bytes are framed and decoded by the front-end, a confined process of its own
 * (init/front/): it hands PID 1 each request as (connection, stream, method, the request in the
 * internal form of agent/form.h). tt_conn_dispatch() checks the form against PID 1's own bounds,
 * builds the request and runs the method's handler with a struct tt_call. The handler answers
 * now (tt_call_reply / tt_call_error, then returns what they return) or parks the call
 * (tt_call_park, return TT_PARKED) and answers later, when its event fires, by the same
 * functions; other calls on the connection keep flowing meanwhile. Answers leave through the
 * connection's sink (to the front-end, which encodes and frames them). When the connection goes
 * away (the front-end says so, or dies) every parked call's cancel hook runs and the call is
 * freed.
 *
 * The same tables tell the front-end what the methods are (service and method names, the
 * message the host sends), so both sides agree on the method numbers. */
#ifndef SEALPOD_AGENT_TTRPC_H
#define SEALPOD_AGENT_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define TT_HDR_LEN     10
#define TT_MAX_DATA    (4u << 20) /* the frame data limit of containerd/ttrpc */
#define TT_MAX_PARKED  1024	  /* parked calls per connection (a call over it is refused) */
#define TT_MAX_MESSAGE 256	  /* bytes of an error message, with its NUL */

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
#define TT_CODE_MAX 16 /* google.rpc.Code stops at 16 (UNAUTHENTICATED) */

enum tt_handler_result { TT_DONE = 0, TT_PARKED = 1 };

struct tt_call;
struct tt_conn;

/* req is the request, decoded from its internal form (valid only during the call: a handler
 * that parks copies what it needs). Return tt_call_reply()/tt_call_error() (TT_DONE) or
 * TT_PARKED after tt_call_park(). */
typedef int (*tt_handler)(struct tt_call *call, const ProtobufCMessage *req);

/* In the front-end, for a method whose request PID 1 must not get as the host wrote it: makes
 * the message PID 1 gets instead (of the method's form descriptor) from the decoded request,
 * every part of it allocated from a (freed with protobuf_c_message_free_unpacked(out, a)).
 * SetPolicy's document becomes the policy in a fixed form this way. 0, or -1 with err (answered
 * to the host with tt_code_for(err)). */
typedef int (*tt_convert)(const ProtobufCMessage *req, ProtobufCAllocator *a,
			  ProtobufCMessage **out, struct sp_err *err);

struct tt_method {
	const char *name;
	const ProtobufCMessageDescriptor *request; /* what the host sends */
	tt_handler fn;
	const ProtobufCMessageDescriptor *form; /* what PID 1 gets, when not request */
	tt_convert convert;			/* with form: the front-end makes it */
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

/* A method's number between the front-end and PID 1: its service's index and its own. */
#define TT_METHOD_ID(s, m) ((uint32_t)(s) << 16 | (uint32_t)(m))
/* The method numbered id, NULL when there is none. */
const struct tt_method *tt_server_method(const struct tt_server *server, uint32_t id);
/* The message PID 1 gets for m. */
const ProtobufCMessageDescriptor *tt_method_form(const struct tt_method *m);

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

/* Where a connection's answers go: code TT_OK with msg (NULL: an empty payload), else code and
 * message (msg NULL). Returns 0, or -1 when the answer could not be queued (the connection is
 * then as good as gone; the caller has nothing to undo). */
struct tt_sink {
	int (*reply)(struct tt_conn *conn, uint32_t stream, enum tt_code code, const char *message,
		     const ProtobufCMessage *msg);
};

/* One connection of the host, as PID 1 knows it (the bytes are the front-end's). */
struct tt_conn {
	const struct tt_server *server;
	const struct tt_sink *sink;
	void *owner;
	uint32_t id; /* the front-end's name for it */
	/* parked calls */
	struct tt_call *parked;
	unsigned nparked;
	struct tt_call *dispatching;
	/* counters, for logs and tests */
	unsigned long calls, replies_out, bad_forms;
};

void tt_conn_init(struct tt_conn *conn, const struct tt_server *server, const struct tt_sink *sink,
		  uint32_t id);
/* One request from the front-end: checked (method, form) and run, or answered with an error. */
void tt_conn_dispatch(struct tt_conn *conn, uint32_t stream, uint32_t method, int64_t timeout_nano,
		      const uint8_t *form, size_t len);
/* Cancels and frees every parked call. conn may be re-initialised after. */
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
 * own); agent/service.c assembles the AgentService from the tables, checks the ids each request
 * names, asks the policy and calls fn with the request and the policy's verdict on it (struct
 * sp_verdict, policy/policy.h: what the policy consented to and what the request must still
 * show). fn answers like a tt_handler. form and convert: as in struct tt_method. */
struct sp_verdict;
typedef int (*tt_msg_handler)(struct tt_call *call, const ProtobufCMessage *req,
			      const struct sp_verdict *verdict);
struct tt_msg_method {
	const char *name; /* the method, e.g. "CreateContainer" */
	const ProtobufCMessageDescriptor *desc;
	tt_msg_handler fn;
	const ProtobufCMessageDescriptor *form;
	tt_convert convert;
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
		name, &lower##__descriptor, fn##_msg, NULL, NULL                                   \
	}

/* Appends one frame (header + data) to buf; for the front-end and for tests building requests. */
int tt_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream, uint8_t type,
		    uint8_t flags, const uint8_t *data, size_t dlen);

/* health.c */
extern const struct tt_service sp_health_service;

#endif
