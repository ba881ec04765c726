/* The HCL report of an Azure confidential VM (the paravisor's vTPM NV index 0x01400001), as
 * Trustee's az-snp-vtpm and az-tdx-vtpm verifiers take it: a 32-byte "HCLA" header, the
 * hardware report (an SNP report or a TDREPORT) in a 1184-byte field, then the IGVM request
 * data (size, version, report type, hash type, variable-data size) and the variable data, a
 * JSON document holding the vTPM's attestation key (HCLAkPub) and "user-data". The hardware
 * report binds the variable data: its report_data starts with the variable data's digest.
 * The bytes come from the host's paravisor: every length is checked. Fuzzed by
 * tests/fuzz/fuzz_hcl.c. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "attest/attest_int.h"
#include "lib/validate.h"

#define HCL_HEADER   32
#define HCL_HW_FIELD 1184
#define HCL_IGVM_HDR 20
#define HCL_SNP	     2
#define HCL_TDX	     4

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sp_hcl_parse(const uint8_t *p, size_t len, struct sp_hcl *out, struct sp_err *err)
{
	uint32_t size, dsize, type, hash, vsize;
	const uint8_t *igvm = p + HCL_HEADER + HCL_HW_FIELD;

	memset(out, 0, sizeof(*out));
	if (len < HCL_HEADER + HCL_HW_FIELD + HCL_IGVM_HDR || memcmp(p, "HCLA", 4) != 0)
		return sp_error(err, 0, "HCL report: no HCLA header in %zu bytes", len);
	size = rd32(p + 8);
	dsize = rd32(igvm);
	type = rd32(igvm + 8);
	hash = rd32(igvm + 12);
	vsize = rd32(igvm + 16);
	if (size > len || vsize > len - (HCL_HEADER + HCL_HW_FIELD + HCL_IGVM_HDR) ||
	    size != HCL_HEADER + HCL_HW_FIELD + HCL_IGVM_HDR + vsize ||
	    dsize != HCL_IGVM_HDR + vsize)
		return sp_error(err, 0, "HCL report: sizes %u/%u/%u do not fit %zu bytes", size,
				dsize, vsize, len);
	if (type != HCL_SNP && type != HCL_TDX)
		return sp_error(err, 0, "HCL report: report type %u (not SNP 2, TDX 4)", type);
	if (hash < 1 || hash > 3)
		return sp_error(err, 0, "HCL report: hash type %u", hash);
	out->tdx = type == HCL_TDX;
	out->hash = hash == 1 ? SP_HASH_SHA256 : hash == 2 ? SP_HASH_SHA384 : SP_HASH_SHA512;
	out->hw = p + HCL_HEADER;
	out->hw_len = out->tdx ? 1024 : SP_SNP_REPORT_LEN;
	out->var = igvm + HCL_IGVM_HDR;
	out->var_len = vsize;
	/* report_data: SNP report 0x50; TDREPORT's REPORTMACSTRUCT at 128 */
	out->report_data = out->hw + (out->tdx ? 128 : 0x50);
	return 0;
}

int sp_hcl_check_binding(const struct sp_hcl *h, struct sp_err *err)
{
	uint8_t d[64];
	size_t dl = 0;

	if (sp_hash_digest(h->hash, h->var, h->var_len, d, &dl) < 0)
		return sp_error(err, 0, "HCL report: digest");
	if (memcmp(d, h->report_data, dl) != 0)
		return sp_error(err, 0, "HCL report: the %s report does not bind its variable data",
				h->tdx ? "TDX" : "SNP");
	return 0;
}

int sp_hcl_user_data(const struct sp_hcl *h, uint8_t out[64], struct sp_err *err)
{
	json_tokener *tok = json_tokener_new();
	json_object *j = NULL, *u = NULL;
	const char *s;
	int ret = -1;

	if (!tok)
		return sp_error(err, 0, "HCL report: out of memory");
	if (h->var_len <= (size_t)64 << 10)
		j = json_tokener_parse_ex(tok, (const char *)h->var, (int)h->var_len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_object_get_ex(j, "user-data", &u) ||
	    !json_object_is_type(u, json_type_string)) {
		sp_error(err, 0, "HCL report: variable data without a user-data string");
		goto out;
	}
	s = json_object_get_string(u);
	if (strlen(s) != 128) {
		sp_error(err, 0, "HCL report: user-data of %zu hex digits (not 128)", strlen(s));
		goto out;
	}
	for (size_t i = 0; i < 64; i++) {
		int hi = sp_hexval(s[2 * i]), lo = sp_hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			sp_error(err, 0, "HCL report: user-data is not hex");
			goto out;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	ret = 0;
out:
	json_object_put(j);
	json_tokener_free(tok);
	return ret;
}
