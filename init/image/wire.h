/* The frames a pull's processes send each other (lib/worker.h frames; wire.c):
 *
 *   PID 1 (driver.c) -> pull worker (worker.c): IMG_PULL_REQ, IMG_PINNED..., IMG_INSECURE...,
 *       IMG_AUTH, IMG_EXTRA_CA, IMG_SIGPOLICY, IMG_SIGKEY..., then IMG_GO. Back: the result
 *       (below), or an error frame.
 *   pull worker (pull.c) -> metadata worker (meta.c): IMG_REG, IMG_CA, IMG_PINNED...,
 *       IMG_SIGPOLICY, IMG_SIGKEY..., IMG_GO.
 *       Back: IMG_HEAD, an IMG_LAYER per layer, the configuration, IMG_TOKEN, IMG_END; or an
 *       error frame.
 *   pull worker -> layer worker (layer.c, the applier): IMG_REG, IMG_CA, IMG_LAYER_JOB. Back:
 *       IMG_LAYER_DONE or an error frame.
 *   layer worker -> parser worker (layer.c): [IMG_REG, IMG_CA,] IMG_PARSE. Back: IMG_ENTRY and
 *       IMG_DATA records, then IMG_TAR_DONE, or an error frame.
 *   PID 1 -> release worker (worker.c): IMG_RELEASE. Nothing back.
 *
 * The result for PID 1 is IMG_HEAD (digest, mount id), the configuration (IMG_ENTRYPOINT, IMG_CMD
 * and IMG_ENV once per entry, IMG_WORKDIR, IMG_USER), IMG_TOKEN when there is one, what the
 * image's user resolved to (IMG_IDS, or an error frame with ref SP_IMG_REF_USER, the pin's
 * message), then IMG_END. Every fixed record has an exact size and every string a bound; the
 * decoder (sp_img_take) checks lengths, counts, NULs and digest syntax and interprets nothing
 * else. */
#ifndef SEALPOD_IMAGE_WIRE_H
#define SEALPOD_IMAGE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/decrypt.h"
#include "image/image.h"
#include "image/manifest.h"
#include "image/tar.h"
#include "lib/err.h"
#include "lib/validate.h"
#include "lib/worker.h"

enum sp_img_frame {
	/* to a worker */
	IMG_PULL_REQ = 1, /* struct sp_img_pull_req */
	IMG_PINNED,	  /* char[72]: a digest the policy pins */
	IMG_INSECURE,	  /* char[256]: a registry reachable over plain http */
	IMG_AUTH,	  /* containers-auth.json (secret) */
	IMG_EXTRA_CA,	  /* PEM trusted besides the bundle */
	IMG_GO,		  /* the request is complete */
	IMG_REG,	  /* struct sp_img_reg */
	IMG_CA,		  /* the whole CA bundle, PEM */
	IMG_LAYER_JOB,	  /* struct sp_img_layer_job */
	IMG_PARSE,	  /* struct sp_img_parse */
	IMG_RELEASE,	  /* char[700]: an upper dir to remove */
	IMG_SIGPOLICY,	  /* containers-policy.json (initdata's image_security_policy) */
	IMG_SIGKEY,	  /* struct sp_sigkey: a key the policy names by keyPath kbs:/// */
	/* from a worker */
	IMG_HEAD = 32, /* struct sp_img_head */
	IMG_LAYER,     /* struct sp_img_layer */
	IMG_ENTRYPOINT,
	IMG_CMD,
	IMG_ENV,
	IMG_WORKDIR,
	IMG_USER,
	IMG_TOKEN,	/* struct sp_img_token */
	IMG_IDS,	/* uint32_t[2]: uid, gid */
	IMG_END,	/* nothing: what came before is complete */
	IMG_LAYER_DONE, /* uint64_t[2]: blob bytes, tar bytes */
	IMG_ENTRY,	/* a tar entry record (layer.c) */
	IMG_DATA,	/* file content (layer.c) */
	IMG_TAR_DONE,	/* the parser's digests and counts (layer.c) */
	/* encrypted layers (decrypt.h): to the pull, layer and parser workers, and from the
	 * metadata worker */
	IMG_DEC_KEY = 64, /* a decryption key: char uri[512], then its bytes (secret) */
	IMG_LAYER_ENC,	  /* an encrypted layer's annotation: uint32 idx, which; the value */
};

#define SP_IMG_REF_MAX	  1023		    /* bytes of an image reference */
#define SP_IMG_TOKEN_MAX  8192		    /* a bearer token, NUL included */
#define SP_IMG_CA_MAX	  ((size_t)3 << 20) /* the bundle, initdata's CA, the test CA */
#define SP_IMG_AUTH_MAX	  ((size_t)1 << 20)
#define SP_IMG_MAX_PINNED 256
#define SP_IMG_MAX_INSEC  16
#define SP_IMG_REF_USER	  1u /* an error frame's ref: the image's user, not the pull */
#define SP_IMG_UPDIR_MAX  700

/* The registry and its credentials, for a worker that talks to it. Secrets: wiped. */
struct sp_img_reg {
	char ref[SP_IMG_REF_MAX + 1];
	uint8_t insecure, has_creds, pad[6];
	char user[256], pass[256];
	char token[SP_IMG_TOKEN_MAX];
	uint64_t token_ttl;
};

struct sp_img_pull_req {
	char cid[SP_ID_MAX + 1];
	char ref[SP_IMG_REF_MAX + 1];
	char mount_point[SP_PATH_MAX + 1];
	char pod[512];
	uint32_t parallel;
	uint8_t test_overlay, require_encrypted, pad[2];
	char token[SP_IMG_TOKEN_MAX]; /* this repository's token from an earlier pull, or "" */
	uint64_t token_ttl;
};

struct sp_img_layer_job {
	char digest[SP_DIGEST_LEN + 1], diff_id[SP_DIGEST_LEN + 1];
	uint32_t comp; /* enum sp_compress */
	uint8_t chown, sandbox, encrypted, pad;
	uint64_t max_layer;
	char store[512];
};

struct sp_img_parse {
	char blob_digest[SP_DIGEST_LEN + 1], diff_id[SP_DIGEST_LEN + 1];
	uint32_t comp;
	uint32_t encrypted; /* the IMG_DEC_KEY and IMG_LAYER_ENC frames came before */
	struct sp_tar_limits lim;
};

struct sp_img_head {
	char digest[SP_DIGEST_LEN + 1], config_digest[SP_DIGEST_LEN + 1]; /* config: meta only */
	uint64_t mnt_id; /* result only: the overlay mount the pull worker made */
};

struct sp_img_layer {
	char digest[SP_DIGEST_LEN + 1], diff_id[SP_DIGEST_LEN + 1];
	uint32_t comp;
	uint32_t encrypted; /* 1: its IMG_LAYER_ENC frames follow */
	uint64_t size;
};

struct sp_img_token {
	uint64_t ttl;
	char token[SP_IMG_TOKEN_MAX]; /* printable, NUL-terminated */
};

/* What a metadata worker found, or what a pull worker made: decoded by sp_img_take. */
struct sp_meta {
	char digest[72], config_digest[72];
	size_t n;
	struct {
		char digest[72], diff_id[72];
		int comp;
		bool encrypted;
		uint64_t size;
	} layers[SP_IMG_MAX_LAYERS];
	struct sp_enc_annots enc[SP_IMG_MAX_LAYERS]; /* encrypted layers' annotations */
	char **entrypoint, **cmd, **env;
	size_t n_entrypoint, n_cmd, n_env;
	char *workdir, *user;
	char token[SP_IMG_TOKEN_MAX];
	uint64_t token_ttl;
	uint64_t mnt_id;
	bool have_head, have_ids, ended, failed;
	int user_ret; /* the image's user: 0 with uid, gid; -1 with user_err */
	uint32_t uid, gid;
	struct sp_err user_err;
	struct sp_err err; /* failed: the worker's error */
};

enum sp_img_stream { SP_IMG_META, SP_IMG_RESULT };

/* The frame types of the metadata worker's and the pull worker's output, and their tables. */
#define SP_IMG_META_NTYPES   10
#define SP_IMG_RESULT_NTYPES 9
extern const struct sp_frame_type sp_img_meta_types[SP_IMG_META_NTYPES];
extern const struct sp_frame_type sp_img_result_types[SP_IMG_RESULT_NTYPES];
extern const struct sp_frame_table sp_img_meta_out, sp_img_result_out;

/* One frame of a metadata worker's (META) or a pull worker's (RESULT) output into m (zeroed by
 * the caller): 1 when the stream is complete (IMG_END, checked: m->failed false; or an error
 * frame with ref 0: m->failed, m->err), 0 when more is to come, -1 with err when it is
 * malformed. */
int sp_img_take(struct sp_meta *m, enum sp_img_stream which, uint32_t type, const uint8_t *p,
		uint32_t len, struct sp_err *err);
void sp_meta_free(struct sp_meta *m);
/* A complete result (sp_img_take gave 1, not failed) as the pull's result: its strings move
 * from m into r (sp_pull_result_free). */
void sp_img_result(struct sp_meta *m, struct sp_pull_result *r);
void sp_strv_free(char **v);

/* Sends the image configuration and the token (IMG_ENTRYPOINT ... IMG_TOKEN) of m. */
int sp_img_send_config(int fd, char *const *entrypoint, char *const *cmd, char *const *env,
		       const char *workdir, const char *user, const char *token, uint64_t ttl);

/* A pull worker's result r, whole: IMG_HEAD to IMG_END (the pull worker, worker.c). */
int sp_img_send_result(int fd, const struct sp_pull_result *r);

/* The registry settings of o for ref (credentials looked up in o's auth file), and the other
 * way: r set up from w (the CA borrowed). */
struct sp_registry;
void sp_img_reg_from_opts(struct sp_img_reg *w, const struct sp_pull_opts *o,
			  const struct sp_image_ref *ref);
int sp_img_reg_setup(struct sp_registry *r, const struct sp_img_reg *w, const char *ca,
		     size_t ca_len, struct sp_err *err);
/* Sends IMG_REG and IMG_CA. */
int sp_img_send_reg(int fd, const struct sp_img_reg *w, const char *ca, size_t ca_len);

#endif
