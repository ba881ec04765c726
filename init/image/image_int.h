/* Internals of the image module shared by its files (not a public interface: image.h is). */
#ifndef SEALPOD_IMAGE_INT_H
#define SEALPOD_IMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/apply.h"
#include "image/stream.h"
#include "image/tar.h"
#include "lib/confine.h"
#include "lib/err.h"

/* --- the confinement of a pull's processes (confine.c) ------------------------------------- */
/* [0]: a parser reading a blob from an fd (no network); [1]: one that fetches (meta too). */
extern const struct sp_confine sp_image_parser_confine[2];
extern const struct sp_confine sp_image_applier_confine, sp_image_pull_confine,
	sp_image_release_confine;

/* --- one layer: parser child -> entry stream -> applier (layer.c) ----------------------------- */
typedef int (*sp_sink_fn)(void *arg, const uint8_t *buf, size_t len, struct sp_err *err);

struct sp_img_reg;
struct sp_enc_annots;
struct sp_dec_keys;
struct sp_layer_job {
	int in_fd; /* >= 0: the blob comes from this fd */
	/* else the parser fetches it from the registry with these (wire.h) */
	const struct sp_img_reg *reg;
	const char *ca;
	size_t ca_len;
	enum sp_compress comp;
	const char *blob_digest; /* expected "sha256:..." */
	const char *diff_id;	 /* expected "sha256:..." */
	struct sp_tar_limits lim;
	/* an encrypted layer (decrypt.h): its annotations and the keys; NULL when plain */
	const struct sp_enc_annots *enc;
	const struct sp_dec_keys *keys;
	bool chown;   /* apply uid/gid (false: unprivileged tests) */
	bool sandbox; /* confine the parser (false only where unshare is impossible) */
};

struct sp_layer_result {
	struct sp_apply_stats st;
	uint64_t blob_bytes, tar_bytes;
};

/* Unpacks one layer into the directory root_fd (borrowed; empty), the parser a worker of its own
 * (layer-fetch or layer-read). Returns 0, or -1 with err ("pull.layer: ..." or
 * "pull.unpack: ..."): the caller removes what was written. */
int sp_layer_unpack(const struct sp_layer_job *j, int root_fd, struct sp_layer_result *res,
		    struct sp_err *err);

/* The parser half alone, in this process (fuzzing, tests): bytes -> stream -> tar -> apply. */
struct sp_layer_pipe;
struct sp_layer_pipe *sp_layer_pipe_new(enum sp_compress comp, const struct sp_tar_limits *lim,
					sp_sink_fn rec_out, void *rec_arg);
int sp_layer_pipe_feed(void *pipe, const uint8_t *buf, size_t len, struct sp_err *err);
int sp_layer_pipe_finish(struct sp_layer_pipe *p, char *blob, char *diff, struct sp_err *err);
void sp_layer_pipe_free(struct sp_layer_pipe *p);
/* Makes p decrypt what it is fed first (an encrypted layer): the blob digest it reports is the
 * ciphertext's, and finishing fails unless the HMAC holds. 0 or -1 (out of memory). */
struct sp_enc_pub;
struct sp_enc_priv;
int sp_layer_pipe_decrypt(struct sp_layer_pipe *p, const struct sp_enc_pub *pub,
			  const struct sp_enc_priv *priv);
/* An encrypted layer's annotations and the keys (keys may be NULL: none), as the frames before
 * a layer or parse job (decrypt_pipe.c); nothing for a plain layer. */
struct sp_enc_layer;
/* The layer key from cr (decrypt.h: sp_enc_layer_keys) set up in p: 0, or -1 with err
 * ("pull.layer: decrypt: ..."). */
int sp_layer_open_crypt(struct sp_layer_pipe *p, const struct sp_enc_layer *cr, struct sp_err *err);
int sp_layer_send_crypt(int fd, bool encrypted, const struct sp_dec_keys *keys,
			const struct sp_enc_annots *a);

/* --- the pull's failures by stage (pull.c) ------------------------------------------------------
 * A pull's error names its stage, and the stage decides the kind the caller sees: credentials
 * (pull.auth) are a refusal, a reference that does not resolve to an image we accept
 * (pull.manifest) is not found, anything later a failed precondition. */
int sp_pull_fail(struct sp_err *err, enum sp_stage stage, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* sp_error_wrap, then the stage (and its kind) unless the error has a stage already. */
int sp_pull_wrap(struct sp_err *err, enum sp_stage stage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The policy's pinned digests: digest, what ref resolved to, must be one of the n (none: any). */
/* The policy's require_encrypted_layers: every layer of m encrypted (decrypt_pipe.c). */
struct sp_meta;
int sp_pull_check_encrypted(const char *ref, const struct sp_meta *m, struct sp_err *err);
int sp_pull_check_pinned(const char *ref, const char *const *pinned, size_t n, const char *digest,
			 struct sp_err *err);

#endif
