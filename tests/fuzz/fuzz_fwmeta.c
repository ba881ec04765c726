/* Arbitrary bytes as a firmware image: the OVMF GUIDed table, TDVF descriptor and SEV metadata
 * parsers, then the measurements they drive (MRTD, the SNP launch digest) when the image is
 * small enough for a fuzzing iteration. A firmware file is a release input the verifier may
 * be handed by anyone: parse failures must be clean, never reads past the image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../measure/fw.h"
#include "../../measure/measure.h"
#include "../../measure/tee.h"

#define FUZZ_MAX_MEASURED (1u << 22) /* keep one iteration well under a second */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tdvf td;
	static struct sev_meta m;
	struct fw_table t;
	char err[MEASURE_ERR_MAX];
	uint8_t d[SHA384_LEN], d2[SHA384_LEN];

	if (fw_table_parse(data, size, &t, err) == 0) {
		if (t.n > FW_MAX_TABLE)
			abort();
		for (size_t i = 0; i < t.n; i++)
			if (t.e[i].data < data || t.e[i].data + t.e[i].len > data + size)
				abort();
	} else if (strnlen(err, sizeof(err)) == 0) {
		abort(); /* every failure says why */
	}

	if (tdvf_parse(data, size, &td, err) == 0) {
		uint64_t added = 0;
		for (size_t i = 0; i < td.n; i++) {
			const struct tdvf_section *s = &td.s[i];
			if ((uint64_t)s->data_offset + s->raw_size > size ||
			    s->raw_size > s->mem_size)
				abort();
			if (!(s->attributes & TDVF_ATTR_PAGE_AUG))
				added += s->mem_size;
		}
		if (added > FW_MAX_MEASURED)
			abort();
		if (added <= FUZZ_MAX_MEASURED) {
			if (tdx_mrtd(data, size, &td, TDX_SINGLE_PASS, d, err) < 0 ||
			    tdx_mrtd(data, size, &td, TDX_SINGLE_PASS, d2, err) < 0 ||
			    memcmp(d, d2, sizeof(d)) != 0)
				abort(); /* a parsed image always measures, deterministically */
			(void)tdx_mrtd(data, size, &td, TDX_TWO_PASS, d, err);
		}
	}

	if (sev_meta_parse(data, size, &m, err) == 0) {
		uint64_t total = 0;
		for (size_t i = 0; i < m.n; i++)
			total += m.s[i].size;
		if (total > FW_MAX_MEASURED)
			abort();
		/* the launch digest wants a page-multiple image; measure the page-aligned prefix
		 * with the metadata found in the whole image */
		static const uint8_t kernel[] = "k";
		struct snp_input in = {
			.firmware = data,
			.firmware_len = size & ~(size_t)(FW_PAGE - 1),
			.kernel = size & 1 ? kernel : NULL,
			.kernel_len = 1,
			.cmdline = "console=ttyS0",
			.vcpus = 1 + (unsigned)(size % 3),
			.vcpu_sig = 0xa00f11,
			.guest_features = 1,
			.vmm = (enum snp_vmm)(size % 3),
		};
		if (total <= FUZZ_MAX_MEASURED && in.firmware_len > 0)
			(void)snp_launch_digest(&in, &m, d, err);
	}
	return 0;
}
