/* The one epoll loop of PID 1. Every fd it watches is embedded in a struct sp_watch whose
 * callback gets the epoll events. A watch released during a batch is only freed after the batch,
 * so a callback may close any other watch without a use-after-free. */
#ifndef SEALPOD_LIB_LOOP_H
#define SEALPOD_LIB_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct sp_loop;

struct sp_watch {
	int fd;
	void (*on_event)(struct sp_watch *w, uint32_t events);
	/* Called after the batch in which sp_loop_release() was called; frees the owner. */
	void (*on_release)(struct sp_watch *w);
	bool dead;
	struct sp_watch *next_dead;
};

struct sp_loop {
	int epfd;
	struct sp_watch *dead;
	bool stop;
};

int sp_loop_init(struct sp_loop *loop, struct sp_err *err);
int sp_loop_add(struct sp_loop *loop, struct sp_watch *w, uint32_t events, struct sp_err *err);
int sp_loop_mod(struct sp_loop *loop, struct sp_watch *w, uint32_t events, struct sp_err *err);
/* Stops watching w now and schedules w->on_release after the current batch. */
void sp_loop_release(struct sp_loop *loop, struct sp_watch *w);
/* Waits once (timeout_ms as epoll_wait) and runs the callbacks of what fired. */
int sp_loop_run_once(struct sp_loop *loop, int timeout_ms, struct sp_err *err);
void sp_loop_close(struct sp_loop *loop);

#endif
