/* Host-chosen Storage fields as the storage module parses them: the PCI path (source), the
 * driver options and mount options (NUL-separated lists), and sizes for the superblock layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"

/* Splits data at NUL bytes into at most max strings (copied into buf). */
static size_t split(char *buf, size_t len, char **out, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len && n < max; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		buf[i < len ? i : len] = '\0';
		out[n++] = buf + start;
		start = i + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_pci_path p;
	struct sp_blk_opts o;
	struct sp_err err;
	char *buf, *strs[16];
	size_t n, ndrv;
	uint64_t blocks[16], nb = 0;

	if (sp_pci_path_parse((const char *)data, size, &p, &err) == 0) {
		if (p.n == 0 || p.n > SP_PCI_PATH_MAX)
			abort();
		for (unsigned i = 0; i < p.n; i++)
			if (p.slot[i] > 0x1f || p.fn[i] > 7)
				abort();
	}
	if (strnlen(err.msg, sizeof(err.msg)) >= sizeof(err.msg))
		abort();
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	n = split(buf, size, strs, 16);
	ndrv = size ? data[0] % (n + 1) : 0;
	if (sp_blk_opts_parse(strs, ndrv, strs + ndrv, n - ndrv, &o, &err) == 0 &&
	    (o.mflags & 0x6) != 0x6) /* MS_NOSUID|MS_NODEV always set */
		abort();
	free(buf);
	memcpy(&nb, data, size < 8 ? size : 8);
	if (sp_ext4_sb_blocks(nb, blocks, 16) > 0 && blocks[0] != 0)
		abort();
	(void)sp_storage_size_check("vdb", nb, &err);
	return 0;
}
