/* The layer stream's gzip decoder (init/image/stream.c: our member-header reader, ISA-L's
 * inflate) against zlib on the same real gzip streams: every member layout gzip and registries
 * produce (multi-member, FEXTRA/FNAME/FCOMMENT/FHCRC), in every chunking; and the malformed
 * streams it must refuse, each refused by zlib too (truncated, bad CRC, bad length, trailing
 * garbage, corrupt deflate data, bad header fields). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "image/stream.h"
#include "unit.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Real bytes: this test binary's own file, compressible like a layer's libraries. */
static void real_data(struct buf *b, size_t max)
{
	FILE *f = fopen("/proc/self/exe", "rb");
	uint8_t chunk[65536];
	size_t n;

	if (!f)
		abort();
	while (b->len < max && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		put(b, chunk, n < max - b->len ? n : max - b->len);
	fclose(f);
}

/* One gzip member of in[0..n) appended to out, by zlib; hdr NULL: a plain header. */
static void gz_member(const uint8_t *in, size_t n, gz_header *hdr, struct buf *out)
{
	z_stream z = { 0 };
	uint8_t tmp[65536];
	int r;

	if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	if (hdr && deflateSetHeader(&z, hdr) != Z_OK)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	do {
		z.next_out = tmp;
		z.avail_out = sizeof(tmp);
		r = deflate(&z, Z_FINISH);
		put(out, tmp, sizeof(tmp) - z.avail_out);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
}

/* zlib's reading of a multi-member stream: 0 with out filled, or -1 (refused or truncated). */
static int zlib_inflate_all(const struct buf *in, struct buf *out)
{
	z_stream z = { 0 };
	uint8_t tmp[65536];
	int r = Z_OK;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		abort();
	z.next_in = in->p;
	z.avail_in = (uInt)in->len;
	while (z.avail_in || r != Z_STREAM_END) {
		if (r == Z_STREAM_END && inflateReset(&z) != Z_OK)
			break;
		z.next_out = tmp;
		z.avail_out = sizeof(tmp);
		r = inflate(&z, Z_NO_FLUSH);
		put(out, tmp, sizeof(tmp) - z.avail_out);
		if (r != Z_OK && r != Z_STREAM_END)
			break;
	}
	inflateEnd(&z);
	return r == Z_STREAM_END && z.avail_in == 0 ? 0 : -1;
}

static int collect(void *arg, const uint8_t *p, size_t n, struct sp_err *err)
{
	put(arg, p, n);
	return 0;
}

/* Ours, in chunks of `chunk` bytes: 0 with out and the diff digest filled, or -1 with err. */
static int ours(const struct buf *in, size_t chunk, struct buf *out, char *diff, struct sp_err *err)
{
	struct sp_stream *s = sp_stream_new(SP_COMP_GZIP, UINT64_MAX, collect, out);
	char blob[SP_DIGEST_LEN + 1];
	int r = 0;

	if (!s)
		abort();
	for (size_t off = 0; off < in->len && r == 0; off += chunk)
		r = sp_stream_feed(s, in->p + off, in->len - off < chunk ? in->len - off : chunk,
				   err);
	if (r == 0)
		r = sp_stream_finish(s, blob, diff, err);
	sp_stream_free(s);
	return r;
}

/* Both decoders on in: both accept it with the same bytes (== want), in every chunking. */
static int agree(const struct buf *in, const struct buf *want)
{
	static const size_t chunks[] = { 1, 3, 10, 11, 4096, 65536, SIZE_MAX };
	struct buf z = { 0 };
	char want_d[SP_DIGEST_LEN + 1];
	int ok = zlib_inflate_all(in, &z) == 0 && z.len == want->len &&
		 memcmp(z.p, want->p, z.len) == 0;

	sp_sha256_digest(want->p, want->len, want_d);
	for (size_t i = 0; ok && i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct buf o = { 0 };
		struct sp_err err = { 0 };
		char d[SP_DIGEST_LEN + 1];

		ok = ours(in, chunks[i] == SIZE_MAX ? in->len : chunks[i], &o, d, &err) == 0 &&
		     o.len == want->len && memcmp(o.p, want->p, o.len) == 0 &&
		     strcmp(d, want_d) == 0;
		if (!ok)
			fprintf(stderr, "    chunk %zu: %s\n", chunks[i], err.msg);
		free(o.p);
	}
	free(z.p);
	return ok;
}

/* Both decoders refuse in; ours says why, and its reason contains want. */
static int both_refuse(const struct buf *in, const char *want)
{
	static const size_t chunks[] = { 1, 7, 4096, SIZE_MAX };
	struct buf z = { 0 };
	int ok = zlib_inflate_all(in, &z) < 0;

	for (size_t i = 0; ok && i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct buf o = { 0 };
		struct sp_err err = { 0 };
		char d[SP_DIGEST_LEN + 1];

		ok = ours(in, chunks[i] == SIZE_MAX ? in->len : chunks[i], &o, d, &err) < 0 &&
		     strstr(err.msg, want) != NULL;
		if (!ok)
			fprintf(stderr, "    chunk %zu: '%s', wanted '%s'\n", chunks[i], err.msg,
				want);
		free(o.p);
	}
	free(z.p);
	return ok;
}

TEST(image_stream_gzip_one_member_matches_zlib)
{
	struct buf data = { 0 }, gz = { 0 };

	real_data(&data, (size_t)3 << 20); /* many output buffers, stored and dynamic blocks */
	REQUIRE(data.len > (size_t)1 << 20);
	gz_member(data.p, data.len, NULL, &gz);
	CHECK(agree(&gz, &data));
	free(data.p), free(gz.p);
}

TEST(image_stream_gzip_members_and_header_fields_match_zlib)
{
	struct buf data = { 0 }, gz = { 0 };
	uint8_t extra[300];
	char name[] = "layer.tar", comment[] = "a comment, longer than one small chunk";
	gz_header h = { 0 };
	size_t third;

	real_data(&data, (size_t)600 << 10);
	third = data.len / 3;
	for (size_t i = 0; i < sizeof(extra); i++)
		extra[i] = (uint8_t)(i * 7);
	gz_member(data.p, third, NULL, &gz);
	h.extra = extra, h.extra_len = sizeof(extra), h.name = (Bytef *)name;
	h.comment = (Bytef *)comment, h.hcrc = 1, h.os = 3;
	gz_member(data.p + third, third, &h, &gz);
	memset(&h, 0, sizeof(h));
	h.name = (Bytef *)name;
	gz_member(data.p + 2 * third, 0, &h, &gz); /* an empty member in the middle */
	gz_member(data.p + 2 * third, data.len - 2 * third, &h, &gz);
	CHECK(agree(&gz, &data));
	free(data.p), free(gz.p);
}

TEST(image_stream_gzip_truncated_refused)
{
	struct buf data = { 0 }, gz = { 0 }, cut = { 0 };
	gz_header h = { 0 };
	char name[] = "n";

	real_data(&data, 20000);
	h.name = (Bytef *)name, h.hcrc = 1;
	gz_member(data.p, data.len, &h, &gz);
	/* Every cut: inside the header, the deflate data and the trailer; and nothing at all. */
	for (size_t keep = 0; keep < gz.len; keep += keep < 20 || keep > gz.len - 12 ? 1 : 997) {
		cut.len = 0;
		put(&cut, gz.p, keep);
		CHECK(both_refuse(&cut, "truncated"));
	}
	free(data.p), free(gz.p), free(cut.p);
}

TEST(image_stream_gzip_bad_trailer_refused)
{
	struct buf data = { 0 }, gz = { 0 };

	real_data(&data, 50000);
	gz_member(data.p, data.len, NULL, &gz);
	gz.p[gz.len - 8] ^= 1; /* the CRC32 */
	CHECK(both_refuse(&gz, "member 1: ISA-L refused the CRC32 or length"));
	gz.p[gz.len - 8] ^= 1;
	gz.p[gz.len - 1] ^= 0x40; /* ISIZE */
	CHECK(both_refuse(&gz, "member 1: ISA-L refused the CRC32 or length"));
	free(data.p), free(gz.p);
}

TEST(image_stream_gzip_trailing_garbage_refused)
{
	struct buf data = { 0 }, gz = { 0 };
	static const uint8_t zeros[512], junk[] = "trailing";

	real_data(&data, 50000);
	gz_member(data.p, data.len, NULL, &gz);
	gz_member(data.p, 100, NULL, &gz);
	put(&gz, junk, sizeof(junk));
	CHECK(both_refuse(&gz, "the bytes after member 2 are not a gzip member"));
	gz.len -= sizeof(junk);
	put(&gz, zeros, sizeof(zeros)); /* tar-style zero padding after the stream */
	CHECK(both_refuse(&gz, "the bytes after member 2 are not a gzip member"));
	gz.len -= sizeof(zeros);
	put(&gz, "\x1f", 1); /* half a magic: a member begun, not finished */
	CHECK(both_refuse(&gz, "truncated"));
	free(data.p), free(gz.p);
}

TEST(image_stream_gzip_bad_header_and_data_refused)
{
	struct buf data = { 0 }, gz = { 0 };
	gz_header h = { 0 };
	char name[] = "layer.tar";
	size_t mid;

	real_data(&data, 50000);
	h.name = (Bytef *)name, h.hcrc = 1;
	gz_member(data.p, data.len, &h, &gz);
	gz.p[0] = 0x1e;
	CHECK(both_refuse(&gz, "no gzip magic"));
	gz.p[0] = 0x1f;
	gz.p[2] = 7; /* not deflate */
	CHECK(both_refuse(&gz, "compression method 7"));
	gz.p[2] = 8;
	gz.p[4] ^= 1; /* MTIME: the header CRC no longer matches */
	CHECK(both_refuse(&gz, "header CRC mismatch"));
	gz.p[4] ^= 1;
	gz.p[3] |= 0x20; /* a reserved flag */
	CHECK(both_refuse(&gz, "reserved header flags"));
	gz.p[3] &= (uint8_t)~0x20;
	/* The first deflate block's header byte: type 3 is reserved (RFC 1951 3.2.3). */
	mid = 10 + sizeof(name) + 2;
	gz.p[mid] |= 6;
	CHECK(both_refuse(&gz, "member 1: ISA-L refused an invalid deflate block"));
	free(data.p), free(gz.p);
}
