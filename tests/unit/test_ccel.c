/* The guest's TCG2 event-log walk (init/attest/ccel.c) on real CC event logs against Trustee's
 * parsed forms (tests/data/trustee/README.md), the replay of RTMR0-3 from them, the log the
 * evidence carries (sp_evlog_compose), and the malformed logs the walk refuses. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "unit.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 20);

	*len = 0;
	if (f && b)
		*len = fread(b, 1, 1 << 20, f);
	if (f)
		fclose(f);
	return b;
}

struct seen {
	size_t n;
	uint32_t mr[128], type[128];
	uint8_t digest[128][48];
	uint8_t regs[5][48]; /* by MR index 0-4 */
	const uint8_t *last_data;
	uint32_t last_len;
};

static void extend384(uint8_t reg[48], const uint8_t d[48])
{
	uint8_t in[96];
	unsigned n;

	memcpy(in, reg, 48);
	memcpy(in + 48, d, 48);
	(void)EVP_Digest(in, 96, reg, &n, EVP_sha384(), NULL);
}

static int collect(const struct sp_evlog_event *ev, void *ctx, struct sp_err *err)
{
	struct seen *s = ctx;

	(void)err;
	if (s->n < 128) {
		s->mr[s->n] = ev->mr, s->type[s->n] = ev->type;
		memset(s->digest[s->n], 0, 48);
		for (uint32_t i = 0; i < ev->ndigests; i++)
			if (ev->alg[i] == SP_TPM_ALG_SHA384)
				memcpy(s->digest[s->n], ev->digest[i], 48);
	}
	if (ev->type != 3 && ev->mr < 5) /* EV_NO_ACTION extends nothing */
		extend384(s->regs[ev->mr], s->digest[s->n < 128 ? s->n : 127]);
	s->last_data = ev->data, s->last_len = ev->data_len;
	s->n++;
	return 0;
}

static void hexs(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		(void)sprintf(out + 2 * i, "%02x", p[i]);
}

/* Every event of the JSON against the walk: MR index and SHA-384 digest; *want the replay of
 * the JSON's own digests per MR index. */
static int match_json(const char *path, const struct seen *s, uint8_t want[5][48])
{
	json_object *j = json_object_from_file(path), *l;
	int bad = 0;

	memset(want, 0, 5 * 48);
	if (!j || !json_object_object_get_ex(j, "uefi_event_logs", &l) ||
	    json_object_array_length(l) != s->n)
		bad = 1;
	for (size_t i = 0; !bad && i < s->n; i++) {
		json_object *e = json_object_array_get_idx(l, i), *v, *d;
		char h[97];
		const char *jd;

		json_object_object_get_ex(e, "index", &v);
		json_object_object_get_ex(e, "digests", &d);
		jd = json_object_get_string(
			json_object_object_get(json_object_array_get_idx(d, 0), "digest"));
		hexs(s->digest[i], 48, h);
		if ((uint32_t)json_object_get_int(v) != s->mr[i] || !jd || strcmp(jd, h) != 0) {
			fprintf(stderr, "    event %zu: json index %d digest %s, walk %u %s\n", i,
				json_object_get_int(v), jd ? jd : "-", s->mr[i], h);
			bad = 1;
		}
		if (s->mr[i] < 5 && s->type[i] != 3)
			extend384(want[s->mr[i]], s->digest[i]);
	}
	json_object_put(j);
	return bad ? -1 : 0;
}

TEST(ccel_ovmf_walk_matches_trustee)
{
	size_t len;
	uint8_t *b = slurp("tests/measure/ccel_data_ovmf.bin", &len), want[5][48];
	struct seen s = { 0 };
	struct sp_evlog_info in;
	struct sp_err err;

	REQUIRE(b && len > 0);
	REQUIRE(sp_evlog_walk(b, len, collect, &s, &in, &err) == 0);
	CHECK(in.nalgs == 1 && in.algs[0] == SP_TPM_ALG_SHA384 && in.sizes[0] == 48);
	CHECK(in.nevents == 20 && s.n == 20);
	CHECK(in.len < len); /* the 0xFF area is not part of the log */
	CHECK(match_json("tests/data/trustee/CCEL_data_ovmf_out.json", &s, want) == 0);
	/* RTMR0-2 (MR 1-3) replayed from the walk equal the replay of Trustee's parsed digests */
	for (int m = 1; m <= 3; m++)
		CHECK(memcmp(s.regs[m], want[m], 48) == 0);
	free(b);
}

TEST(ccel_aael_walk_matches_trustee)
{
	size_t len;
	uint8_t *b = slurp("tests/data/trustee/CCEL_AAEL_alibabacloud", &len), want[5][48];
	struct seen s = { 0 };
	struct sp_evlog_info in;
	struct sp_err err;

	REQUIRE(b && len > 0);
	REQUIRE(sp_evlog_walk(b, len, collect, &s, &in, &err) == 0);
	CHECK(s.n == 87);
	CHECK(in.len == len - 8); /* it ends with the 8-byte 0xFF flag */
	CHECK(match_json("tests/data/trustee/CCEL_AAEL_alibabacloud_out.json", &s, want) == 0);
	for (int m = 1; m <= 4; m++)
		CHECK(memcmp(s.regs[m], want[m], 48) == 0);
	CHECK(s.mr[86] == 4 && s.type[86] == 6);
	free(b);
}

TEST(ccel_compose_ccel_then_runtime_events)
{
	size_t len, elen, dlen, olen;
	uint8_t *b = slurp("tests/measure/ccel_data_ovmf.bin", &len), *e, *out, d[64],
		r4[48] = { 0 };
	struct seen s = { 0 };
	struct sp_evlog_info in;
	struct sp_err err;

	REQUIRE(b);
	REQUIRE(sp_aael_entry("d.example", "Op", "{\"k\":1}", SP_HASH_SHA384, 4, &e, &elen, d,
			      &dlen, &err) == 0);
	REQUIRE(sp_evlog_compose(b, len, SP_TPM_ALG_SHA384, e, elen, &out, &olen, &err) == 0);
	REQUIRE(sp_evlog_walk(out, olen, collect, &s, &in, &err) == 0);
	CHECK(s.n == 21 && s.mr[20] == 4 && s.type[20] == 6);
	CHECK(olen == in.len + 8 && out[olen - 1] == 0xff && out[olen - 8] == 0xff);
	extend384(r4, d);
	CHECK(memcmp(s.regs[4], r4, 48) == 0);
	free(out);
	/* a sha256 event cannot follow a sha384-only CCEL: the log would not replay */
	uint8_t *e2, *o2;
	size_t e2len, o2len;
	REQUIRE(sp_aael_entry("d", "o", "c", SP_HASH_SHA256, 23, &e2, &e2len, d, &dlen, &err) == 0);
	CHECK(sp_evlog_compose(b, len, SP_TPM_ALG_SHA256, e2, e2len, &o2, &o2len, &err) < 0);
	CHECK(strstr(err.msg, "no 0xb digests") != NULL);
	free(e2);
	free(e);
	free(b);
}

TEST(ccel_compose_without_ccel)
{
	uint8_t *e, *out, d[64];
	size_t elen, olen, dlen;
	struct sp_evlog_info in;
	struct sp_err err;

	REQUIRE(sp_aael_entry("d", "o", "c", SP_HASH_SHA256, 23, &e, &elen, d, &dlen, &err) == 0);
	REQUIRE(sp_evlog_compose(NULL, 0, SP_TPM_ALG_SHA256, e, elen, &out, &olen, &err) == 0);
	REQUIRE(sp_evlog_walk(out, olen, NULL, NULL, &in, &err) == 0);
	CHECK(in.nalgs == 1 && in.algs[0] == SP_TPM_ALG_SHA256 && in.sizes[0] == 32);
	CHECK(in.nevents == 1 && in.len + 8 == olen);
	free(out);
	free(e);
}

TEST(ccel_malformed_refused)
{
	size_t len;
	uint8_t *b = slurp("tests/measure/ccel_data_ovmf.bin", &len), *m;
	struct sp_evlog_info in;
	struct sp_err err;

	REQUIRE(b && len > 0x100);
	REQUIRE(sp_evlog_walk(b, len, NULL, NULL, &in, &err) == 0);
	m = malloc(len);
	REQUIRE(m);
	size_t hl = in.header_len; /* a failed walk clears in */
	/* not a Spec ID event */
	memcpy(m, b, len), m[32] ^= 1;
	CHECK(sp_evlog_walk(m, len, NULL, NULL, &in, &err) < 0 && strstr(err.msg, "Spec ID"));
	/* zero algorithms */
	memcpy(m, b, len), memset(m + 32 + 24, 0, 4);
	CHECK(sp_evlog_walk(m, len, NULL, NULL, &in, &err) < 0 && strstr(err.msg, "0 algorithms"));
	/* the first event's digest algorithm is not the listed one */
	memcpy(m, b, len), m[hl + 12] = 0x0b;
	CHECK(sp_evlog_walk(m, len, NULL, NULL, &in, &err) < 0 && strstr(err.msg, "digest "
										  "algorithm 0xb"));
	/* an event's data size running past the buffer */
	memcpy(m, b, len), memset(m + hl + 12 + 2 + 48, 0x7f, 4);
	CHECK(sp_evlog_walk(m, len, NULL, NULL, &in, &err) < 0 && strstr(err.msg, "overruns"));
	/* more digests than the log lists algorithms */
	memcpy(m, b, len), m[hl + 8] = 2;
	CHECK(sp_evlog_walk(m, len, NULL, NULL, &in, &err) < 0 && strstr(err.msg, "2 digests"));
	/* every truncation fails cleanly or stops at an event boundary, never reads beyond */
	REQUIRE(sp_evlog_walk(b, len, NULL, NULL, &in, &err) == 0);
	size_t full = in.len, whole = 0;
	for (size_t n = 0; n <= full; n++) {
		uint8_t *t = malloc(n ? n : 1);
		memcpy(t, b, n);
		if (sp_evlog_walk(t, n, NULL, NULL, &in, &err) == 0)
			whole++;
		free(t);
	}
	CHECK(whole == 21); /* the header alone, then each of the 20 event boundaries */
	free(m);
	free(b);
}
