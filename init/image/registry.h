/* The registry client (OCI distribution-spec over libcurl + OpenSSL), used only inside the
 * parser child: TLS verified against an in-memory CA bundle, plain HTTP only for a registry
 * marked insecure, anonymous / Basic / Bearer-token auth with a token kept per registry+repo
 * until its expires_in, redirects followed by hand (at most 5) with Authorization dropped when
 * the host changes and never downgraded to http, retries with backoff on transport errors, 429
 * and 5xx, blob downloads resumed with Range, connect and stall timeouts. */
#ifndef SEALPOD_IMAGE_REGISTRY_H
#define SEALPOD_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "image/image_int.h"
#include "image/manifest.h"
#include "lib/err.h"

struct sp_registry {
	char host[256]; /* host[:port] */
	char repo[256];
	bool insecure;
	const char *ca_pem; /* the CA bundle in memory (borrowed) */
	size_t ca_len;
	/* secrets: never logged, wiped by sp_registry_wipe() */
	bool has_creds;
	char user[256], pass[256];
	char token[8192];
	time_t token_expiry;
	enum sp_auth_scheme scheme; /* what the registry asked for last */
	unsigned connect_timeout_s, stall_timeout_s, max_attempts;
	/* One libcurl handle for every request of this registry: reset between requests, it keeps
	 * its connections (keep-alive, TLS sessions) and its CA store. Freed by sp_registry_wipe(). */
	void *curl;
	/* counters */
	unsigned requests, retries, redirects;
};

void sp_registry_init(struct sp_registry *r, const char *host, const char *repo);
void sp_registry_wipe(struct sp_registry *r);

/* GET /v2/<repo>/manifests/<ref> with the explicit Accept list. *body (heap, NUL-terminated)
 * and content_type are filled on success. */
int sp_registry_manifest(struct sp_registry *r, const char *ref, char **body, size_t *len,
			 char *content_type, size_t ct_cap, struct sp_err *err);
/* GET /v2/<repo>/blobs/<digest> into a buffer (configs), at most max bytes. */
int sp_registry_blob_buf(struct sp_registry *r, const char *digest, size_t max, char **body,
			 size_t *len, struct sp_err *err);
/* GET /v2/<repo>/blobs/<digest> streamed into sink (layers), resumed with Range after a
 * transport error. */
int sp_registry_blob_stream(struct sp_registry *r, const char *digest, sp_sink_fn sink, void *arg,
			    struct sp_err *err);

/* Starts r with a bearer token an earlier request got (a longer one than r holds is ignored):
 * sent from the first request on, replaced when the registry answers 401. */
void sp_registry_use_token(struct sp_registry *r, const char *token, uint64_t ttl_s);
/* Seconds r's bearer token has left, 0 when it has none (or it expired). */
uint64_t sp_registry_token_ttl(const struct sp_registry *r);

/* The host part of an http(s) URL ("host[:port]"), for the same-host check; -1 when malformed. */
int sp_url_host(const char *url, char *host, size_t cap, bool *https);

#endif
