/* The attestation worker (attest.c spawns it, worker.h is the protocol). It learns its settings
 * from PID 1, makes the TEE key, waits for A_GO, enters its confinement (confine.c), attests, then
 * answers resource requests until PID 1 closes its socket. It holds the TEE private key and the
 * token; PID 1 never does. */
#define _GNU_SOURCE
#include "attest/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attest/client.h"
#include "lib/cleanup.h"

#define TOTAL_S 60u

static const struct sp_frame_type in_types[] = {
	{ A_CONF, sizeof(struct sp_attest_wire_conf), sizeof(struct sp_attest_wire_conf) },
	{ A_INITDATA, 1, SP_INITDATA_MAX_TOML },
	{ A_CA, 1, SP_ATTEST_CA_MAX },
	{ A_GO, 0, SP_EVLOG_MAX }, /* the event log for the evidence (aael.c) */
	{ A_GET, sizeof(struct sp_attest_wire_get), sizeof(struct sp_attest_wire_get) },
	{ A_EVLOG, 0, SP_EVLOG_MAX },
};
static const struct sp_frame_type out_types[] = {
	{ A_ATTESTED, 0, 0 },
	{ A_RESOURCE, sizeof(uint32_t), sizeof(uint32_t) + SP_ATTEST_RESOURCE_MAX },
};

/* What the worker learns from PID 1 before it starts. */
struct wconf {
	struct sp_attest_wire_conf c;
	char *initdata, *ca; /* NUL-terminated copies, or NULL */
	uint8_t *evlog;	     /* from A_GO */
	size_t evlog_len;
	bool confined; /* spawned confined: the root is entered at A_GO */
};

static int fail(int fd, uint32_t ref, const char *stage, struct sp_err *err)
{
	err->stage = (uint8_t)sp_stage_from_name(stage ? stage : "attest.auth");
	if (!err->stage)
		err->stage = SP_STAGE_ATTEST_AUTH;
	(void)sp_frame_send_err(fd, ref, err);
	return 1;
}

static char *dup_text(const uint8_t *p, uint32_t len)
{
	char *s = malloc((size_t)len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

/* The settings frames, up to A_CONF. 0, 1 when PID 1 went away, -1 on a protocol error. */
static int read_conf(int fd, struct sp_frame_rx *rx, struct wconf *w, struct sp_err *err)
{
	const uint8_t *p;
	uint32_t type, len;
	int r;

	while ((r = sp_frame_recv(rx, fd, &type, &p, &len, err)) == 1) {
		char **dst = type == A_INITDATA ? &w->initdata : type == A_CA ? &w->ca : NULL;

		if (type == A_CONF) {
			memcpy(&w->c, p, sizeof(w->c));
			w->c.kbs_url[sizeof(w->c.kbs_url) - 1] = '\0';
			return w->c.ev <= SP_EV_SNP && w->c.key_kind <= SP_TEE_KEY_RSA
				       ? 0
				       : sp_error(err, 0, "attest: bad settings");
		}
		if (!dst || *dst)
			return sp_error(err, 0, "attest: frame %u before the settings", type);
		if (!(*dst = dup_text(p, len)))
			return sp_error(err, ENOMEM, "attest: settings");
	}
	return r == 0 ? 1 : -1;
}

/* Waits for A_GO and keeps its event log: 0, or 1 when PID 1 went away first. */
static int wait_go(int fd, struct sp_frame_rx *rx, struct wconf *w, struct sp_err *err)
{
	const uint8_t *p;
	uint32_t type, len;
	int r = sp_frame_recv(rx, fd, &type, &p, &len, err);

	if (r == 1 && type != A_GO)
		return sp_error(err, 0, "attest: frame %u before A_GO", type);
	if (r == 1 && len) {
		if (!(w->evlog = malloc(len)))
			return sp_error(err, ENOMEM, "attest: event log");
		memcpy(w->evlog, p, len);
		w->evlog_len = len;
	}
	return r == 1 ? 0 : r == 0 ? 1 : -1;
}

/* A_EVLOG: the event log any later handshake sends, replacing the one before. */
static int new_evlog(struct sp_kbs_client *c, struct wconf *w, const uint8_t *p, uint32_t len)
{
	uint8_t *n = malloc(len ? len : 1);

	if (!n)
		return -1;
	memcpy(n, p, len);
	free(w->evlog);
	w->evlog = n, w->evlog_len = len;
	c->evlog = n, c->evlog_len = len;
	return 0;
}

static int serve(struct sp_kbs_client *c, struct wconf *w, int fd, struct sp_frame_rx *rx)
{
	for (;;) {
		struct sp_attest_wire_get get;
		struct sp_err err = { 0 };
		cleanup_free uint8_t *out = NULL;
		uint8_t *data = NULL;
		const uint8_t *p;
		uint32_t type, len;
		size_t dlen = 0;
		int r = sp_frame_recv(rx, fd, &type, &p, &len, &err);

		if (r <= 0)
			return r == 0 ? 0 : 1; /* PID 1 closed its end, or broke the protocol */
		if (type == A_EVLOG) {
			if (new_evlog(c, w, p, len) < 0)
				return 1;
			continue;
		}
		if (type != A_GET)
			return 1;
		memcpy(&get, p, sizeof(get));
		get.uri[sizeof(get.uri) - 1] = '\0';
		c->deadline_ms = sp_attest_now_ms() + (long long)TOTAL_S * 1000;
		if (sp_kbs_client_resource(c, get.uri, &data, &dlen, &err) < 0) {
			(void)fail(fd, get.id, c->stage ? c->stage : "attest.resource", &err);
			continue;
		}
		out = dlen <= SP_ATTEST_RESOURCE_MAX ? malloc(sizeof(get.id) + dlen) : NULL;
		if (out) {
			memcpy(out, &get.id, sizeof(get.id));
			memcpy(out + sizeof(get.id), data, dlen);
		}
		r = out ? sp_frame_send(fd, A_RESOURCE, out, sizeof(get.id) + dlen) : -1;
		if (out)
			OPENSSL_cleanse(out, sizeof(get.id) + dlen);
		OPENSSL_cleanse(data, dlen);
		free(data);
		if (r < 0) {
			sp_fail(&err, SP_E_EXHAUSTED, 0, "resource %.200s: %zu bytes", get.uri,
				dlen);
			(void)fail(fd, get.id, "attest.resource", &err);
		}
	}
}

/* Makes the key, waits for the network, confines itself, attests, serves. */
static int run(struct wconf *w, int fd, struct sp_frame_rx *rx)
{
	struct sp_kbs_client c = { 0 };
	struct sp_tee_key *key = NULL;
	char *jwk = NULL;
	struct sp_err err = { 0 };
	int r;

	/* The key is made as soon as the worker exists (at boot): RSA takes a while under
	 * emulation, and under Kata the wait for the network hides it. */
	if (sp_tee_key_new((enum sp_tee_key_kind)w->c.key_kind, &key, &err) < 0 ||
	    !(jwk = sp_tee_key_jwk(key)))
		return fail(fd, 0, "attest.auth", &err);
	if ((r = wait_go(fd, rx, w, &err)) != 0)
		return r < 0 ? 1 : 0;
	/* Now, not at the spawn: resolv.conf is complete only once the network is. */
	if (w->confined &&
	    sp_confine_enter_root(sp_attest_confine((enum sp_evidence_kind)w->c.ev), &err) < 0) {
		(void)sp_error_wrap(&err, "worker sandbox");
		return fail(fd, 0, "attest.auth", &err);
	}
	if (!w->c.kbs_url[0]) {
		sp_error(&err, 0, "attestation is required but no KBS is configured");
		return fail(fd, 0, "attest.auth", &err);
	}
	if (w->c.ev == SP_EV_NONE) {
		sp_error(&err, 0, "no evidence provider on this machine (no TDX, SNP or TPM)");
		return fail(fd, 0, "attest.evidence", &err);
	}
	(void)snprintf(c.base, sizeof(c.base), "%s", w->c.kbs_url);
	c.ca_pem = w->ca;
	c.allow_http = w->c.test_overlay;
	c.ev = (enum sp_evidence_kind)w->c.ev;
	c.initdata = w->c.have_initdata ? w->initdata : NULL;
	c.evlog = w->evlog;
	c.evlog_len = w->evlog_len;
	c.key = key;
	c.jwk = jwk;
	c.total_s = TOTAL_S;
	c.deadline_ms = sp_attest_now_ms() + (long long)TOTAL_S * 1000;
	if (sp_kbs_client_init(&c, &err) < 0 || sp_kbs_client_attest(&c, &err) < 0)
		return fail(fd, 0, c.stage, &err);
	if (sp_frame_send(fd, A_ATTESTED, NULL, 0) < 0)
		return 1;
	return serve(&c, w, fd, rx);
}

static int attest_main(const struct sp_worker_ctx *ctx)
{
	struct sp_frame_rx rx;
	struct wconf w = { .confined = ctx->confined };
	struct sp_err err = { 0 };
	int r;

	if (sp_frame_rx_init(&rx, &ctx->def->in, true, &err) < 0)
		return fail(ctx->fd, 0, "attest.auth", &err);
	r = read_conf(ctx->fd, &rx, &w, &err);
	if (r == 0)
		r = run(&w, ctx->fd, &rx);
	else
		r = r < 0 ? fail(ctx->fd, 0, "attest.auth", &err) : 0;
	sp_frame_rx_free(&rx);
	free(w.initdata);
	free(w.ca);
	free(w.evlog);
	return r;
}

const struct sp_worker_def sp_attest_worker = {
	.name = "attest",
	.confine = &sp_attest_confine_boot,
	.in = SP_FRAME_TABLE(in_types),
	.out = SP_FRAME_TABLE(out_types),
	.main = attest_main,
	.secret = true,
	.queue_max = (size_t)4 << 20,
};
