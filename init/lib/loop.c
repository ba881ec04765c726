#define _GNU_SOURCE
#include "lib/loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

int sp_loop_init(struct sp_loop *loop, struct sp_err *err)
{
	loop->dead = NULL;
	loop->stop = false;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return sp_error(err, errno, "epoll_create1");
	return 0;
}

static int ctl(struct sp_loop *loop, int op, struct sp_watch *w, uint32_t events,
	       struct sp_err *err)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(loop->epfd, op, w->fd, &ev) < 0)
		return sp_error(err, errno, "epoll_ctl fd %d", w->fd);
	return 0;
}

int sp_loop_add(struct sp_loop *loop, struct sp_watch *w, uint32_t events, struct sp_err *err)
{
	w->dead = false;
	w->next_dead = NULL;
	return ctl(loop, EPOLL_CTL_ADD, w, events, err);
}

int sp_loop_mod(struct sp_loop *loop, struct sp_watch *w, uint32_t events, struct sp_err *err)
{
	return ctl(loop, EPOLL_CTL_MOD, w, events, err);
}

void sp_loop_release(struct sp_loop *loop, struct sp_watch *w)
{
	if (w->dead)
		return;
	w->dead = true;
	if (w->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->next_dead = loop->dead;
	loop->dead = w;
}

static void reap_dead(struct sp_loop *loop)
{
	while (loop->dead) {
		struct sp_watch *w = loop->dead;

		loop->dead = w->next_dead;
		if (w->on_release)
			w->on_release(w);
	}
}

int sp_loop_run_once(struct sp_loop *loop, int timeout_ms, struct sp_err *err)
{
	struct epoll_event evs[32];
	int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return sp_error(err, errno, "epoll_wait");
	}
	for (int i = 0; i < n; i++) {
		struct sp_watch *w = evs[i].data.ptr;

		if (!w->dead)
			w->on_event(w, evs[i].events);
	}
	reap_dead(loop);
	return 0;
}

void sp_loop_close(struct sp_loop *loop)
{
	reap_dead(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}
