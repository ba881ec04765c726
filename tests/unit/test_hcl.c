/* The HCL report parser (init/attest/azure_hcl.c) on Trustee's az-snp-vtpm and az-tdx-vtpm
 * samples (tests/data/trustee/README.md) and the malformed reports it refuses. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "unit.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 16);

	*len = 0;
	if (f && b)
		*len = fread(b, 1, 1 << 16, f);
	if (f)
		fclose(f);
	return b;
}

static void sample(int *unit_failed_, const char *path, bool tdx)
{
	size_t len;
	uint8_t *b = slurp(path, &len), ud[64], zero[64] = { 0 };
	struct sp_hcl h;
	struct sp_err err;

	REQUIRE(b && len > 0);
	REQUIRE(sp_hcl_parse(b, len, &h, &err) == 0);
	CHECK(h.tdx == tdx && h.hash == SP_HASH_SHA256);
	CHECK(h.hw == b + 32 && h.hw_len == (tdx ? 1024u : 1184u));
	CHECK(h.var_len > 0 && h.var[0] == '{' && h.var[h.var_len - 1] == '}');
	CHECK(memmem(h.var, h.var_len, "\"kid\":\"HCLAkPub\"", 15) != NULL);
	CHECK(sp_hcl_check_binding(&h, &err) == 0);
	CHECK(sp_hcl_user_data(&h, ud, &err) == 0 && memcmp(ud, zero, 64) == 0);
	/* the variable data changed (the AK swapped, say): the hardware report no longer binds it */
	uint8_t *m = malloc(len);
	REQUIRE(m);
	memcpy(m, b, len);
	uint8_t *k = memmem(m, len, "HCLAkPub", 8);
	REQUIRE(k);
	k[0] = 'X';
	REQUIRE(sp_hcl_parse(m, len, &h, &err) == 0);
	CHECK(sp_hcl_check_binding(&h, &err) < 0 && strstr(err.msg, "does not bind"));
	/* sizes that do not add up, another report type, hash type, magic */
	static const struct {
		size_t off;
		uint8_t v;
		const char *msg;
	} bad[] = {
		{ 0, 'X', "HCLA" },
		{ 8, 0xff, "sizes" },
		{ 32 + 1184, 0, "sizes" },
		{ 32 + 1184 + 8, 3, "type 3" },
		{ 32 + 1184 + 12, 9, "hash type" },
		{ 32 + 1184 + 16, 0xff, "sizes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(m, b, len);
		m[bad[i].off] = bad[i].v;
		CHECK(sp_hcl_parse(m, len, &h, &err) < 0 && strstr(err.msg, bad[i].msg));
	}
	/* every truncation before the end of the variable data is refused */
	REQUIRE(sp_hcl_parse(b, len, &h, &err) == 0);
	size_t end = (size_t)(h.var - b) + h.var_len;
	for (size_t n = 0; n < end; n += 7)
		CHECK(sp_hcl_parse(b, n, &h, &err) < 0);
	free(m);
	free(b);
}

TEST(hcl_az_snp_vtpm_sample)
{
	sample(unit_failed_, "tests/data/trustee/az-snp-vtpm-hcl-report.bin", false);
}

TEST(hcl_az_tdx_vtpm_sample)
{
	sample(unit_failed_, "tests/data/trustee/az-tdx-vtpm-hcl-report.bin", true);
}

TEST(hcl_user_data_refused)
{
	static const char *const vars[] = {
		"{\"user-data\":\"00\"}",
		"{\"user-data\":1}",
		"{\"keys\":[]}",
		"not json",
		"{\"user-data\":"
		"\"zz000000000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000\"}",
	};
	uint8_t ud[64];
	struct sp_err err;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		struct sp_hcl h = { .var = (const uint8_t *)vars[i], .var_len = strlen(vars[i]) };
		CHECK(sp_hcl_user_data(&h, ud, &err) < 0);
	}
	const char *ok = "{\"user-data\":\"0102000000000000000000000000000000000000000000000000000"
			 "00000000000000000000000000000000000000000000000000000000000000000000000"
			 "00\"}";
	struct sp_hcl h = { .var = (const uint8_t *)ok, .var_len = strlen(ok) };
	CHECK(sp_hcl_user_data(&h, ud, &err) == 0 && ud[0] == 1 && ud[1] == 2 && ud[63] == 0);
}
