/* The control port: a ttRPC server on AF_VSOCK (or a Unix socket for host tests), whose bytes a
 * confined front-end process reads (init/front/) and whose calls run in PID 1's epoll loop.
 * Transport: it serves whatever server it is handed (agent/service.h builds the AgentService). */
#ifndef SEALPOD_AGENT_AGENT_H
#define SEALPOD_AGENT_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

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

/* Binds and listens on addr, starts the front-end (def: the worker of init/front/, spawned with
 * lib/worker.h and restarted whenever it dies) and passes it each connection it accepts: vsock
 * peers from the host (CID 2), from CID 1 only when accept_loopback; at most SP_AGENT_MAX_CONNS
 * at once. The requests the front-end hands over are served from server. */
struct tt_server;
struct sp_worker_def;
struct sp_agent_listen_conf {
	struct sp_loop *loop;
	const struct sp_listen_addr *addr;
	bool accept_loopback;
	const struct tt_server *server;
	const struct sp_worker_def *front;
};
int sp_agent_listen(const struct sp_agent_listen_conf *c, struct sp_err *err);
/* The front-end's pid (0 while none runs), for the log and tests. */
pid_t sp_agent_front_pid(void);
/* Stops the front-end, cancels every call of every connection, closes the listener. */
void sp_agent_shutdown(void);

#endif
