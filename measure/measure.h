/* sealpod-measure: reference values for a sealpod guest, computed offline.
 *
 * vTPM path (QEMU + OVMF direct boot, see ../shared/reference/measure.md §1):
 *   PCR4 = ext(ext(ext(0, authenticode(kernel as OVMF received it)),
 *              H("Calling EFI Application from Boot Option")), H(separator))
 *   PCR5 = constant (separator, the two ExitBootServices actions)
 *   PCR8 = ext(0, H(initdata TOML document))       (extended by our PID 1, not the firmware)
 *   PCR9 = ext(ext(0, H(UTF-16LE load options + NUL)), H(initrd))   (the Linux EFI stub)
 * All values are for the sha256 bank. The kernel "as OVMF received it" is the bzImage with the
 * setup header patched by QEMU's x86_load_linux (pe.h, qemu_patch_setup_header) unless the
 * stack hands over the raw file (--no-qemu-patch: SEV, QEMU >= 10 with edk2 >= stable202502).
 *
 * Errors: every fallible function returns a negative value and fills a MEASURE_ERR_MAX buffer. */
#ifndef SEALPOD_MEASURE_H
#define SEALPOD_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#define MEASURE_ERR_MAX 256
#define SHA256_LEN	32

/* Formats msg into err (MEASURE_ERR_MAX bytes) and returns -1. */
int measure_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The order in which OVMF joins the cmdline and the initrd marker into LoadOptions. */
enum loadopts_mode {
	LOADOPTS_SUFFIX, /* cmdline + " initrd=initrd": edk2 before stable202508 (Debian's) */
	LOADOPTS_PREFIX, /* "initrd=initrd " + cmdline: edk2 stable202508 and later */
};

/* TCG event types the predictions use (TCG PC Client PFP spec). */
#define EV_POST_CODE			 0x1u
#define EV_NO_ACTION			 0x3u
#define EV_SEPARATOR			 0x4u
#define EV_ACTION			 0x5u
#define EV_EVENT_TAG			 0x6u
#define EV_S_CRTM_VERSION		 0x8u
#define EV_EFI_EVENT_BASE		 0x80000000u
#define EV_EFI_VARIABLE_DRIVER_CONFIG	 0x80000001u
#define EV_EFI_VARIABLE_BOOT		 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_ACTION			 0x80000007u

/* One predicted event: what the firmware or the stub extends, in order. */
struct measure_event {
	uint32_t pcr;
	uint32_t type;
	uint8_t digest[SHA256_LEN];
	const char *what; /* short human description */
};

#define MEASURE_MAX_EVENTS 16

struct measure_input {
	const uint8_t *kernel; /* the bzImage file as given to QEMU -kernel */
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL (no -initrd) */
	size_t initrd_len;
	const char *cmdline; /* the exact -append string ("" when none) */
	uint64_t mem_mib;    /* -m */
	int qemu_patch;	     /* 1: QEMU patched the setup header before OVMF hashed it */
	enum loadopts_mode loadopts;
	const uint8_t *initdata; /* the initdata TOML document, or NULL */
	size_t initdata_len;
};

struct measure_result {
	uint8_t pcr4[SHA256_LEN], pcr5[SHA256_LEN], pcr8[SHA256_LEN], pcr9[SHA256_LEN];
	int has_pcr8;
	uint8_t kernel_sha256[SHA256_LEN];
	uint8_t kernel_authenticode[SHA256_LEN]; /* of the bytes OVMF hashed */
	uint8_t initrd_sha256[SHA256_LEN];
	uint8_t initdata_sha256[SHA256_LEN];
	uint8_t loadopts_sha256[SHA256_LEN];
	int has_loadopts; /* 0 when LoadOptionsSize would be 0 (no stub event) */
	struct measure_event events[MEASURE_MAX_EVENTS]; /* PCR4, 5, 9 (and 8) in log order */
	size_t nevents;
};

/* The Authenticode digest (sha256, or sha384 when sha384 is set) of the kernel as OVMF
 * received it: QEMU-patched per in->qemu_patch, in->mem_mib, the initrd and the cmdline. */
int measure_kernel_image_digest(const struct measure_input *in, int sha384, uint8_t *out,
				char *err);

/* Computes every value above. */
int measure_compute(const struct measure_input *in, struct measure_result *out, char *err);

/* new = SHA256(pcr || digest), in place. */
int measure_extend(uint8_t pcr[SHA256_LEN], const uint8_t digest[SHA256_LEN], char *err);
int measure_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN], char *err);

/* The LoadOptions OVMF hands to the kernel: each cmdline byte zero-extended to a UTF-16LE
 * code unit, joined with the initrd marker per mode, plus a UTF-16 NUL. *len = 0 and *out =
 * NULL when OVMF would pass none (empty cmdline and no initrd). Caller frees *out. */
int measure_loadopts(const char *cmdline, int has_initrd, enum loadopts_mode mode, uint8_t **out,
		     size_t *len, char *err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void measure_hex(const uint8_t *in, size_t n, char *out);

#endif
