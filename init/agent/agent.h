/* The control port: a ttRPC server on AF_VSOCK (or a Unix socket for host tests) inside PID 1's
 * epoll loop. Transport: it serves whatever server it is handed (agent/service.h builds the
 * AgentService). */
#ifndef SEALPOD_AGENT_AGENT_H
#define SEALPOD_AGENT_AGENT_H

#include <stdbool.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/loop.h"

#define SP_AGENT_VERSION     "sealpod 0.1.0"
#define SP_AGENT_API_VERSION "0.0.1" /* what kata-agent reports as grpc_version */
#define SP_AGENT_MAX_CONNS   64
#define SP_AGENT_BACKLOG                                                                           \
	128 /* the shim reconnects in bursts; connections over MAX_CONNS are refused after accept */
#define SP_VSOCK_CID_LOCAL 1u
#define SP_VSOCK_CID_HOST  2u

/* Binds and listens on addr and serves server's services. vsock peers are accepted from the
 * host (CID 2), from CID 1 only when accept_loopback. */
struct tt_server;
int sp_agent_listen(struct sp_loop *loop, const struct sp_listen_addr *addr, bool accept_loopback,
		    const struct tt_server *server, struct sp_err *err);
/* Closes every connection (cancelling parked calls) and the listener. */
void sp_agent_shutdown(void);

#endif
