/* spawn-bench: what starting a worker costs, for tests/bench/bench-workers. Linked like /init
 * (the Makefile: static-pie musl, the objects /init is made of).
 *
 *   spawn-bench exec INIT N   N times: sp_worker_spawn of the release worker (fork, its
 *                             confinement, execveat of INIT, the /init under test), one frame
 *                             to it, wait for its exit: how PID 1 starts a worker now
 *   spawn-bench fork N        N times: fork, the same confinement in the child, the same frame
 *                             read by the child, its exit: how PID 1 started one before
 *
 * Prints `us_per_spawn=<mean over N>`. The frame names a directory that does not exist, so the
 * worker's work is nothing. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/image.h"
#include "image/image_int.h"
#include "image/wire.h"
#include "lib/confine.h"
#include "lib/worker.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int one_exec(const char *updir)
{
	struct sp_child c;
	struct sp_err err;

	if (sp_worker_spawn(&sp_pull_release_worker, NULL, &c, &err) < 0) {
		fprintf(stderr, "spawn-bench: %s\n", err.msg);
		return -1;
	}
	if (sp_frame_send(c.fd, IMG_RELEASE, updir, SP_IMG_UPDIR_MAX) < 0)
		return -1;
	return sp_child_reap(&c) == 0 ? 0 : -1;
}

static int one_fork(const char *updir)
{
	struct sp_frame_rx rx;
	struct sp_err err;
	int sv[2], st;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		const uint8_t *p;
		uint32_t type, len;

		close(sv[0]);
		if (sp_confine_child(&sp_image_release_confine, &err) < 0 ||
		    sp_frame_rx_init(&rx, &sp_pull_release_worker.in, false, &err) < 0 ||
		    sp_frame_recv(&rx, sv[1], &type, &p, &len, &err) != 1)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	if (pid < 0 || sp_frame_send(sv[0], IMG_RELEASE, updir, SP_IMG_UPDIR_MAX) < 0)
		return -1;
	close(sv[0]);
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct sp_worker_def *const none[] = { NULL };
	char updir[SP_IMG_UPDIR_MAX] = "/nonexistent/sealpod-spawn-bench";
	bool exec_mode;
	double t0;
	long n;
	struct sp_err err;

	sp_worker_main(argc, argv, none, 0);
	if (argc < 3 || (strcmp(argv[1], "exec") != 0 && strcmp(argv[1], "fork") != 0) ||
	    (strcmp(argv[1], "exec") == 0 && argc != 4)) {
		fprintf(stderr, "usage: spawn-bench exec INIT N | spawn-bench fork N\n");
		return 2;
	}
	exec_mode = strcmp(argv[1], "exec") == 0;
	n = atol(argv[argc - 1]);
	if (exec_mode && sp_worker_set_exe(argv[2], &err) < 0) {
		fprintf(stderr, "spawn-bench: %s\n", err.msg);
		return 1;
	}
	t0 = now_us();
	for (long i = 0; i < n; i++)
		if ((exec_mode ? one_exec(updir) : one_fork(updir)) < 0) {
			fprintf(stderr, "spawn-bench: round %ld failed\n", i);
			return 1;
		}
	printf("us_per_spawn=%.1f\n", (now_us() - t0) / (double)(n > 0 ? n : 1));
	return 0;
}
