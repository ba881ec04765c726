/* Arbitrary bytes as a kernel image handed to the Authenticode hasher and QEMU's header patch
 * (a release artifact, but the tool must not trust it: CVE-2022-36764 was this parser). */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../measure/measure.h"
#include "../../measure/pe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MEASURE_ERR_MAX];
	uint8_t a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned alen = 0, blen = 0;
	int ra = pe_authenticode(data, size, EVP_sha256(), a, &alen, err);
	int rb = pe_authenticode(data, size, EVP_sha256(), b, &blen, err);
	if (ra != rb || (ra == 0 && (alen != 32 || memcmp(a, b, 32) != 0)))
		abort(); /* deterministic */
	if (ra < 0 && strnlen(err, sizeof(err)) == 0)
		abort(); /* every failure says why */

	uint8_t *img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data, size);
	struct qemu_patch_params p = {
		.mem_mib = size > 0 ? 1 + data[0] * 64u : 1024,
		.acpi_data_size = 0x28000,
		.has_initrd = size > 1 && (data[1] & 1),
		.initrd_size = size,
		.cmdline = size > 2 && (data[2] & 1) ? "vga=ext console=ttyS0" : "console=ttyS0",
	};
	if (qemu_patch_setup_header(img, size, &p, err) == 0) {
		/* only setup-header bytes below 0x240 change */
		for (size_t i = SETUP_PATCH_END; i < size; i++)
			if (img[i] != data[i])
				abort();
		(void)pe_authenticode(img, size, EVP_sha384(), a, &alen, err);
	}
	free(img);
	return 0;
}
