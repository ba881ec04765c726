/* Waiting for a child's report (child.h) on PID 1's loop: the child answers within its setup, but
 * the setup runs on the host's spec and the host's disks, so PID 1 never blocks on it. A watch on
 * the report pipe and a timer; whichever fires first reports, once. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "runtime/child.h"

struct rt_await {
	struct sp_watch rd; /* a duplicate of the report pipe's read end */
	struct sp_watch tm; /* the deadline */
	int refs;	    /* watches not yet released */
	rt_report_fn fn;    /* NULL once reported or cancelled */
	void *arg;
	struct sp_rt_report rep;
	size_t have;
};

static void put(struct rt_await *a)
{
	if (--a->refs == 0)
		free(a);
}

static void rd_release(struct sp_watch *w)
{
	struct rt_await *a = (struct rt_await *)((char *)w - offsetof(struct rt_await, rd));

	if (w->fd >= 0)
		close(w->fd);
	put(a);
}

static void tm_release(struct sp_watch *w)
{
	struct rt_await *a = (struct rt_await *)((char *)w - offsetof(struct rt_await, tm));

	if (w->fd >= 0)
		close(w->fd);
	put(a);
}

/* Stops both watches (freed after the batch); the callback runs no more. */
static void stop(struct rt_await *a)
{
	a->fn = NULL;
	sp_loop_release(rt.loop, &a->rd);
	sp_loop_release(rt.loop, &a->tm);
}

static void fire(struct rt_await *a, int ret, const struct sp_err *err)
{
	rt_report_fn fn = a->fn;
	void *arg = a->arg;
	struct sp_rt_report rep = a->rep;

	if (!fn)
		return;
	stop(a);
	fn(arg, ret, ret == 0 ? &rep : NULL, err);
}

static void on_report(struct sp_watch *w, uint32_t events)
{
	struct rt_await *a = (struct rt_await *)((char *)w - offsetof(struct rt_await, rd));
	struct sp_err err;
	ssize_t n;

	do
		n = read(w->fd, (char *)&a->rep + a->have, sizeof(a->rep) - a->have);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		a->have += (size_t)n;
		if (a->have < sizeof(a->rep))
			return;
		a->rep.msg[sizeof(a->rep.msg) - 1] = '\0';
		fire(a, 0, NULL);
		return;
	}
	if (n < 0 || a->have) {
		sp_error(&err, n < 0 ? errno : EPROTO, "%s",
			 n < 0 ? "read the container's report" : "short report from the container");
		fire(a, -1, &err);
		return;
	}
	memset(&a->rep, 0, sizeof(a->rep)); /* EOF: stage 0 */
	fire(a, 0, NULL);
	(void)events;
}

static void on_deadline(struct sp_watch *w, uint32_t events)
{
	struct rt_await *a = (struct rt_await *)((char *)w - offsetof(struct rt_await, tm));
	struct sp_err err;

	sp_error(&err, ETIMEDOUT, "container setup did not report");
	fire(a, -1, &err);
	(void)events;
}

struct rt_await *rt_await_report(int fd, unsigned timeout_ms, rt_report_fn fn, void *arg,
				 struct sp_err *err)
{
	struct itimerspec its = { .it_value = { timeout_ms / 1000,
						(long)(timeout_ms % 1000) * 1000000L } };
	struct rt_await *a = calloc(1, sizeof(*a));

	if (!a) {
		sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "report watch");
		return NULL;
	}
	a->fn = fn;
	a->arg = arg;
	a->rd.on_event = on_report;
	a->rd.on_release = rd_release;
	a->tm.on_event = on_deadline;
	a->tm.on_release = tm_release;
	a->rd.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	a->tm.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->rd.fd < 0 || a->tm.fd < 0 || fcntl(a->rd.fd, F_SETFL, O_NONBLOCK) < 0 ||
	    timerfd_settime(a->tm.fd, 0, &its, NULL) < 0) {
		sp_error(err, errno, "report watch");
		goto fail;
	}
	if (sp_loop_add(rt.loop, &a->rd, EPOLLIN, err) < 0)
		goto fail;
	a->refs = 1;
	if (sp_loop_add(rt.loop, &a->tm, EPOLLIN, err) < 0) {
		a->fn = NULL;
		sp_loop_release(rt.loop, &a->rd); /* frees a after the batch */
		close(a->tm.fd);
		return NULL;
	}
	a->refs = 2;
	return a;
fail:
	if (a->rd.fd >= 0)
		close(a->rd.fd);
	if (a->tm.fd >= 0)
		close(a->tm.fd);
	free(a);
	return NULL;
}

void rt_await_cancel(struct rt_await *a)
{
	if (a && a->fn)
		stop(a);
}
