/* What comes from a registry as JSON or headers, parsed in the parser child (all pure, all
 * fuzzed: tests/fuzz/fuzz_manifest.c, tests/fuzz/fuzz_auth.c):
 *   references   [host[:port]/]name[:tag][@sha256:...] (distribution-spec grammar)
 *   manifests    OCI manifest and index, Docker v2 manifest and manifest list; schema1 refused;
 *                the body's mediaType must agree with the Content-Type (CVE-2021-41190)
 *   configs      rootfs.diff_ids and the process defaults (Entrypoint, Cmd, Env, WorkingDir, User)
 *   auth         WWW-Authenticate challenges, token responses, containers-auth.json lookup */
#ifndef SEALPOD_IMAGE_MANIFEST_H
#define SEALPOD_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/stream.h"
#include "lib/err.h"

#define SP_IMG_MAX_LAYERS 128
#define SP_IMG_MAX_INDEX  256
#define SP_IMG_MAX_JSON	  (4u << 20) /* a manifest, index, config or token response */
#define SP_IMG_MAX_ARGS	  256	     /* Entrypoint + Cmd entries */
#define SP_IMG_MAX_ENV	  512
#define SP_IMG_STR_MAX	  4096

#define SP_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define SP_MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define SP_MT_DOCKER_V2	   "application/vnd.docker.distribution.manifest.v2+json"
#define SP_MT_DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define SP_MT_ACCEPT                                                                               \
	SP_MT_OCI_MANIFEST ", " SP_MT_OCI_INDEX ", " SP_MT_DOCKER_V2 ", " SP_MT_DOCKER_LIST

/* --- references --------------------------------------------------------------------------- */
struct sp_image_ref {
	char host[256];	    /* registry host[:port] as in the reference ("docker.io" by default) */
	char api_host[256]; /* where to send requests (registry-1.docker.io for docker.io) */
	char repo[256];	    /* name, e.g. library/busybox */
	char tag[129];	    /* "" when pulled by digest only */
	char digest[SP_DIGEST_LEN + 1]; /* "" unless @sha256:... was given */
};
int sp_image_ref_parse(const char *s, struct sp_image_ref *r, struct sp_err *err);

/* --- manifests ---------------------------------------------------------------------------- */
struct sp_descriptor {
	char media_type[128];
	char digest[SP_DIGEST_LEN + 1];
	uint64_t size;
	char os[32], arch[32], variant[16]; /* index entries only */
	bool has_platform;
	/* ocicrypt (+encrypted media types, decrypt.h): the annotations' values, heap, NULL when
	 * absent; pubopts and at least one key wrapper are there when encrypted. */
	bool encrypted;
	char *enc_pub, *enc_jwe, *enc_aa;
};

struct sp_manifest {
	bool is_index;
	struct sp_descriptor config;
	struct sp_descriptor entries[SP_IMG_MAX_INDEX]; /* layers (manifest) or manifests (index) */
	size_t n;
};

/* Parses body as the manifest the registry says it is (content_type, parameters ignored).
 * Refuses schema1, unknown or disagreeing media types, non-sha256 digests, layer media types
 * other than tar, tar+gzip, tar+zstd (each also +encrypted, with its annotations) and the Docker
 * gzip type, and more than the caps. m must be zeroed before its first parse (its annotations
 * are freed by the next parse or sp_manifest_free). */
int sp_manifest_parse(const char *body, size_t len, const char *content_type, struct sp_manifest *m,
		      struct sp_err *err);
/* The first linux/amd64 entry of an index (index-spec: the first match wins); -1 when none. */
int sp_index_select(const struct sp_manifest *m, const char *os, const char *arch);
/* The compression of a layer media type (+encrypted too); -1 when unsupported. */
int sp_layer_compression(const char *media_type);
/* True for ocicrypt's +encrypted layer types. */
bool sp_layer_encrypted(const char *media_type);
/* Frees what the entries hold (their annotations); the manifest (zeroed once before its first
 * parse, as calloc does) can be parsed into again. */
void sp_manifest_free(struct sp_manifest *m);

/* --- image configs ------------------------------------------------------------------------ */
struct sp_image_config {
	char diff_ids[SP_IMG_MAX_LAYERS][SP_DIGEST_LEN + 1];
	size_t n_diff_ids;
	char **entrypoint, **cmd, **env; /* NULL-terminated, heap */
	size_t n_entrypoint, n_cmd, n_env;
	char *workdir, *user; /* heap, "" when unset */
	char os[32], arch[32];
};
int sp_config_parse(const char *body, size_t len, struct sp_image_config *c, struct sp_err *err);
void sp_config_free(struct sp_image_config *c);

/* --- auth --------------------------------------------------------------------------------- */
enum sp_auth_scheme { SP_AUTH_NONE = 0, SP_AUTH_BASIC, SP_AUTH_BEARER };
struct sp_challenge {
	enum sp_auth_scheme scheme;
	char realm[1024], service[256], scope[512];
};
/* One WWW-Authenticate header value (RFC 6750 3 / RFC 7235 auth-params). */
int sp_auth_parse_challenge(const char *hdr, size_t len, struct sp_challenge *c,
			    struct sp_err *err);
/* A token endpoint's JSON: "token" or "access_token"; expires_in (default 60, floor 60). */
int sp_auth_parse_token(const char *body, size_t len, char *token, size_t cap, unsigned *expires_in,
			struct sp_err *err);
/* containers-auth.json: the credentials of the longest "auths" key that prefixes host/repo
 * (or equals host). Returns 1 and fills user/pass, 0 when none matches, -1 when malformed. */
int sp_auth_json_lookup(const char *json, size_t len, const char *host, const char *repo,
			char *user, size_t ucap, char *pass, size_t pcap, struct sp_err *err);

#endif
