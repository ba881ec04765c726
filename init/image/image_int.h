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
#include "lib/err.h"

/* --- the parser child's confinement (sandbox.c) ---------------------------------------------- */
/* Called in a freshly forked child that holds every capability (PID 1's or the worker's): closes
 * every fd but 2 and keep[], enters the sandbox. network: TCP/UDP sockets stay possible. */
int sp_image_sandbox(const int *keep, size_t nkeep, bool network, struct sp_err *err);

/* --- one layer: parser child -> entry stream -> applier (layer.c) ----------------------------- */
typedef int (*sp_sink_fn)(void *arg, const uint8_t *buf, size_t len, struct sp_err *err);
/* Fetches a blob in the parser child, pushing its bytes into sink. */
typedef int (*sp_fetch_fn)(void *ctx, sp_sink_fn sink, void *sink_arg, struct sp_err *err);

struct sp_layer_job {
	int in_fd;	   /* >= 0: the blob comes from this fd */
	sp_fetch_fn fetch; /* else from here (in the child, with network) */
	void *fetch_ctx;
	enum sp_compress comp;
	const char *blob_digest; /* expected "sha256:..." */
	const char *diff_id;	 /* expected "sha256:..." */
	struct sp_tar_limits lim;
	bool chown;   /* apply uid/gid (false: unprivileged tests) */
	bool sandbox; /* confine the parser child (false only where unshare is impossible) */
};

struct sp_layer_result {
	struct sp_apply_stats st;
	uint64_t blob_bytes, tar_bytes;
};

/* Unpacks one layer into the directory root_fd (borrowed; empty). Returns 0, or -1 with err
 * ("pull.layer: ..." or "pull.unpack: ..."): the caller removes what was written. */
int sp_layer_unpack(const struct sp_layer_job *j, int root_fd, struct sp_layer_result *res,
		    struct sp_err *err);

/* The parser half alone, in this process (fuzzing, tests): bytes -> stream -> tar -> apply. */
struct sp_layer_pipe;
struct sp_layer_pipe *sp_layer_pipe_new(enum sp_compress comp, const struct sp_tar_limits *lim,
					sp_sink_fn rec_out, void *rec_arg);
int sp_layer_pipe_feed(void *pipe, const uint8_t *buf, size_t len, struct sp_err *err);
int sp_layer_pipe_finish(struct sp_layer_pipe *p, char *blob, char *diff, struct sp_err *err);
void sp_layer_pipe_free(struct sp_layer_pipe *p);

/* --- a pull worker's result for PID 1 (pull.c) ----------------------------------------------- */
struct sp_pull_result;
/* error != NULL: a failure report (message, kind and stage). *out is heap. */
int sp_pull_result_encode(const struct sp_pull_result *r, const struct sp_err *error, uint8_t **out,
			  size_t *len);
/* Fills r (digest and process defaults only), or error (message escaped, kind and stage) with
 * error->msg[0] set. -1: malformed. */
int sp_pull_result_decode(const uint8_t *p, size_t len, struct sp_pull_result *r,
			  struct sp_err *error);

/* --- the pull's failures by stage (pull.c) ------------------------------------------------------
 * A pull's error names its stage, and the stage decides the kind the caller sees: credentials
 * (pull.auth) are a refusal, a reference that does not resolve to an image we accept
 * (pull.manifest) is not found, anything later a failed precondition. */
int sp_pull_fail(struct sp_err *err, enum sp_stage stage, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* sp_error_wrap, then the stage (and its kind) unless the error has a stage already. */
int sp_pull_wrap(struct sp_err *err, enum sp_stage stage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The error a metadata child's list carried (wire.c). */
struct sp_meta;
void sp_meta_error(const struct sp_meta *m, struct sp_err *err);

#endif
