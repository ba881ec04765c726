/* layer-stages: where one layer's time goes in the guest's own pipeline code (init/image/:
 * stream.c, tar.c, apply.c, linked like /init), for tests/bench/bench-image's breakdown line.
 *
 *   layer-stages gzip|zstd|none BLOB DIR
 *
 * Reads BLOB (a layer blob) into memory, then runs it through the stream (blob and diff_id
 * sha256, decompression), the tar reader and the applier into DIR (an empty directory), all in
 * this one thread (the digests on the stream's digest thread), each stage timed on its own in
 * the CPU time of the thread that ran it. The pull itself runs the parser and the applier
 * as two processes (and fetches over TLS); the split of the work is the same. Prints
 *   stages digest_s=.. inflate_s=.. tar_s=.. write_s=.. digest_wait_s=.. total_s=.. blob_bytes=..
 *          tar_bytes=..
 * digest_s is the digest thread's; digest_wait_s how long the rest waited for it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/apply.h"
#include "image/stream.h"
#include "image/tar.h"

struct run {
	struct sp_tar *t;
	struct sp_apply *a;
	double write_s;
};

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stages in this thread's CPU time, like the stream's (stream.h); the total in wall time. */
static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static int on_entry(void *arg, const struct sp_tar_entry *e, struct sp_err *err)
{
	struct run *r = arg;
	double t0 = cpu_s();
	int ret = sp_apply_entry(r->a, e, err);

	r->write_s += cpu_s() - t0;
	return ret;
}

static int on_data(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct run *r = arg;
	double t0 = cpu_s();
	int ret = sp_apply_data(r->a, buf, len, err);

	r->write_s += cpu_s() - t0;
	return ret;
}

static const struct sp_tar_ops ops = { on_entry, on_data };

static int to_tar(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct run *r = arg;

	return sp_tar_feed(r->t, buf, len, err);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	*len = buf ? (size_t)n : 0;
	return buf;
}

int main(int argc, char **argv)
{
	struct sp_stream_times st;
	struct sp_tar_limits lim;
	struct sp_err err = { 0 };
	struct run r = { 0 };
	struct sp_stream *s;
	char blob[SP_DIGEST_LEN + 1], diff[SP_DIGEST_LEN + 1];
	enum sp_compress c;
	size_t len, chunk = (size_t)16 << 10; /* what libcurl hands over at a time */
	uint8_t *buf;
	double t0, t1, write_in_stream;
	int root, ret = 0;

	if (argc != 4)
		return fprintf(stderr, "usage: layer-stages gzip|zstd|none BLOB DIR\n"), 2;
	c = !strcmp(argv[1], "gzip")   ? SP_COMP_GZIP
	    : !strcmp(argv[1], "zstd") ? SP_COMP_ZSTD
				       : SP_COMP_NONE;
	buf = slurp(argv[2], &len);
	root = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!buf || root < 0)
		return fprintf(stderr, "layer-stages: cannot read %s or open %s\n", argv[2],
			       argv[3]),
		       2;
	sp_tar_limits_default(&lim);
	r.t = sp_tar_new(&lim, &ops, &r);
	r.a = sp_apply_new(root, true);
	s = sp_stream_new(c, UINT64_MAX, to_tar, &r);
	if (!r.t || !r.a || !s)
		return fprintf(stderr, "layer-stages: out of memory\n"), 2;
	t0 = now_s();
	for (size_t off = 0; off < len && ret == 0; off += chunk)
		ret = sp_stream_feed(s, buf + off, len - off < chunk ? len - off : chunk, &err);
	if (ret == 0)
		ret = sp_stream_finish(s, blob, diff, &err);
	if (ret == 0)
		ret = sp_tar_finish(r.t, &err);
	t1 = cpu_s();
	write_in_stream = r.write_s;
	if (ret == 0) {
		ret = sp_apply_finish(r.a, &err);
		r.write_s += cpu_s() - t1;
	}
	if (ret < 0)
		return fprintf(stderr, "layer-stages: %s\n", err.msg), 1;
	sp_stream_times(s, &st);
	printf("stages digest_s=%.3f inflate_s=%.3f tar_s=%.3f write_s=%.3f digest_wait_s=%.3f "
	       "total_s=%.3f "
	       "blob_bytes=%llu tar_bytes=%llu\n",
	       (double)st.digest_ns / 1e9, (double)st.inflate_ns / 1e9,
	       (double)st.out_ns / 1e9 - write_in_stream, r.write_s, (double)st.wait_ns / 1e9,
	       now_s() - t0, (unsigned long long)sp_stream_in_bytes(s),
	       (unsigned long long)sp_stream_out_bytes(s));
	sp_stream_free(s);
	sp_tar_free(r.t);
	sp_apply_free(r.a);
	close(root);
	free(buf);
	return 0;
}
