/* The SNP report encoder against real evidence (tests/data/attest/README.md): the raw report is
 * rebuilt from trustee's JSON at the ABI offsets, proven exact by its ECDSA P-384 signature under
 * the VCEK the evidence carries, and our encoder must give the JSON back byte for byte. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest_int.h"
#include "unit.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_bytes(uint8_t *p, struct json_object *o, const char *k, size_t n)
{
	struct json_object *a = json_object_object_get(o, k);
	for (size_t i = 0; i < n && i < json_object_array_length(a); i++)
		p[i] = (uint8_t)json_object_get_int(json_object_array_get_idx(a, i));
}

static void put_tcb(uint8_t *p, struct json_object *o, const char *k)
{
	struct json_object *t = json_object_object_get(o, k);
	p[0] = (uint8_t)json_object_get_int(json_object_object_get(t, "bootloader"));
	p[1] = (uint8_t)json_object_get_int(json_object_object_get(t, "tee"));
	p[6] = (uint8_t)json_object_get_int(json_object_object_get(t, "snp"));
	p[7] = (uint8_t)json_object_get_int(json_object_object_get(t, "microcode"));
}

static int geti(struct json_object *o, const char *k)
{
	return json_object_get_int(json_object_object_get(o, k));
}

/* ECDSA P-384 over r[0x000..0x29f] with the signature's little-endian r and s. */
static bool signature_ok(const uint8_t *r, const uint8_t *der, size_t derlen)
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)derlen);
	EVP_PKEY *pk = x ? X509_get_pubkey(x) : NULL;
	uint8_t rb[48], sb[48], *sig = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int siglen, ok = 0;

	for (int i = 0; i < 48; i++)
		rb[i] = r[0x2a0 + 47 - i], sb[i] = r[0x2e8 + 47 - i];
	ECDSA_SIG_set0(es, BN_bin2bn(rb, 48, NULL), BN_bin2bn(sb, 48, NULL));
	siglen = i2d_ECDSA_SIG(es, &sig);
	if (pk && siglen > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pk) == 1)
		ok = EVP_DigestVerify(md, sig, (size_t)siglen, r, 0x2a0) == 1;
	OPENSSL_free(sig);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	X509_free(x);
	return ok;
}

TEST(attest_snp_report_json_matches_trustee)
{
	size_t len;
	char *text = slurp("tests/data/attest/snp-evidence.json", &len);
	struct json_object *root, *rep, *cert, *cur, *com, *sig;
	uint8_t raw[SP_SNP_REPORT_LEN] = { 0 }, der[4096];
	size_t derlen;
	char *ours, *want_start, *want_end;

	REQUIRE(text);
	root = json_tokener_parse(text);
	REQUIRE(root);
	rep = json_object_object_get(root, "attestation_report");
	put_le(raw + 0x00, (uint64_t)geti(rep, "version"), 4);
	put_le(raw + 0x04, (uint64_t)geti(rep, "guest_svn"), 4);
	put_le(raw + 0x08, (uint64_t)json_object_get_int64(json_object_object_get(rep, "policy")),
	       8);
	put_bytes(raw + 0x10, rep, "family_id", 16);
	put_bytes(raw + 0x20, rep, "image_id", 16);
	put_le(raw + 0x30, (uint64_t)geti(rep, "vmpl"), 4);
	put_le(raw + 0x34, (uint64_t)geti(rep, "sig_algo"), 4);
	put_tcb(raw + 0x38, rep, "current_tcb");
	put_le(raw + 0x40,
	       (uint64_t)json_object_get_int64(json_object_object_get(rep, "plat_info")), 8);
	put_le(raw + 0x48, (uint64_t)geti(rep, "key_info"), 4);
	put_bytes(raw + 0x50, rep, "report_data", 64);
	put_bytes(raw + 0x90, rep, "measurement", 48);
	put_bytes(raw + 0xc0, rep, "host_data", 32);
	put_bytes(raw + 0xe0, rep, "id_key_digest", 48);
	put_bytes(raw + 0x110, rep, "author_key_digest", 48);
	put_bytes(raw + 0x140, rep, "report_id", 32);
	put_bytes(raw + 0x160, rep, "report_id_ma", 32);
	put_tcb(raw + 0x180, rep, "reported_tcb");
	raw[0x188] = (uint8_t)geti(rep, "cpuid_fam_id");
	raw[0x189] = (uint8_t)geti(rep, "cpuid_mod_id");
	raw[0x18a] = (uint8_t)geti(rep, "cpuid_step");
	put_bytes(raw + 0x1a0, rep, "chip_id", 64);
	put_tcb(raw + 0x1e0, rep, "committed_tcb");
	cur = json_object_object_get(rep, "current");
	com = json_object_object_get(rep, "committed");
	raw[0x1e8] = (uint8_t)geti(cur, "build"), raw[0x1e9] = (uint8_t)geti(cur, "minor"),
	raw[0x1ea] = (uint8_t)geti(cur, "major");
	raw[0x1ec] = (uint8_t)geti(com, "build"), raw[0x1ed] = (uint8_t)geti(com, "minor"),
	raw[0x1ee] = (uint8_t)geti(com, "major");
	put_tcb(raw + 0x1f0, rep, "launch_tcb");
	sig = json_object_object_get(rep, "signature");
	put_bytes(raw + 0x2a0, sig, "r", 72);
	put_bytes(raw + 0x2e8, sig, "s", 72);
	cert = json_object_array_get_idx(json_object_object_get(root, "cert_chain"), 0);
	derlen = json_object_array_length(json_object_object_get(cert, "data"));
	REQUIRE(derlen <= sizeof(der));
	put_bytes(der, cert, "data", derlen);

	/* The rebuilt bytes are the ones the chip signed. */
	CHECK(signature_ok(raw, der, derlen));
	raw[0x50] ^= 1;
	CHECK(!signature_ok(raw, der, derlen));
	raw[0x50] ^= 1;

	ours = sp_snp_report_json(raw);
	REQUIRE(ours);
	want_start = strstr(text, "\"attestation_report\":") + strlen("\"attestation_report\":");
	want_end = strstr(text, ",\"cert_chain\"");
	REQUIRE(want_start && want_end);
	CHECK(strlen(ours) == (size_t)(want_end - want_start));
	CHECK(strncmp(ours, want_start, (size_t)(want_end - want_start)) == 0);
	free(ours);
	json_object_put(root);
	free(text);
}

TEST(attest_snp_report_v2_signature_fields)
{
	size_t len, dlen;
	char *raw = slurp("tests/data/attest/snp-report-v2.bin", &len);
	char *der = slurp("tests/data/attest/snp-vcek-v2.der", &dlen);
	char *js;
	struct json_object *o;

	REQUIRE(raw && der && len == SP_SNP_REPORT_LEN);
	CHECK(signature_ok((uint8_t *)raw, (uint8_t *)der, dlen));
	js = sp_snp_report_json((uint8_t *)raw);
	REQUIRE(js);
	o = json_tokener_parse(js);
	REQUIRE(o);
	CHECK(geti(o, "version") == 2);
	/* v2 reports carry no CPUID fields. */
	CHECK(json_object_get_type(json_object_object_get(o, "cpuid_fam_id")) == json_type_null);
	CHECK(json_object_array_length(json_object_object_get(o, "chip_id")) == 64);
	json_object_put(o);
	free(js);
	free(raw);
	free(der);
}
