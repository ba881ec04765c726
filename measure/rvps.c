/* sealpod-measure --format rvps: the reference values as a message Trustee's reference value
 * provider service registers (rvps-tool register --path FILE): {"version":"0.1.0","type":
 * "sample","payload":"<base64 of the provenance>"}, the provenance {"<name>":["<hex>"],…}. The
 * names are those Trustee's default attestation policy queries (mr_td, rtmr_1, rtmr_2,
 * tdvfkernel, tdvfkernelparams; snp_launch_measurement) and, for a TPM, the names its tpm
 * verifier gives the quoted PCRs (pcr04 …), which README's tpm rules query. */
#include "cli.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(char **p, size_t *left, const char *name, const uint8_t *v, size_t len)
{
	char hex[2 * 64 + 1];
	int n;

	measure_hex(v, len, hex);
	n = snprintf(*p, *left, "%s\"%s\":[\"%s\"]", (*p)[-1] == '{' ? "" : ",", name, hex);
	if (n > 0 && (size_t)n < *left)
		*p += n, *left -= (size_t)n;
}

int rvps_print(const struct rvps_value *v, size_t n, char *err)
{
	static char prov[8192];
	static unsigned char b64[4 * sizeof(prov) / 3 + 4];
	char *p = prov + 1;
	size_t left = sizeof(prov) - 2;

	prov[0] = '{';
	for (size_t i = 0; i < n; i++)
		if (v[i].v)
			add(&p, &left, v[i].name, v[i].v, v[i].len);
	if (left < 2)
		return measure_err(err, "rvps: too many values");
	*p++ = '}';
	*p = '\0';
	(void)EVP_EncodeBlock(b64, (const unsigned char *)prov, (int)(p - prov));
	printf("{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}\n", b64);
	return 0;
}

int rvps_tdx(const struct tdx_result *r, const uint8_t *mrtd, const uint8_t *rtmr0, char *err)
{
	const uint8_t *params = NULL;
	for (size_t i = 0; i < r->nevents; i++)
		if (r->events[i].rtmr == 2 && !strcmp(r->events[i].what, "LOADED_IMAGE::"
									 "LoadOptions"))
			params = r->events[i].digest;
	const struct rvps_value v[] = {
		{ "mr_td", mrtd, SHA384_LEN },
		{ "rtmr_0", rtmr0, SHA384_LEN },
		{ "rtmr_1", r->rtmr1, SHA384_LEN },
		{ "rtmr_2", r->rtmr2, SHA384_LEN },
		{ "tdvfkernel", r->kernel_authenticode, SHA384_LEN },
		{ "tdvfkernelparams", params, SHA384_LEN },
	};
	return rvps_print(v, sizeof(v) / sizeof(v[0]), err);
}

int rvps_tpm(const struct measure_result *r, const uint8_t (*fw)[EVLOG_MAX_DIGEST], char *err)
{
	struct rvps_value v[12];
	static char names[6][8];
	static const int fw_pcrs[] = { 0, 1, 2, 3, 6, 7 };
	size_t n = 0;

	for (int i = 0; fw && i < 6; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "pcr%02d", fw_pcrs[i]);
		v[n++] = (struct rvps_value){ names[i], fw[fw_pcrs[i]], SHA256_LEN };
	}
	v[n++] = (struct rvps_value){ "pcr04", r->pcr4, SHA256_LEN };
	v[n++] = (struct rvps_value){ "pcr05", r->pcr5, SHA256_LEN };
	v[n++] = (struct rvps_value){ "pcr08", r->has_pcr8 ? r->pcr8 : NULL, SHA256_LEN };
	v[n++] = (struct rvps_value){ "pcr09", r->pcr9, SHA256_LEN };
	return rvps_print(v, n, err);
}
