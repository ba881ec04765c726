/* Digest, decompress and cap a layer blob as it streams (stream.h).
 *
 * gzip: the member headers are read here (RFC 1952 2.3); the deflate data and the CRC32/ISIZE
 * trailer go through ISA-L's isal_inflate (ISAL_GZIP_NO_HDR_VER), about three times zlib's
 * speed. ISA-L's own header reader is not used: in 2.30 it loses the flags of a header split
 * across two calls, and a registry's chunks may split one. A member ISA-L refuses is refused with
 * ISA-L's reason and the member's number: deflate data either decodes or not (zlib would refuse
 * the same bytes), and a second decoder would need the member's compressed bytes kept. zlib
 * remains for the header CRC (FHCRC).
 *
 * The two sha256 digests run on a thread of their own, overlapped with decompression and the
 * tar reader: the blob's bytes are copied into a ring of NSLOT chunks, the decompressor writes
 * straight into the ring, and the thread hashes each chunk in order once the tar reader is done
 * with it. A stream whose thread cannot be started digests in line. A stage between the blob and
 * the decompressor (decryption) goes in sp_stream_feed, after the blob digest's copy. */
#define _GNU_SOURCE
#include "image/stream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#define OUTBUF ((size_t)128 << 10)
#define NSLOT  8 /* chunks between the decoder and the digest thread: 1 MiB */

enum { FOR_BLOB = 1, FOR_DIFF = 2 };

struct slot {
	uint8_t *buf;
	size_t len;
	unsigned what; /* FOR_BLOB | FOR_DIFF */
};

/* The digest thread's ring: the stream fills slot[head], the thread hashes slot[tail]. */
struct digester {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work, room;
	struct slot slot[NSLOT];
	size_t head, tail, queued;
	bool started, stop;
};

/* The fields of a gzip member header in order, then its deflate data. */
enum gz_at { GZ_FIXED, GZ_XLEN, GZ_EXTRA, GZ_NAME, GZ_COMMENT, GZ_HCRC, GZ_BODY };

#define GZ_FHCRC     0x02
#define GZ_FEXTRA    0x04
#define GZ_FNAME     0x08
#define GZ_FCOMMENT  0x10
#define GZ_FRESERVED 0xe0

struct gz {
	enum gz_at at;
	uint8_t fixed[10];
	size_t have;		    /* bytes collected of the fixed part, XLEN or HCRC */
	size_t extra_left;	    /* FEXTRA bytes still to skip */
	uLong crc;		    /* CRC32 of the header so far, for FHCRC */
	unsigned long long members; /* begun */
	bool ended;		    /* the last member's trailer checked out (another may follow) */
	struct inflate_state st;
};

struct sp_stream {
	enum sp_compress c;
	uint64_t max_out, in_bytes, out_bytes;
	sp_stream_out_fn out;
	void *arg;
	EVP_MD_CTX *blob, *diff;
	struct gz *gz;
	ZSTD_DStream *zs;
	size_t zs_last; /* the last ZSTD_decompressStream result: 0 when a frame just ended */
	struct digester d;
	struct sp_stream_times t; /* digest_ns: written by the digest thread once it runs */
	bool failed;
};

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The stages are timed in the calling thread's CPU time: on a busy machine wall time would count
 * the time others ran. Waiting for the digest thread is wall time. */
static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void hash_slot(struct sp_stream *s, const struct slot *sl)
{
	uint64_t t0 = cpu_ns();

	if (sl->what & FOR_BLOB)
		(void)EVP_DigestUpdate(s->blob, sl->buf, sl->len);
	if (sl->what & FOR_DIFF)
		(void)EVP_DigestUpdate(s->diff, sl->buf, sl->len);
	s->t.digest_ns += cpu_ns() - t0; /* only this thread writes it while it runs */
}

static void *digest_main(void *arg)
{
	struct sp_stream *s = arg;
	struct digester *d = &s->d;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->queued && !d->stop)
			pthread_cond_wait(&d->work, &d->mu);
		if (!d->queued)
			break;
		pthread_mutex_unlock(&d->mu);
		hash_slot(s, &d->slot[d->tail]);
		pthread_mutex_lock(&d->mu);
		d->tail = (d->tail + 1) % NSLOT;
		d->queued--;
		pthread_cond_signal(&d->room);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* The next free chunk of the ring (waits for the thread to free one). */
static uint8_t *slot_take(struct sp_stream *s)
{
	struct digester *d = &s->d;

	if (d->started) {
		pthread_mutex_lock(&d->mu);
		if (d->queued == NSLOT) {
			uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

			while (d->queued == NSLOT)
				pthread_cond_wait(&d->room, &d->mu);
			s->t.wait_ns += clock_ns(CLOCK_MONOTONIC) - t0;
		}
		pthread_mutex_unlock(&d->mu);
	}
	return d->slot[d->head].buf;
}

/* The chunk slot_take gave, len bytes of it filled, to be hashed for what. */
static void slot_give(struct sp_stream *s, size_t len, unsigned what)
{
	struct digester *d = &s->d;

	if (!len)
		return;
	d->slot[d->head].len = len;
	d->slot[d->head].what = what;
	if (!d->started) {
		hash_slot(s, &d->slot[d->head]);
		return;
	}
	pthread_mutex_lock(&d->mu);
	d->head = (d->head + 1) % NSLOT;
	d->queued++;
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->mu);
}

/* Waits until every chunk given is hashed. */
static void digests_drain(struct sp_stream *s)
{
	struct digester *d = &s->d;

	if (!d->started)
		return;
	pthread_mutex_lock(&d->mu);
	while (d->queued)
		pthread_cond_wait(&d->room, &d->mu);
	pthread_mutex_unlock(&d->mu);
}

static int digester_start(struct sp_stream *s)
{
	struct digester *d = &s->d;

	for (size_t i = 0; i < NSLOT; i++)
		if (!(d->slot[i].buf = malloc(OUTBUF)))
			return -1;
	if (pthread_mutex_init(&d->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&d->work, NULL) != 0 || pthread_cond_init(&d->room, NULL) != 0) {
		pthread_mutex_destroy(&d->mu);
		return -1;
	}
	d->started = pthread_create(&d->th, NULL, digest_main, s) == 0;
	return 0;
}

static void digester_stop(struct sp_stream *s)
{
	struct digester *d = &s->d;

	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->stop = true;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->th, NULL);
		pthread_cond_destroy(&d->work);
		pthread_cond_destroy(&d->room);
		pthread_mutex_destroy(&d->mu);
	}
	for (size_t i = 0; i < NSLOT; i++)
		free(d->slot[i].buf);
}

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
	if (digester_start(s) < 0 || !s->blob || !s->diff ||
	    !EVP_DigestInit_ex(s->blob, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(s->diff, EVP_sha256(), NULL))
		goto fail;
	if (c == SP_COMP_GZIP) {
		s->gz = calloc(1, sizeof(*s->gz));
		if (!s->gz)
			goto fail;
		s->gz->ended = true; /* a member header comes first */
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
	digester_stop(s); /* first: its last chunks go into the contexts freed below */
	EVP_MD_CTX_free(s->blob);
	EVP_MD_CTX_free(s->diff);
	free(s->gz);
	if (s->zs)
		ZSTD_freeDStream(s->zs);
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

void sp_stream_times(struct sp_stream *s, struct sp_stream_times *t)
{
	digests_drain(s); /* the thread's last update happened before its last release of mu */
	*t = s->t;
}

/* Decoded bytes (in a chunk of the ring) to the out function, then to the digest thread. */
static int emit(struct sp_stream *s, const uint8_t *buf, size_t len, unsigned what,
		struct sp_err *err)
{
	uint64_t t0;
	int r;

	if (!len)
		return 0;
	if (len > s->max_out - s->out_bytes) {
		s->failed = true;
		return sp_error(err, 0, "the decompressed layer exceeds the size cap (%llu bytes)",
				(unsigned long long)s->max_out);
	}
	s->out_bytes += len;
	t0 = cpu_ns();
	r = s->out(s->arg, buf, len, err);
	s->t.out_ns += cpu_ns() - t0;
	if (r < 0) {
		s->failed = true;
		return -1;
	}
	slot_give(s, len, what);
	return 0;
}

/* The next field this header has after g->at: 1 when only the deflate data is left. */
static int gz_advance(struct gz *g)
{
	static const uint8_t flag_of[GZ_BODY] = {
		[GZ_XLEN] = GZ_FEXTRA,
		[GZ_NAME] = GZ_FNAME,
		[GZ_COMMENT] = GZ_FCOMMENT,
		[GZ_HCRC] = GZ_FHCRC,
	};

	g->have = 0;
	while (++g->at != GZ_BODY)
		if (g->at == GZ_EXTRA ? g->extra_left != 0 : (g->fixed[3] & flag_of[g->at]) != 0)
			return 0;
	isal_inflate_init(&g->st);
	g->st.crc_flag = ISAL_GZIP_NO_HDR_VER; /* raw deflate, then the trailer checked */
	return 1;
}

static int gz_fixed_byte(struct gz *g, uint8_t b, struct sp_err *err)
{
	static const uint8_t magic[2] = { 0x1f, 0x8b };
	size_t i = g->have++;

	g->fixed[i] = b;
	if (i < sizeof(magic) && b != magic[i])
		return g->members > 1
			       ? sp_error(err, 0,
					  "gzip: the bytes after member %llu are not a gzip member",
					  g->members - 1)
			       : sp_error(err, 0, "gzip: no gzip magic at the start of the blob");
	if (g->have < sizeof(g->fixed))
		return 0;
	if (g->fixed[2] != 8)
		return sp_error(err, 0, "gzip: member %llu: compression method %u, not deflate",
				g->members, g->fixed[2]);
	if (g->fixed[3] & GZ_FRESERVED)
		return sp_error(err, 0, "gzip: member %llu: reserved header flags set", g->members);
	return gz_advance(g);
}

/* One header byte: 1 the header is complete, 0 more wanted, -1 refused. */
static int gz_header_byte(struct gz *g, uint8_t b, struct sp_err *err)
{
	if (g->at != GZ_HCRC)
		g->crc = crc32(g->crc, &b, 1);
	switch (g->at) {
	case GZ_FIXED:
		return gz_fixed_byte(g, b, err);
	case GZ_XLEN:
		g->extra_left |= (size_t)b << (8 * g->have++);
		return g->have < 2 ? 0 : gz_advance(g);
	case GZ_EXTRA:
		return --g->extra_left ? 0 : gz_advance(g);
	case GZ_NAME:
	case GZ_COMMENT:
		return b ? 0 : gz_advance(g);
	case GZ_HCRC:
		if (g->have++ == 0 ? b != (g->crc & 0xff) : b != ((g->crc >> 8) & 0xff))
			return sp_error(err, 0, "gzip: member %llu: header CRC mismatch",
					g->members);
		return g->have < 2 ? 0 : gz_advance(g);
	case GZ_BODY:
		break;
	}
	return 1;
}

static const char *isal_reason(int r)
{
	switch (r) {
	case ISAL_INVALID_BLOCK:
		return "an invalid deflate block";
	case ISAL_INVALID_SYMBOL:
		return "an invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK:
		return "a distance too far back";
	case ISAL_INCORRECT_CHECKSUM:
		return "the CRC32 or length of its trailer does not match its data";
	default:
		return "corrupt data";
	}
}

/* Deflate data of the current member from *buf: consumed bytes are taken off *buf and *len. */
static int gz_body(struct sp_stream *s, const uint8_t **buf, size_t *len, struct sp_err *err)
{
	struct gz *g = s->gz;
	uint32_t n = *len > UINT32_MAX ? UINT32_MAX : (uint32_t)*len;

	g->st.next_in = (uint8_t *)*buf;
	g->st.avail_in = n;
	for (;;) {
		uint32_t in_before = g->st.avail_in;
		uint8_t *o = slot_take(s);
		uint64_t t0 = cpu_ns();
		int r;

		g->st.next_out = o;
		g->st.avail_out = (uint32_t)OUTBUF;
		r = isal_inflate(&g->st);
		s->t.inflate_ns += cpu_ns() - t0;
		if (r < 0) {
			s->failed = true;
			return sp_error(err, 0, "gzip: member %llu: ISA-L refused %s", g->members,
					isal_reason(r));
		}
		if (emit(s, o, OUTBUF - g->st.avail_out, FOR_DIFF, err) < 0)
			return -1;
		if (g->st.block_state == ISAL_BLOCK_FINISH) {
			g->ended = true;
			break;
		}
		if (g->st.avail_in == 0 && g->st.avail_out)
			break; /* all input taken, all output given: more input wanted */
		if (g->st.avail_in == in_before && g->st.avail_out == OUTBUF) {
			s->failed = true; /* never spin on a decoder that stopped moving */
			return sp_error(err, 0, "gzip: member %llu: the decoder made no progress",
					g->members);
		}
	}
	*buf += n - g->st.avail_in;
	*len -= n - g->st.avail_in;
	return 0;
}

static int feed_gzip(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct gz *g = s->gz;

	while (len) {
		int r = 0;

		if (g->ended) { /* another member (multi-member gzip, RFC 1952 2.2) */
			memset(g, 0, offsetof(struct gz, members));
			g->members++;
			g->ended = false;
		}
		if (g->at == GZ_BODY) {
			if (gz_body(s, &buf, &len, err) < 0)
				return -1;
			continue;
		}
		while (len && r == 0) {
			r = gz_header_byte(g, *buf++, err);
			len--;
		}
		if (r < 0) {
			s->failed = true;
			return -1;
		}
	}
	return 0;
}

static int feed_zstd(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { slot_take(s), OUTBUF, 0 };
		uint64_t t0 = cpu_ns();
		size_t r = ZSTD_decompressStream(s->zs, &out, &in);

		s->t.inflate_ns += cpu_ns() - t0;
		if (ZSTD_isError(r)) {
			s->failed = true;
			return sp_error(err, 0, "zstd: %s", ZSTD_getErrorName(r));
		}
		s->zs_last = r;
		if (emit(s, out.dst, out.pos, FOR_DIFF, err) < 0)
			return -1;
		/* Done with this input once it is consumed and the decoder holds nothing more
		 * (a full output buffer may mean more is pending; r == 0: a frame ended, flushed). */
		if (in.pos == in.size && (out.pos < OUTBUF || r == 0))
			break;
	}
	return 0;
}

/* The blob's bytes, copied into the ring for the blob digest; for an uncompressed layer they are
 * the decoded bytes too. */
static int feed_blob(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	while (len) {
		size_t n = len < OUTBUF ? len : OUTBUF;
		uint8_t *b = slot_take(s);

		memcpy(b, buf, n);
		if (s->c != SP_COMP_NONE)
			slot_give(s, n, FOR_BLOB);
		else if (emit(s, b, n, FOR_BLOB | FOR_DIFF, err) < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

int sp_stream_feed(struct sp_stream *s, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (s->failed)
		return sp_error(err, 0, "the layer stream already failed");
	s->in_bytes += len;
	if (feed_blob(s, buf, len, err) < 0)
		return -1;
	switch (s->c) {
	case SP_COMP_NONE:
		return 0;
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
	if (s->c == SP_COMP_GZIP && (!s->gz->ended || !s->gz->members))
		return sp_error(err, 0, "gzip: the stream is truncated");
	if (s->c == SP_COMP_ZSTD && (s->zs_last != 0 || s->in_bytes == 0))
		return sp_error(err, 0, "zstd: the stream is truncated");
	digests_drain(s);
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
