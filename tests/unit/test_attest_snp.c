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

/* --- the certificate table of an extended report ------------------------------------------------ */

static const uint8_t GUID_VCEK[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
				       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
static const uint8_t GUID_ASK[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
				      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };

/* A table of n entries (guids[i], certs[i] of lens[i] bytes) then the certificates, as the host
 * lays it out: the table, its all-zero terminator, the data. Returns the length. */
static size_t cert_table(uint8_t *buf, size_t cap, size_t n, const uint8_t *const *guids,
			 const uint8_t *const *certs, const size_t *lens)
{
	size_t off = (n + 1) * 24;

	memset(buf, 0, cap);
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + i * 24, guids[i], 16);
		put_le(buf + i * 24 + 16, off, 4);
		put_le(buf + i * 24 + 20, lens[i], 4);
		memcpy(buf + off, certs[i], lens[i]);
		off += lens[i];
	}
	return off;
}

TEST(attest_snp_evidence_with_cert_chain_matches_trustee)
{
	size_t len, derlen;
	char *text = slurp("tests/data/attest/snp-evidence.json", &len);
	struct json_object *root, *cert;
	uint8_t der[4096], table[8192];
	char *chain = NULL, *want;
	struct sp_err err;
	size_t tlen;

	REQUIRE(text);
	root = json_tokener_parse(text);
	REQUIRE(root);
	cert = json_object_array_get_idx(json_object_object_get(root, "cert_chain"), 0);
	derlen = json_object_array_length(json_object_object_get(cert, "data"));
	REQUIRE(derlen <= sizeof(der));
	put_bytes(der, cert, "data", derlen);
	tlen = cert_table(table, sizeof(table), 1, (const uint8_t *const[]){ GUID_VCEK },
			  (const uint8_t *const[]){ der }, (size_t[]){ derlen });
	/* The host hands over whole pages: trailing zeros after the data are normal. */
	REQUIRE(sp_snp_cert_chain_json(table, tlen + 1000, &chain, &err) == 0);
	want = strstr(text, "\"cert_chain\":") + strlen("\"cert_chain\":");
	CHECK(strlen(chain) + 1 == strlen(want)); /* the file ends with the evidence's '}' */
	CHECK(strncmp(chain, want, strlen(chain)) == 0);
	free(chain);
	json_object_put(root);
	free(text);
}

TEST(attest_snp_cert_chain_forms)
{
	uint8_t t[4096] = { 0 }, other[16];
	const uint8_t a[3] = { 1, 2, 3 }, b[2] = { 250, 251 };
	char *chain;
	struct sp_err err;
	size_t n;

	/* nothing provisioned: no bytes, or a page of zeros */
	REQUIRE(sp_snp_cert_chain_json(t, 0, &chain, &err) == 0);
	CHECK_STR(chain, "null");
	free(chain);
	memset(t, 0, sizeof(t));
	REQUIRE(sp_snp_cert_chain_json(t, sizeof(t), &chain, &err) == 0);
	CHECK_STR(chain, "null");
	free(chain);
	/* two known types in the host's order, and an unknown GUID kept as OTHER */
	memset(other, 0x11, sizeof(other));
	n = cert_table(t, sizeof(t), 3, (const uint8_t *const[]){ GUID_VCEK, GUID_ASK, other },
		       (const uint8_t *const[]){ a, b, a }, (size_t[]){ 3, 2, 1 });
	REQUIRE(sp_snp_cert_chain_json(t, n, &chain, &err) == 0);
	CHECK_STR(chain, "[{\"cert_type\":\"VCEK\",\"data\":[1,2,3]},"
			 "{\"cert_type\":\"ASK\",\"data\":[250,251]},"
			 "{\"cert_type\":{\"OTHER\":\"11111111-1111-1111-1111-111111111111\"},"
			 "\"data\":[1]}]");
	free(chain);
}

TEST(attest_snp_cert_chain_malformed)
{
	uint8_t t[4096];
	const uint8_t a[3] = { 1, 2, 3 };
	char *chain = NULL;
	struct sp_err err;
	size_t n;

	n = cert_table(t, sizeof(t), 1, (const uint8_t *const[]){ GUID_VCEK },
		       (const uint8_t *const[]){ a }, (size_t[]){ 3 });
	/* the data cut short */
	CHECK(sp_snp_cert_chain_json(t, n - 1, &chain, &err) < 0 && !chain);
	CHECK(strstr(err.msg, "outside") != NULL);
	/* no terminator: the buffer ends inside the table */
	CHECK(sp_snp_cert_chain_json(t, 30, &chain, &err) < 0 && !chain);
	CHECK(strstr(err.msg, "terminator") != NULL);
	/* an offset pointing into the table itself */
	put_le(t + 16, 8, 4);
	CHECK(sp_snp_cert_chain_json(t, n, &chain, &err) < 0 && !chain);
	put_le(t + 16, 48, 4);
	/* a huge length, an offset past the end, a zero length */
	put_le(t + 20, 0xffffffffu, 4);
	CHECK(sp_snp_cert_chain_json(t, n, &chain, &err) < 0 && !chain);
	put_le(t + 16, 0xfffffff0u, 4);
	put_le(t + 20, 0x20, 4);
	CHECK(sp_snp_cert_chain_json(t, n, &chain, &err) < 0 && !chain);
	put_le(t + 16, 48, 4);
	put_le(t + 20, 0, 4);
	CHECK(sp_snp_cert_chain_json(t, n, &chain, &err) < 0 && !chain);
	/* more entries than SP_SNP_MAX_CERTS */
	memset(t, 0, sizeof(t));
	for (size_t i = 0; i <= SP_SNP_MAX_CERTS; i++) {
		memcpy(t + i * 24, GUID_VCEK, 16);
		put_le(t + i * 24 + 16, 1000, 4);
		put_le(t + i * 24 + 20, 1, 4);
	}
	CHECK(sp_snp_cert_chain_json(t, sizeof(t), &chain, &err) < 0 && !chain);
	CHECK(strstr(err.msg, "more than") != NULL);
	/* a table larger than the cap */
	CHECK(sp_snp_cert_chain_json(t, SP_SNP_CERTS_MAX_LEN + 1, &chain, &err) < 0 && !chain);
}
