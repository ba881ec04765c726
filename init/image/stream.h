/* A layer blob as it streams in (parser child): sha256 of the compressed bytes, decompression
 * (none, gzip with any number of members, zstd with any number of frames), sha256 of the
 * decompressed bytes (the diff_id), a cap on the decompressed size (decompression bombs), and
 * the decompressed bytes handed on (to the tar reader). Pure computation: no I/O. */
#ifndef SEALPOD_IMAGE_STREAM_H
#define SEALPOD_IMAGE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum sp_compress { SP_COMP_NONE = 0, SP_COMP_GZIP, SP_COMP_ZSTD };

#define SP_DIGEST_LEN 71 /* "sha256:" + 64 hex */

typedef int (*sp_stream_out_fn)(void *arg, const uint8_t *buf, size_t len, struct sp_err *err);

struct sp_stream; /* opaque */

struct sp_stream *sp_stream_new(enum sp_compress c, uint64_t max_out, sp_stream_out_fn out,
				void *arg);
void sp_stream_free(struct sp_stream *s);
int sp_stream_feed(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err);
/* End of input: the compressed stream must be complete. Fills "sha256:<hex>" of the blob and of
 * the decompressed bytes (buffers of SP_DIGEST_LEN + 1). */
int sp_stream_finish(struct sp_stream *s, char *blob_digest, char *diff_digest, struct sp_err *err);
uint64_t sp_stream_in_bytes(const struct sp_stream *s);
uint64_t sp_stream_out_bytes(const struct sp_stream *s);

/* Where a stream's time went so far, in ns of the CPU time of the thread that did it: the two
 * sha256 digests (on the stream's digest thread, overlapped with the rest), decompression, the
 * out function (the tar reader and what it calls); and, in wall time, how long the stream waited
 * for the digest thread to free a chunk. Always kept: a clock read per chunk. Waits for the
 * digest thread. */
struct sp_stream_times {
	uint64_t digest_ns, inflate_ns, out_ns, wait_ns;
};
void sp_stream_times(struct sp_stream *s, struct sp_stream_times *t);

/* sha256 of buf as "sha256:<hex>" (out: SP_DIGEST_LEN + 1 bytes). */
void sp_sha256_digest(const void *buf, size_t len, char *out);
/* True when d is "sha256:" followed by 64 lowercase hex digits. */
int sp_digest_valid(const char *d);

#endif
