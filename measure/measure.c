/* vTPM PCR predictions for a QEMU + OVMF direct boot (see measure.h and
 * ../shared/reference/measure.md §1). */
#include "measure.h"

#include "pe.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_CALLING	    "Calling EFI Application from Boot Option"
#define ACTION_EBS	    "Exit Boot Services Invocation"
#define ACTION_EBS_OK	    "Exit Boot Services Returned with Success"
#define QEMU_ACPI_DATA_SIZE 0x28000

int measure_err(char *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	/* clang-analyzer reports ap as uninitialized here only when several files are analyzed
	 * in one clang-tidy run (not for this file alone): a false positive after va_start. */
	n = vsnprintf(err, MEASURE_ERR_MAX, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (n < 0)
		(void)snprintf(err, MEASURE_ERR_MAX, "(unformattable error)");
	return -1;
}

void measure_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int measure_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN], char *err)
{
	unsigned outlen;
	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1 || outlen != SHA256_LEN)
		return measure_err(err, "sha256 failed");
	return 0;
}

int measure_extend(uint8_t pcr[SHA256_LEN], const uint8_t digest[SHA256_LEN], char *err)
{
	uint8_t buf[2 * SHA256_LEN];
	memcpy(buf, pcr, SHA256_LEN);
	memcpy(buf + SHA256_LEN, digest, SHA256_LEN);
	return measure_sha256(buf, sizeof(buf), pcr, err);
}

int measure_loadopts(const char *cmdline, int has_initrd, enum loadopts_mode mode, uint8_t **out,
		     size_t *len, char *err)
{
	static const char marker_suffix[] = " initrd=initrd", marker_prefix[] = "initrd=initrd ";
	*out = NULL;
	*len = 0;
	size_t clen = strlen(cmdline);
	/* QEMU always passes the cmdline with its NUL (size >= 1), so OVMF only omits
	 * LoadOptions when both the cmdline and the initrd are empty. */
	if (clen == 0 && !has_initrd)
		return 0;
	const char *marker = has_initrd ? (mode == LOADOPTS_PREFIX ? marker_prefix : marker_suffix)
					: "";
	size_t mlen = strlen(marker), n = clen + mlen;
	if (n > (1u << 20))
		return measure_err(err, "cmdline too long (%zu bytes)", clen);
	uint8_t *u = calloc(n + 1, 2);
	if (!u)
		return measure_err(err, "out of memory");
	const char *first = mode == LOADOPTS_PREFIX ? marker : cmdline;
	const char *second = mode == LOADOPTS_PREFIX ? cmdline : marker;
	size_t k = 0;
	/* Each byte is zero-extended to a CHAR16 (UnicodeSPrintAsciiFormat "%a"), not decoded. */
	for (const char *s = first; *s; s++, k++)
		u[2 * k] = (uint8_t)*s;
	for (const char *s = second; *s; s++, k++)
		u[2 * k] = (uint8_t)*s;
	*out = u;
	*len = 2 * (n + 1);
	return 0;
}

static int add_event(struct measure_result *r, uint32_t pcr, uint32_t type,
		     const uint8_t digest[SHA256_LEN], const char *what, char *err)
{
	if (r->nevents == MEASURE_MAX_EVENTS)
		return measure_err(err, "too many predicted events");
	struct measure_event *e = &r->events[r->nevents++];
	e->pcr = pcr;
	e->type = type;
	memcpy(e->digest, digest, SHA256_LEN);
	e->what = what;
	return 0;
}

static int add_action(struct measure_result *r, uint32_t pcr, const char *action, char *err)
{
	uint8_t d[SHA256_LEN];
	if (measure_sha256(action, strlen(action), d, err) < 0)
		return -1;
	return add_event(r, pcr, EV_EFI_ACTION, d, action, err);
}

static int add_separator(struct measure_result *r, uint32_t pcr, char *err)
{
	static const uint8_t zero[4];
	uint8_t d[SHA256_LEN];
	if (measure_sha256(zero, sizeof(zero), d, err) < 0)
		return -1;
	return add_event(r, pcr, EV_SEPARATOR, d, "separator", err);
}

int measure_kernel_image_digest(const struct measure_input *in, int sha384, uint8_t *out, char *err)
{
	uint8_t *img = malloc(in->kernel_len ? in->kernel_len : 1);
	if (!img)
		return measure_err(err, "out of memory for a %zu-byte kernel", in->kernel_len);
	memcpy(img, in->kernel, in->kernel_len);
	int ret = 0;
	if (in->qemu_patch) {
		struct qemu_patch_params p = {
			.mem_mib = in->mem_mib,
			.acpi_data_size = QEMU_ACPI_DATA_SIZE,
			.has_initrd = in->initrd != NULL,
			.initrd_size = in->initrd_len,
			.cmdline = in->cmdline,
		};
		ret = qemu_patch_setup_header(img, in->kernel_len, &p, err);
	}
	unsigned outlen = 0;
	if (ret == 0)
		ret = pe_authenticode(img, in->kernel_len, sha384 ? EVP_sha384() : EVP_sha256(),
				      out, &outlen, err);
	free(img);
	return ret;
}

static void replay(const struct measure_result *r, uint32_t pcr, uint8_t out[SHA256_LEN])
{
	char err[MEASURE_ERR_MAX];
	memset(out, 0, SHA256_LEN);
	for (size_t i = 0; i < r->nevents; i++)
		if (r->events[i].pcr == pcr)
			measure_extend(out, r->events[i].digest, err);
}

int measure_compute(const struct measure_input *in, struct measure_result *r, char *err)
{
	memset(r, 0, sizeof(*r));
	if (measure_sha256(in->kernel, in->kernel_len, r->kernel_sha256, err) < 0 ||
	    measure_kernel_image_digest(in, 0, r->kernel_authenticode, err) < 0)
		return -1;
	if (in->initrd && measure_sha256(in->initrd, in->initrd_len, r->initrd_sha256, err) < 0)
		return -1;

	/* PCR4: OVMF's LoadImage() measures the kernel before ReadyToBoot. */
	if (add_event(r, 4, EV_EFI_BOOT_SERVICES_APPLICATION, r->kernel_authenticode,
		      "kernel (Authenticode)", err) < 0 ||
	    add_action(r, 4, ACTION_CALLING, err) < 0 || add_separator(r, 4, err) < 0)
		return -1;
	/* PCR5: no GPT in direct boot. */
	if (add_separator(r, 5, err) < 0 || add_action(r, 5, ACTION_EBS, err) < 0 ||
	    add_action(r, 5, ACTION_EBS_OK, err) < 0)
		return -1;

	/* PCR9: the Linux EFI stub, LoadOptions first, then the initrd (non-empty only). */
	uint8_t *opts;
	size_t opts_len;
	/* OVMF adds the initrd marker only when fw_cfg reports a non-empty initrd. */
	int has_initrd = in->initrd != NULL && in->initrd_len > 0;
	if (measure_loadopts(in->cmdline, has_initrd, in->loadopts, &opts, &opts_len, err) < 0)
		return -1;
	if (opts) {
		int ret = measure_sha256(opts, opts_len, r->loadopts_sha256, err);
		free(opts);
		if (ret < 0 || add_event(r, 9, EV_EVENT_TAG, r->loadopts_sha256,
					 "LOADED_IMAGE::LoadOptions", err) < 0)
			return -1;
		r->has_loadopts = 1;
	}
	if (in->initrd && in->initrd_len > 0 &&
	    add_event(r, 9, EV_EVENT_TAG, r->initrd_sha256, "Linux initrd", err) < 0)
		return -1;

	/* PCR8: our PID 1 extends the digest of the initdata TOML document. */
	if (in->initdata) {
		if (measure_sha256(in->initdata, in->initdata_len, r->initdata_sha256, err) < 0 ||
		    add_event(r, 8, EV_EVENT_TAG, r->initdata_sha256, "initdata", err) < 0)
			return -1;
		r->has_pcr8 = 1;
	}
	replay(r, 4, r->pcr4);
	replay(r, 5, r->pcr5);
	replay(r, 8, r->pcr8);
	replay(r, 9, r->pcr9);
	return 0;
}
