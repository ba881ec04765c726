/* The attestation worker: the process PID 1 forks to talk to the KBS (attest.c starts it). It makes
 * the TEE key, waits for MSG_GO, confines itself (sandbox.c), attests, then answers resource
 * requests over its socket until PID 1 closes it. It holds the TEE private key and the token; PID 1
 * never does. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "attest/attest_int.h"
#include "attest/client.h"
#include "attest/worker.h"
#include "lib/fileio.h"

#define TOTAL_S 60u

/* --- the worker ------------------------------------------------------------------------------------ */
int sp_attest_send_frame(int fd, uint32_t type, uint32_t id, int32_t code, const void *p, size_t n)
{
	struct frame f = { type, id, code, (uint32_t)n };

	if (sp_write_all(fd, &f, sizeof(f)) < 0 || (n && sp_write_all(fd, p, n) < 0))
		return -1;
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, (char *)p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static void send_failure(int fd, uint32_t type, uint32_t id, const char *stage,
			 const struct sp_err *err)
{
	char buf[sizeof(err->msg) + sizeof(err->detail) + 40];
	int n = snprintf(buf, sizeof(buf), "%s%c%s%c%s", stage ? stage : "attest.auth", 0, err->msg,
			 0, err->detail);

	sp_attest_send_frame(fd, type, id, -1, buf, (size_t)n + 1);
}

/* The worker keeps only its socket and character devices (the console and /dev/kmsg, where its
 * log lines go): a copy of a connection, pipe or the loop's fds held here would keep them open
 * after PID 1 closed them. */
static void close_inherited(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int self = d ? dirfd(d) : -1;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int n = atoi(de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || n <= 2 || n == keep || n == self)
			continue;
		if (fstat(n, &st) == 0 && S_ISCHR(st.st_mode))
			continue;
		close(n);
	}
	closedir(d);
}

void sp_attest_worker_main(int fd, const struct sp_attest_conf *conf)
{
	struct sp_kbs_client c = { 0 };
	struct sp_tee_key *key = NULL;
	char *jwk = NULL;
	struct sp_err err = { 0 };
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close_inherited(fd);
	if (sp_tee_key_new(conf->key_kind, &key, &err) < 0 || !(jwk = sp_tee_key_jwk(key))) {
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	/* The key is made as soon as the worker exists (at boot): RSA takes a while under
	 * emulation, and under Kata the wait for the network hides it. */
	{
		struct frame go;
		if (read_full(fd, &go, sizeof(go)) < 0 || go.type != MSG_GO)
			_exit(0);
	}
	/* Now, not at fork: resolv.conf is complete only once the network is (sandbox.c). */
	if (sp_attest_sandbox(conf->ev, "/tmp", &err) < 0) {
		(void)sp_error_wrap(&err, "worker sandbox");
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	(void)snprintf(c.base, sizeof(c.base), "%s", conf->kbs_url);
	c.ca_pem = conf->ca;
	c.allow_http = conf->test_overlay;
	c.ev = conf->ev;
	c.initdata = conf->have_initdata ? conf->id.toml : NULL;
	c.key = key;
	c.jwk = jwk;
	c.total_s = TOTAL_S;
	c.deadline_ms = sp_attest_now_ms() + (long long)TOTAL_S * 1000;
	if (!conf->kbs_url[0]) {
		sp_error(&err, 0, "attestation is required but no KBS is configured");
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	if (conf->ev == SP_EV_NONE) {
		sp_error(&err, 0, "no evidence provider on this machine (no TDX, SNP or TPM)");
		send_failure(fd, MSG_ATTEST, 0, "attest.evidence", &err);
		_exit(1);
	}
	if (sp_kbs_client_init(&c, &err) < 0 || sp_kbs_client_attest(&c, &err) < 0) {
		send_failure(fd, MSG_ATTEST, 0, c.stage, &err);
		_exit(1);
	}
	sp_attest_send_frame(fd, MSG_ATTEST, 0, 0, NULL, 0);
	for (;;) {
		struct frame f;
		char uri[512];
		uint8_t *data = NULL;
		size_t len = 0;

		if (read_full(fd, &f, sizeof(f)) < 0)
			_exit(0); /* PID 1 closed its end */
		if (f.type != MSG_GET || f.len == 0 || f.len >= sizeof(uri) ||
		    read_full(fd, uri, f.len) < 0)
			_exit(1);
		uri[f.len] = '\0';
		c.deadline_ms = sp_attest_now_ms() + (long long)TOTAL_S * 1000;
		if (sp_kbs_client_resource(&c, uri, &data, &len, &err) < 0) {
			send_failure(fd, MSG_RESOURCE, f.id, c.stage, &err);
			continue;
		}
		sp_attest_send_frame(fd, MSG_RESOURCE, f.id, 0, data, len);
		OPENSSL_cleanse(data, len);
		free(data);
	}
}
