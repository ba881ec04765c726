/* Digest, decompress and cap a layer blob as it streams (stream.h). */
#define _GNU_SOURCE
#include "image/stream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#define OUTBUF ((size_t)128 << 10)

struct sp_stream {
	enum sp_compress c;
	uint64_t max_out, in_bytes, out_bytes;
	sp_stream_out_fn out;
	void *arg;
	EVP_MD_CTX *blob, *diff;
	z_stream z;
	bool z_init, z_member_done; /* gzip: the last member ended (more may follow) */
	ZSTD_DStream *zs;
	size_t zs_last; /* the last ZSTD_decompressStream result: 0 when a frame just ended */
	uint8_t *obuf;
	bool failed;
};

struct sp_stream *sp_stream_new(enum sp_compress c, uint64_t max_out, sp_stream_out_fn out,
				void *arg)
{
	struct sp_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->c = c;
	s->max_out = max_out;
	s->out = out;
	s->arg = arg;
	s->blob = EVP_MD_CTX_new();
	s->diff = EVP_MD_CTX_new();
	s->obuf = malloc(OUTBUF);
	if (!s->blob || !s->diff || !s->obuf || !EVP_DigestInit_ex(s->blob, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(s->diff, EVP_sha256(), NULL))
		goto fail;
	if (c == SP_COMP_GZIP) {
		/* 16 + 15: gzip wrapper only, 32 KiB window. */
		if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
			goto fail;
		s->z_init = true;
	} else if (c == SP_COMP_ZSTD) {
		s->zs = ZSTD_createDStream();
		if (!s->zs)
			goto fail;
		/* Refuse frames that ask for a window over 128 MiB (memory), zstd's default cap. */
		(void)ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 27);
		s->zs_last = 0;
	}
	return s;
fail:
	sp_stream_free(s);
	return NULL;
}

void sp_stream_free(struct sp_stream *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->blob);
	EVP_MD_CTX_free(s->diff);
	if (s->z_init)
		(void)inflateEnd(&s->z);
	if (s->zs)
		ZSTD_freeDStream(s->zs);
	free(s->obuf);
	free(s);
}

uint64_t sp_stream_in_bytes(const struct sp_stream *s)
{
	return s->in_bytes;
}

uint64_t sp_stream_out_bytes(const struct sp_stream *s)
{
	return s->out_bytes;
}

static int emit(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (!len)
		return 0;
	if (len > s->max_out - s->out_bytes) {
		s->failed = true;
		return sp_error(err, 0, "the decompressed layer exceeds the size cap (%llu bytes)",
				(unsigned long long)s->max_out);
	}
	s->out_bytes += len;
	(void)EVP_DigestUpdate(s->diff, buf, len);
	if (s->out(s->arg, buf, len, err) < 0) {
		s->failed = true;
		return -1;
	}
	return 0;
}

static int feed_gzip(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	s->z.next_in = (Bytef *)buf;
	s->z.avail_in = (uInt)len;
	while (s->z.avail_in) {
		int r;

		if (s->z_member_done) {
			/* Another member follows (multi-member gzip, RFC 1952 2.2). */
			if (inflateReset(&s->z) != Z_OK)
				return sp_error(err, 0, "gzip: reset failed");
			s->z_member_done = false;
		}
		s->z.next_out = s->obuf;
		s->z.avail_out = OUTBUF;
		r = inflate(&s->z, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			s->failed = true;
			return sp_error(err, 0, "gzip: %s", s->z.msg ? s->z.msg : "corrupt data");
		}
		if (emit(s, s->obuf, OUTBUF - s->z.avail_out, err) < 0)
			return -1;
		if (r == Z_STREAM_END)
			s->z_member_done = true;
		else if (r == Z_BUF_ERROR && s->z.avail_out == OUTBUF)
			break; /* needs more input */
	}
	return 0;
}

static int feed_zstd(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { s->obuf, OUTBUF, 0 };
		size_t r = ZSTD_decompressStream(s->zs, &out, &in);

		if (ZSTD_isError(r)) {
			s->failed = true;
			return sp_error(err, 0, "zstd: %s", ZSTD_getErrorName(r));
		}
		s->zs_last = r;
		if (emit(s, s->obuf, out.pos, err) < 0)
			return -1;
		/* Done with this input once it is consumed and the decoder holds nothing more
		 * (a full output buffer may mean more is pending; r == 0: a frame ended, flushed). */
		if (in.pos == in.size && (out.pos < OUTBUF || r == 0))
			break;
	}
	return 0;
}

int sp_stream_feed(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (s->failed)
		return sp_error(err, 0, "the layer stream already failed");
	s->in_bytes += len;
	(void)EVP_DigestUpdate(s->blob, buf, len);
	switch (s->c) {
	case SP_COMP_NONE:
		return emit(s, buf, len, err);
	case SP_COMP_GZIP:
		return feed_gzip(s, buf, len, err);
	case SP_COMP_ZSTD:
		return feed_zstd(s, buf, len, err);
	}
	return sp_error(err, 0, "unknown compression");
}

static void hexdigest(EVP_MD_CTX *c, char *out)
{
	unsigned char md[32];
	unsigned int n = 0;

	static const char hex[] = "0123456789abcdef";

	(void)EVP_DigestFinal_ex(c, md, &n);
	(void)snprintf(out, SP_DIGEST_LEN + 1, "sha256:");
	for (size_t i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[SP_DIGEST_LEN] = '\0';
}

int sp_stream_finish(struct sp_stream *s, char *blob_digest, char *diff_digest, struct sp_err *err)
{
	if (s->failed)
		return sp_error(err, 0, "the layer stream already failed");
	if (s->c == SP_COMP_GZIP && !s->z_member_done)
		return sp_error(err, 0, "gzip: the stream is truncated");
	if (s->c == SP_COMP_ZSTD && (s->zs_last != 0 || s->in_bytes == 0))
		return sp_error(err, 0, "zstd: the stream is truncated");
	hexdigest(s->blob, blob_digest);
	hexdigest(s->diff, diff_digest);
	return 0;
}

void sp_sha256_digest(const void *buf, size_t len, char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(c);
		(void)snprintf(out, SP_DIGEST_LEN + 1, "sha256:?");
		return;
	}
	(void)EVP_DigestUpdate(c, buf, len);
	hexdigest(c, out);
	EVP_MD_CTX_free(c);
}

int sp_digest_valid(const char *d)
{
	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != SP_DIGEST_LEN)
		return 0;
	for (int i = 7; i < SP_DIGEST_LEN; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return 0;
	return 1;
}
