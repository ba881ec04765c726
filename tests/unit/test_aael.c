/* The runtime event log (init/attest/aael.c): entries byte for byte as Trustee's vector holds
 * them, the AAEL field rules, the RTMR3 extend against a fake measurement tree, PullImage's
 * content, and the initdata binding's precedence with a stubbed detector. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "attest/attest_int.h"
#include "policyform.pb-c.h"
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

static const uint8_t *find(const uint8_t *h, size_t hl, const uint8_t *n, size_t nl)
{
	for (size_t i = 0; nl <= hl && i <= hl - nl; i++)
		if (!memcmp(h + i, n, nl))
			return h + i;
	return NULL;
}

TEST(aael_entry_matches_trustee_vector)
{
	/* Trustee's CCEL_AAEL_alibabacloud ends with two AAEL events an attestation agent wrote;
	 * ours for the same text must be the same bytes (header, digest, tagged event). */
	static const char *const texts[][3] = {
		{ "coco.com", "some-operation", "some-content" },
		{ "coco.com", "some-operation",
		  "{\"key\": \"value\", \"nested-key\": {\"sub-key\": \"value\"}}" },
	};
	size_t len;
	uint8_t *log = slurp("tests/data/trustee/CCEL_AAEL_alibabacloud", &len);

	REQUIRE(log && len > 0);
	for (size_t i = 0; i < 2; i++) {
		uint8_t *e, d[64];
		size_t elen, dlen;
		struct sp_err err;

		REQUIRE(sp_aael_entry(texts[i][0], texts[i][1], texts[i][2], SP_HASH_SHA384, 4, &e,
				      &elen, d, &dlen, &err) == 0);
		CHECK(dlen == 48);
		CHECK(find(log, len, e, elen) != NULL);
		free(e);
	}
	free(log);
}

TEST(aael_fields_refused)
{
	struct sp_err err;

	CHECK(sp_aael_check("d", "o", "c", &err) == 0);
	CHECK(sp_aael_check("d", "o", "with spaces {\"a\": 1}", &err) == 0);
	CHECK(sp_aael_check("d d", "o", "c", &err) < 0);
	CHECK(sp_aael_check("d", "o p", "c", &err) < 0);
	CHECK(sp_aael_check("", "o", "c", &err) < 0);
	CHECK(sp_aael_check("d", "", "c", &err) < 0);
	CHECK(sp_aael_check("d", "o", "", &err) < 0);
	CHECK(sp_aael_check("d", "o", "line\nfeed", &err) < 0);
	CHECK(sp_aael_check("d", "o", "tab\there", &err) < 0);
	CHECK(sp_aael_check("d\xc3\xa9", "o", "c", &err) < 0);
	CHECK(sp_aael_check(NULL, "o", "c", &err) < 0);
	char big[SP_AAEL_TEXT_MAX + 8];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(sp_aael_check("d", "o", big, &err) < 0 && strstr(err.msg, "over"));
	uint8_t *e = (uint8_t *)1, d[64];
	size_t elen, dlen;
	CHECK(sp_aael_entry("d", "o", "c", SP_HASH_SHA512, 4, &e, &elen, d, &dlen, &err) < 0);
	CHECK(e == NULL);
}

/* A fake kernel measurement tree: rtmr3:sha384 a plain file that keeps what was written. */
static int fake_tree(char *dir, size_t n)
{
	char path[256];
	int fd;

	(void)snprintf(dir, n, "/tmp/sealpod-aael-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	(void)snprintf(path, sizeof(path), "%s/rtmr3:sha384", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void rm_tree(const char *dir)
{
	char path[256];

	(void)snprintf(path, sizeof(path), "%s/rtmr3:sha384", dir);
	unlink(path);
	rmdir(dir);
}

TEST(aael_record_extends_rtmr3_fake_tree)
{
	char dir[64], path[256];
	uint8_t got[64], *e, d[64], *log;
	size_t n, elen, dlen, len, nev;
	struct sp_err err;

	REQUIRE(fake_tree(dir, sizeof(dir)) == 0);
	sp_aael_setup(SP_AAEL_RTMR3, dir, NULL);
	REQUIRE(sp_aael_register() == SP_AAEL_RTMR3);
	REQUIRE(sp_aael_record(SP_AAEL_DOMAIN_COCO, "InitData", "{\"digest\":\"sha384:00\"}",
			       &err) == 0);
	/* the kernel got exactly the entry's 48-byte digest */
	(void)snprintf(path, sizeof(path), "%s/rtmr3:sha384", dir);
	FILE *f = fopen(path, "rb");
	REQUIRE(f);
	n = fread(got, 1, sizeof(got), f);
	fclose(f);
	REQUIRE(sp_aael_entry(SP_AAEL_DOMAIN_COCO, "InitData", "{\"digest\":\"sha384:00\"}",
			      SP_HASH_SHA384, 4, &e, &elen, d, &dlen, &err) == 0);
	CHECK(n == 48 && memcmp(got, d, 48) == 0);
	/* the log holds the entry, and the composed log replays MR 4 to the extended value */
	const uint8_t *b = sp_aael_bytes(&len, &nev);
	CHECK(nev == 1 && len == elen && memcmp(b, e, elen) == 0);
	REQUIRE(sp_evlog_compose(NULL, 0, SP_TPM_ALG_SHA384, b, len, &log, &n, &err) == 0);
	struct sp_evlog_info info;
	CHECK(sp_evlog_walk(log, n, NULL, NULL, &info, &err) == 0 && info.nevents == 1);
	free(log);
	free(e);
	/* the register gone: the event is refused and the log stays as it was */
	rm_tree(dir);
	CHECK(sp_aael_record(SP_AAEL_DOMAIN_COCO, "PullImage", "{}", &err) < 0);
	CHECK(strstr(err.msg, "rtmr3:sha384") != NULL);
	(void)sp_aael_bytes(&len, &nev);
	CHECK(nev == 1 && len == elen);
	sp_aael_setup(SP_AAEL_NONE, NULL, NULL);
}

TEST(aael_pull_image_content)
{
	char dir[64], path[256];
	uint8_t got[48], *e, d[64];
	size_t n, elen, dlen, len, nev;
	struct sp_err err;
	const char *dg = "sha256:0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c";

	/* no runtime register: nothing to do, nothing logged */
	sp_aael_setup(SP_AAEL_NONE, NULL, NULL);
	CHECK(sp_attest_measure_image("alpine", dg, &err) == 0);
	(void)sp_aael_bytes(&len, &nev);
	CHECK(nev == 0);
	CHECK(sp_aael_record("d", "o", "c", &err) < 0);

	REQUIRE(fake_tree(dir, sizeof(dir)) == 0);
	sp_aael_setup(SP_AAEL_RTMR3, dir, NULL);
	CHECK(sp_attest_measure_image("registry.local:5000/a/b:1", dg, &err) == 0);
	/* canonical JSON: members sorted, digest before image */
	char want[256];
	(void)snprintf(want, sizeof(want), "{\"digest\":\"%s\",\"image\":\"%s\"}", dg,
		       "registry.local:5000/a/b:1");
	REQUIRE(sp_aael_entry(SP_AAEL_DOMAIN_COCO, "PullImage", want, SP_HASH_SHA384, 4, &e, &elen,
			      d, &dlen, &err) == 0);
	(void)snprintf(path, sizeof(path), "%s/rtmr3:sha384", dir);
	FILE *f = fopen(path, "rb");
	REQUIRE(f);
	n = fread(got, 1, sizeof(got), f);
	fclose(f);
	CHECK(n == 48 && memcmp(got, d, 48) == 0);
	free(e);
	/* a reference that would need escaping (or break the line) is refused, not logged */
	CHECK(sp_attest_measure_image("a\"b", dg, &err) < 0);
	CHECK(sp_attest_measure_image("a b", dg, &err) < 0);
	CHECK(sp_attest_measure_image("a", "sha256:x\n", &err) < 0);
	(void)sp_aael_bytes(&len, &nev);
	CHECK(nev == 1);
	rm_tree(dir);
	sp_aael_setup(SP_AAEL_NONE, NULL, NULL);
}

TEST(aael_initdata_binding_precedence)
{
	/* a launch binding the host set always wins; a zero one: RTMR3 on TDX when the kernel
	 * can extend it, PCR8 where the TPM is the evidence, else the boot stops */
	CHECK(sp_initdata_bind_plan(SP_EV_TDX, false, true, true) == SP_BIND_LAUNCH);
	CHECK(sp_initdata_bind_plan(SP_EV_SNP, false, false, false) == SP_BIND_LAUNCH);
	CHECK(sp_initdata_bind_plan(SP_EV_TDX, true, true, false) == SP_BIND_RTMR3);
	CHECK(sp_initdata_bind_plan(SP_EV_TDX, true, true, true) == SP_BIND_RTMR3);
	CHECK(sp_initdata_bind_plan(SP_EV_TDX, true, false, false) == SP_BIND_REFUSE);
	CHECK(sp_initdata_bind_plan(SP_EV_TDX, true, false, true) == SP_BIND_REFUSE);
	CHECK(sp_initdata_bind_plan(SP_EV_SNP, true, false, true) == SP_BIND_REFUSE);
	CHECK(sp_initdata_bind_plan(SP_EV_TPM, true, false, true) == SP_BIND_PCR8);
	CHECK(sp_initdata_bind_plan(SP_EV_NONE, true, false, false) == SP_BIND_REFUSE);
	CHECK(strcmp(sp_initdata_bind_name(SP_BIND_RTMR3), "rtmr3") == 0);
}

TEST(aael_set_policy_event)
{
	char dir[64], path[256], want[128], hx[65];
	uint8_t got[48], *e, d[64], packed[64], fd[64];
	size_t n, elen, dlen, fdl, len, nev;
	struct sp_err err;
	Sealpod__PolicyForm f = SEALPOD__POLICY_FORM__INIT;

	f.format = 2;
	f.length = 1234;
	n = protobuf_c_message_pack(&f.base, packed);
	REQUIRE(sp_hash_digest(SP_HASH_SHA256, packed, n, fd, &fdl) == 0);
	sp_hex(fd, 32, hx);
	(void)snprintf(want, sizeof(want), "{\"form_sha256\":\"%s\"}", hx);
	REQUIRE(fake_tree(dir, sizeof(dir)) == 0);
	sp_aael_setup(SP_AAEL_RTMR3, dir, NULL);
	REQUIRE(sp_attest_measure_policy(&f.base, &err) == 0);
	REQUIRE(sp_aael_entry("sealpod", "SetPolicy", want, SP_HASH_SHA384, 4, &e, &elen, d, &dlen,
			      &err) == 0);
	(void)snprintf(path, sizeof(path), "%s/rtmr3:sha384", dir);
	FILE *fp = fopen(path, "rb");
	REQUIRE(fp);
	n = fread(got, 1, sizeof(got), fp);
	fclose(fp);
	CHECK(n == 48 && memcmp(got, d, 48) == 0);
	const uint8_t *b = sp_aael_bytes(&len, &nev);
	CHECK(nev == 1 && len == elen && memcmp(b, e, elen) == 0);
	/* a different policy is a different event */
	f.length = 1235;
	REQUIRE(sp_attest_measure_policy(&f.base, &err) == 0);
	b = sp_aael_bytes(&len, &nev);
	CHECK(nev == 2 && len == 2 * elen);
	CHECK(memcmp(b, b + elen, elen) != 0);
	free(e);
	rm_tree(dir);
	sp_aael_setup(SP_AAEL_NONE, NULL, NULL);
}
