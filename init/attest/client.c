/* The KBS client, run inside the attestation worker (never in PID 1): the RCAR handshake, then
 * resource fetches with the token. Blocking libcurl is fine here; PID 1's loop only sees this
 * process's pipe. Every reply is bounded in size and time. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "attest/client.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define MAX_BODY	 ((size_t)1 << 20)
#define ATTEMPTS	 5
#define BACKOFF_FIRST_MS 250

long long sp_attest_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct resp {
	long status;
	char *body;
	size_t len;
	bool too_big;
};

static void resp_free(struct resp *r)
{
	if (r->body)
		OPENSSL_cleanse(r->body, r->len);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct resp *r = arg;
	size_t n = sz * nm;
	char *t;

	if (r->len + n > MAX_BODY) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	t = realloc(r->body, r->len + n + 1);
	if (!t)
		return 0;
	r->body = t;
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static int fail(struct sp_kbs_client *c, const char *stage, struct sp_err *err, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
static int fail(struct sp_kbs_client *c, const char *stage, struct sp_err *err, const char *fmt,
		...)
{
	va_list ap;

	c->stage = stage;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->errnum = 0;
	err->stage = (uint8_t)sp_stage_from_name(stage);
	(void)snprintf(err->detail, sizeof(err->detail), "%s", c->detail);
	c->detail[0] = '\0';
	return -1;
}

/* The transfer's options for one attempt, left ms before the deadline. */
static void set_options(struct sp_kbs_client *c, const char *url, long left, struct resp *r)
{
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, c->allow_http ? "http,https" : "https");
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, left < 5000 ? left : 5000L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, left < 20000 ? left : 20000L);
	curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* the cookie engine, in memory */
	curl_easy_setopt(c->curl, CURLOPT_SHARE, c->share);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "sealpod-kbs-client/1");
	if (c->ca_pem) {
		struct curl_blob blob = { .data = (void *)c->ca_pem,
					  .len = strlen(c->ca_pem),
					  .flags = CURL_BLOB_COPY };
		/* Only the CA from initdata: no system bundle. */
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c->curl, CURLOPT_CAINFO_BLOB, &blob);
	}
}

/* One attempt of the request: the body as JSON, the token on a GET. */
static CURLcode perform(struct sp_kbs_client *c, const char *url, const char *method,
			const char *body, long left, struct resp *r)
{
	char auth[64 * 1024 + 32];
	struct curl_slist *h = NULL;
	CURLcode cr;

	set_options(c, url, left, r);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	}
	if (c->token && strcmp(method, "GET") == 0) {
		(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	cr = curl_easy_perform(c->curl);
	curl_slist_free_all(h);
	OPENSSL_cleanse(auth, sizeof(auth));
	return cr;
}

/* One request with retries on network errors and 5xx, within the client's deadline. */
static int http(struct sp_kbs_client *c, const char *stage, const char *method, const char *path,
		const char *body, int attempts, struct resp *r, struct sp_err *err)
{
	char url[600];
	long backoff = BACKOFF_FIRST_MS;

	c->retryable = false;
	(void)snprintf(url, sizeof(url), "%s/kbs/v0/%s", c->base, path);
	for (int attempt = 1;; attempt++) {
		CURLcode cr;
		long left = (long)(c->deadline_ms - sp_attest_now_ms());

		resp_free(r);
		if (left <= 0)
			return fail(c, stage, err, "%s %s: gave up after the %u s limit", method,
				    path, c->total_s);
		cr = perform(c, url, method, body, left, r);
		if (r->too_big)
			return fail(c, stage, err, "%s %s: reply larger than %zu bytes", method,
				    path, MAX_BODY);
		if (cr == CURLE_OK) {
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
			if (r->status < 500)
				return 0;
			sp_warn("attest", "%s %s: HTTP %ld (attempt %d of %d)", method, path,
				r->status, attempt, attempts);
		} else if (cr == CURLE_UNSUPPORTED_PROTOCOL ||
			   cr == CURLE_PEER_FAILED_VERIFICATION || cr == CURLE_SSL_CACERT_BADFILE ||
			   cr == CURLE_SSL_CERTPROBLEM) {
			return fail(c, stage, err, "%s %s: %s", method, path,
				    curl_easy_strerror(cr));
		} else {
			sp_warn("attest", "%s %s: %s (attempt %d of %d)", method, path,
				curl_easy_strerror(cr), attempt, attempts);
		}
		if (attempt >= attempts) {
			c->retryable = true;
			return fail(c, stage, err, "%s %s: KBS unreachable after %d attempt%s (%s)",
				    method, path, attempts, attempts > 1 ? "s" : "",
				    cr == CURLE_OK ? "server error" : curl_easy_strerror(cr));
		}
		left = (long)(c->deadline_ms - sp_attest_now_ms());
		if (backoff > left)
			backoff = left > 0 ? left : 0;
		struct timespec ts = { backoff / 1000, (backoff % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		backoff *= 2;
	}
}

/* What a refusal says: the status and the error type go into why, for the host and the console;
 * the KBS's own words into c->detail only, which never leaves the guest (they may describe the
 * owner's policy, and the host reads the console too). */
static void refusal(struct sp_kbs_client *c, struct resp *r, char *why, size_t n)
{
	char type[80];

	sp_kbs_error_type(r->body ? r->body : "", r->len, type, sizeof(type));
	sp_kbs_error_detail(r->body ? r->body : "", r->len, c->detail, sizeof(c->detail));
	(void)snprintf(why, n, "HTTP %ld%s%.60s", r->status, type[0] ? " " : "", type);
}

int sp_kbs_client_init(struct sp_kbs_client *c, struct sp_err *err)
{
	c->curl = curl_easy_init();
	c->share = curl_share_init();
	if (!c->curl || !c->share)
		return fail(c, "attest.auth", err, "libcurl init failed");
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
	return 0;
}

#define cleanup_resp __attribute__((cleanup(resp_free)))

/* Step one of the handshake: the KBS's challenge for our evidence kind. */
static int challenge(struct sp_kbs_client *c, struct sp_kbs_challenge *ch, struct sp_err *err)
{
	cleanup_resp struct resp r = { 0 };
	cleanup_free char *req = sp_kbs_request_json(sp_evidence_name(c->ev));
	char why[240];

	if (!req)
		return fail(c, "attest.auth", err, "out of memory");
	if (http(c, "attest.auth", "POST", "auth", req, ATTEMPTS, &r, err) < 0)
		return -1;
	if (r.status != 200) {
		refusal(c, &r, why, sizeof(why));
		return fail(c, "attest.auth", err, "KBS refused the handshake: %s", why);
	}
	if (sp_kbs_parse_challenge(r.body, r.len, ch, err) < 0) {
		c->stage = "attest.auth";
		return -1;
	}
	return 0;
}

/* Step two: the evidence over the challenge's runtime data, as the Attestation body. */
static int evidence(struct sp_kbs_client *c, const struct sp_kbs_challenge *ch, char **body,
		    struct sp_err *err)
{
	cleanup_free char *rdata = NULL;
	cleanup_free char *ev = NULL;
	uint8_t digest[64];
	size_t dlen = 0;

	c->stage = "attest.evidence";
	if (sp_kbs_runtime_data(ch->nonce, c->jwk, &rdata, err) < 0 ||
	    sp_hash_digest(ch->hash, rdata, strlen(rdata), digest, &dlen) < 0)
		return -1;
	if (sp_evidence_collect(c->ev, digest, dlen, c->evlog, c->evlog_len, &ev, err) < 0)
		return sp_error_wrap(err, "%s evidence", sp_evidence_name(c->ev));
	return sp_kbs_attest_json(c->initdata, ch->nonce, c->jwk, ev, body, err);
}

/* Step three: the KBS verifies the evidence and answers with the token. */
static int verify(struct sp_kbs_client *c, const char *body, struct sp_err *err)
{
	cleanup_resp struct resp r = { 0 };
	char why[240];

	/* One try: the nonce is single-use, a retry starts over at auth (the caller). */
	if (http(c, "attest.verify", "POST", "attest", body, 1, &r, err) < 0)
		return -1;
	if (r.status != 200) {
		refusal(c, &r, why, sizeof(why));
		return fail(c, "attest.verify", err, "KBS refused the evidence: %s", why);
	}
	if (sp_kbs_parse_token(r.body, r.len, &c->token, err) < 0) {
		c->stage = "attest.verify";
		return -1;
	}
	return 0;
}

static int handshake(struct sp_kbs_client *c, struct sp_err *err)
{
	struct sp_kbs_challenge ch = { 0 };
	cleanup_free char *body = NULL;
	long long t0 = sp_attest_now_ms(), t1, t2;

	free(c->token);
	c->token = NULL;
	if (challenge(c, &ch, err) < 0)
		return -1;
	t1 = sp_attest_now_ms();
	if (evidence(c, &ch, &body, err) < 0)
		return -1;
	t2 = sp_attest_now_ms();
	if (verify(c, body, err) < 0)
		return -1;
	sp_info("attest",
		"attested to %s with %s evidence (auth %lld ms, evidence %lld ms, attest %lld ms)",
		c->base, sp_evidence_name(c->ev), t1 - t0, t2 - t1, sp_attest_now_ms() - t2);
	return 0;
}

int sp_kbs_client_attest(struct sp_kbs_client *c, struct sp_err *err)
{
	long backoff = BACKOFF_FIRST_MS;

	for (int i = 1;; i++) {
		if (handshake(c, err) == 0)
			return 0;
		if (!c->retryable || i >= 3 || sp_attest_now_ms() + backoff >= c->deadline_ms)
			return -1;
		sp_warn("attest", "%s: %s; starting the handshake again", c->stage, err->msg);
		struct timespec ts = { backoff / 1000, (backoff % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		backoff *= 4;
	}
}

int sp_kbs_client_resource(struct sp_kbs_client *c, const char *uri, uint8_t **data, size_t *len,
			   struct sp_err *err)
{
	char path[600], sub[512], why[240];
	struct resp r = { 0 };
	bool reattested = false;

	*data = NULL;
	if (sp_kbs_parse_uri(uri, sub, sizeof(sub), err) < 0)
		return fail(c, "attest.resource", err, "%s", err->msg);
	(void)snprintf(path, sizeof(path), "resource/%s", sub);
	for (;;) {
		if (!c->token && sp_kbs_client_attest(c, err) < 0)
			return -1;
		if (http(c, "attest.resource", "GET", path, NULL, ATTEMPTS, &r, err) < 0)
			return -1;
		if (r.status == 401 && !reattested) {
			/* The token or session may have expired: one fresh handshake. */
			refusal(c, &r, why, sizeof(why));
			sp_warn("attest", "resource %s: %s; attesting again once", sub, why);
			reattested = true;
			free(c->token);
			c->token = NULL;
			continue;
		}
		if (r.status != 200) {
			refusal(c, &r, why, sizeof(why));
			resp_free(&r);
			return fail(c, "attest.resource", err, "KBS refused resource %s: %s", sub,
				    why);
		}
		break;
	}
	if (sp_jwe_decrypt(c->key, r.body, r.len, data, len, err) < 0) {
		resp_free(&r);
		c->stage = "attest.resource";
		return sp_error_wrap(err, "resource %s", sub);
	}
	resp_free(&r);
	return 0;
}

void sp_kbs_client_free(struct sp_kbs_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->share)
		curl_share_cleanup(c->share);
	free(c->token);
	c->curl = NULL, c->share = NULL, c->token = NULL;
}
