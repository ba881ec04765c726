/* An SEV-SNP attestation report (1184 bytes, SNP firmware ABI table 23) as the JSON object the KBS
 * decodes (serde's form of virtee/sev's AttestationReport: numbers for scalars, arrays of byte
 * values for byte fields). The KBS re-encodes the report from these fields to check its
 * signature, so every field must round-trip. */
#define _GNU_SOURCE
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
