/* An SEV-SNP attestation report (1184 bytes, SNP firmware ABI table 23) as the JSON object the KBS
 * decodes (serde's form of virtee/sev's AttestationReport: numbers for scalars, arrays of byte
 * values for byte fields). The KBS re-encodes the report from these fields to check its
 * signature, so every field must round-trip. And the certificate table the host attaches to an
 * extended report, as the evidence's cert_chain (parsed here: the host's bytes, fuzzed by
 * tests/fuzz/fuzz_snp_certs.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static void bytes(FILE *f, const char *name, const uint8_t *p, size_t n)
{
	(void)fprintf(f, "\"%s\":[", name);
	for (size_t i = 0; i < n; i++)
		(void)fprintf(f, i ? ",%u" : "%u", p[i]);
	(void)fputs("],", f);
}

/* The TCB version's layout depends on the CPU generation: Turin (family 0x1a) has an FMC byte. */
static void tcb(FILE *f, const char *name, const uint8_t *p, bool turin)
{
	if (turin)
		(void)fprintf(f,
			      "\"%s\":{\"fmc\":%u,\"bootloader\":%u,\"tee\":%u,\"snp\":%u,"
			      "\"microcode\":%"
			      "u},",
			      name, p[0], p[1], p[2], p[3], p[7]);
	else
		(void)fprintf(f,
			      "\"%s\":{\"fmc\":null,\"bootloader\":%u,\"tee\":%u,\"snp\":%u,"
			      "\"microcode\":%u},",
			      name, p[0], p[1], p[6], p[7]);
}

char *sp_snp_report_json(const uint8_t r[SP_SNP_REPORT_LEN])
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	uint32_t version = (uint32_t)le(r, 4);
	bool has_cpuid = version >= 3;
	bool turin = has_cpuid && r[0x188] == 0x1a;

	if (!f)
		return NULL;
	(void)fprintf(f, "{\"version\":%u,\"guest_svn\":%u,\"policy\":%llu,", version,
		      (unsigned)le(r + 0x04, 4), (unsigned long long)le(r + 0x08, 8));
	bytes(f, "family_id", r + 0x10, 16);
	bytes(f, "image_id", r + 0x20, 16);
	(void)fprintf(f, "\"vmpl\":%u,\"sig_algo\":%u,", (unsigned)le(r + 0x30, 4),
		      (unsigned)le(r + 0x34, 4));
	tcb(f, "current_tcb", r + 0x38, turin);
	(void)fprintf(f, "\"plat_info\":%llu,\"key_info\":%u,", (unsigned long long)le(r + 0x40, 8),
		      (unsigned)le(r + 0x48, 4));
	bytes(f, "report_data", r + 0x50, 64);
	bytes(f, "measurement", r + 0x90, 48);
	bytes(f, "host_data", r + 0xc0, 32);
	bytes(f, "id_key_digest", r + 0xe0, 48);
	bytes(f, "author_key_digest", r + 0x110, 48);
	bytes(f, "report_id", r + 0x140, 32);
	bytes(f, "report_id_ma", r + 0x160, 32);
	tcb(f, "reported_tcb", r + 0x180, turin);
	if (has_cpuid)
		(void)fprintf(f, "\"cpuid_fam_id\":%u,\"cpuid_mod_id\":%u,\"cpuid_step\":%u,",
			      r[0x188], r[0x189], r[0x18a]);
	else
		(void)fputs("\"cpuid_fam_id\":null,\"cpuid_mod_id\":null,\"cpuid_step\":null,", f);
	bytes(f, "chip_id", r + 0x1a0, 64);
	tcb(f, "committed_tcb", r + 0x1e0, turin);
	(void)fprintf(f, "\"current\":{\"major\":%u,\"minor\":%u,\"build\":%u},", r[0x1ea],
		      r[0x1e9], r[0x1e8]);
	(void)fprintf(f, "\"committed\":{\"major\":%u,\"minor\":%u,\"build\":%u},", r[0x1ee],
		      r[0x1ed], r[0x1ec]);
	tcb(f, "launch_tcb", r + 0x1f0, turin);
	if (version >= 5)
		(void)fprintf(f, "\"launch_mit_vector\":%llu,\"current_mit_vector\":%llu,",
			      (unsigned long long)le(r + 0x1f8, 8),
			      (unsigned long long)le(r + 0x200, 8));
	(void)fputs("\"signature\":{", f);
	bytes(f, "r", r + 0x2a0, 72);
	/* bytes() leaves a comma: rewrite the last one as the closing of "s". */
	(void)fputs("\"s\":[", f);
	for (size_t i = 0; i < 72; i++)
		(void)fprintf(f, i ? ",%u" : "%u", r[0x2e8 + i]);
	(void)fputs("]}}", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* --- the certificate table (GHCB specification, extended guest request) ------------------------ */

#define CERT_ENTRY_LEN 24 /* a GUID in RFC 4122 byte order, u32 offset, u32 length (LE) */

static const struct {
	const char *name, *guid;
} cert_types[] = {
	{ "VCEK", "63da758d-e664-4564-adc5-f4b93be8accd" },
	{ "VLEK", "a8074bc2-a25a-483e-aae6-39c045a0b8a1" },
	{ "ASK", "4ab7b379-bbac-4fe4-a02f-05aef327c782" },
	{ "ARK", "c0b406a4-a803-4952-9743-3fb6014cd0ae" },
	{ "CRL", "92f81bc3-5811-4d3d-97ff-d19f88dc67ea" },
};

static void guid_str(const uint8_t g[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[g[i] >> 4];
		out[o++] = hex[g[i] & 15];
	}
	out[o] = '\0';
}

int sp_snp_cert_chain_json(const uint8_t *t, size_t len, char **json, struct sp_err *err)
{
	static const uint8_t zero[CERT_ENTRY_LEN];
	size_t n = 0, table_end;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;

	*json = NULL;
	if (len > SP_SNP_CERTS_MAX_LEN)
		return sp_error(err, 0, "snp certificates: %zu bytes (at most %zu)", len,
				SP_SNP_CERTS_MAX_LEN);
	/* Entries up to the all-zero terminator. */
	for (;; n++) {
		if ((n + 1) * CERT_ENTRY_LEN > len) {
			if (n == 0 && (len == 0 || memcmp(t, zero, len) == 0))
				break; /* no table at all: nothing provisioned */
			return sp_error(err, 0, "snp certificates: the table has no terminator");
		}
		if (memcmp(t + n * CERT_ENTRY_LEN, zero, CERT_ENTRY_LEN) == 0)
			break;
		if (n == SP_SNP_MAX_CERTS)
			return sp_error(err, 0, "snp certificates: more than %d entries",
					SP_SNP_MAX_CERTS);
	}
	if (n == 0) {
		*json = strdup("null");
		return *json ? 0 : sp_error(err, ENOMEM, "snp certificates");
	}
	table_end = (n + 1) * CERT_ENTRY_LEN;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = t + i * CERT_ENTRY_LEN;
		uint64_t off = le(e + 16, 4), l = le(e + 20, 4);

		if (l == 0 || off < table_end || off > len || l > len - off)
			return sp_error(err, 0,
					"snp certificates: entry %zu (offset %llu, length %llu) is "
					"outside the %zu bytes after the table",
					i, (unsigned long long)off, (unsigned long long)l, len);
	}
	f = open_memstream(&out, &olen);
	if (!f)
		return sp_error(err, ENOMEM, "snp certificates");
	(void)fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = t + i * CERT_ENTRY_LEN;
		size_t off = (size_t)le(e + 16, 4), l = (size_t)le(e + 20, 4);
		const char *name = NULL;
		char g[37];

		guid_str(e, g);
		for (size_t k = 0; k < sizeof(cert_types) / sizeof(cert_types[0]); k++)
			if (strcmp(g, cert_types[k].guid) == 0)
				name = cert_types[k].name;
		if (name)
			(void)fprintf(f, "%s{\"cert_type\":\"%s\",", i ? "," : "", name);
		else
			(void)fprintf(f, "%s{\"cert_type\":{\"OTHER\":\"%s\"},", i ? "," : "", g);
		(void)fputs("\"data\":[", f);
		for (size_t k = 0; k < l; k++)
			(void)fprintf(f, k ? ",%u" : "%u", t[off + k]);
		(void)fputs("]}", f);
	}
	(void)fputc(']', f);
	if (fclose(f) != 0) {
		free(out);
		return sp_error(err, ENOMEM, "snp certificates");
	}
	*json = out;
	return 0;
}
