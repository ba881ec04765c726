/* Authenticode hashing of PE/COFF images and QEMU's bzImage setup-header patch (see pe.h). */
#include "pe.h"

#include "measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* [off, off+n) lies inside a buffer of len bytes, without overflow. */
static int in_bounds(uint64_t off, uint64_t n, uint64_t len)
{
	return off <= len && n <= len - off;
}

struct pe_section {
	uint32_t raw_size, raw_ptr;
};

static int hash_range(EVP_MD_CTX *ctx, const uint8_t *img, size_t len, uint64_t from, uint64_t to,
		      const char *what, char *err)
{
	if (to < from || !in_bounds(from, to - from, len))
		return measure_err(err, "PE %s [0x%llx, 0x%llx) outside the %zu-byte image", what,
				   (unsigned long long)from, (unsigned long long)to, len);
	if (to > from && EVP_DigestUpdate(ctx, img + from, (size_t)(to - from)) != 1)
		return measure_err(err, "EVP_DigestUpdate failed");
	return 0;
}

/* The hashing proper, once the context exists; see pe.h for the steps. */
static int authenticode_ctx(EVP_MD_CTX *ctx, const uint8_t *img, size_t len, char *err)
{
	/* edk2: a DOS header is optional; without "MZ" the PE header starts at 0. */
	uint64_t pe = 0;
	if (len >= 2 && img[0] == 'M' && img[1] == 'Z') {
		if (len < 0x40)
			return measure_err(err, "PE: DOS header truncated (%zu bytes)", len);
		pe = rd32(img + 0x3c);
	}
	if (!in_bounds(pe, 24, len) || memcmp(img + pe, "PE\0\0", 4) != 0)
		return measure_err(err, "PE: no \"PE\\0\\0\" signature at 0x%llx",
				   (unsigned long long)pe);
	uint16_t nsect = rd16(img + pe + 6);
	uint16_t opt_size = rd16(img + pe + 20);
	uint64_t opt = pe + 24;
	if (!in_bounds(opt, 2, len))
		return measure_err(err, "PE: optional header truncated");
	uint16_t magic = rd16(img + opt);
	uint64_t nrva_off, dd_off;
	if (magic == 0x10b) { /* PE32 */
		nrva_off = opt + 92;
		dd_off = opt + 96;
	} else if (magic == 0x20b) { /* PE32+ */
		nrva_off = opt + 108;
		dd_off = opt + 112;
	} else {
		return measure_err(err, "PE: unknown optional header magic 0x%x", magic);
	}
	if (opt_size < dd_off - opt || !in_bounds(opt, opt_size, len))
		return measure_err(err, "PE: optional header size %u too small or truncated",
				   opt_size);
	uint64_t checksum = opt + 64;
	uint32_t size_of_headers = rd32(img + opt + 60);
	uint32_t nrva = rd32(img + nrva_off);
	if ((uint64_t)nrva * 8 > (uint64_t)opt_size - (dd_off - opt))
		return measure_err(err, "PE: %u data directories do not fit the optional header",
				   nrva);
	uint64_t sect_tab = opt + opt_size;
	if (!in_bounds(sect_tab, (uint64_t)nsect * 40, len))
		return measure_err(err, "PE: section table (%u entries) truncated", nsect);
	if (nsect > PE_MAX_SECTIONS)
		return measure_err(err, "PE: %u sections (limit %d)", nsect, PE_MAX_SECTIONS);

	uint32_t cert_size = 0;
	if (hash_range(ctx, img, len, 0, checksum, "header", err) < 0)
		return -1;
	if (nrva <= 4) {
		if (hash_range(ctx, img, len, checksum + 4, size_of_headers, "header", err) < 0)
			return -1;
	} else {
		uint64_t cert_dir = dd_off + 4 * 8ULL;
		cert_size = rd32(img + cert_dir + 4);
		if (hash_range(ctx, img, len, checksum + 4, cert_dir, "header", err) < 0 ||
		    hash_range(ctx, img, len, cert_dir + 8, size_of_headers, "header", err) < 0)
			return -1;
	}

	/* Stable insertion sort by PointerToRawData, exactly as edk2 orders them. */
	struct pe_section s[PE_MAX_SECTIONS];
	size_t n = 0;
	for (uint16_t i = 0; i < nsect; i++) {
		const uint8_t *h = img + sect_tab + (uint64_t)i * 40;
		struct pe_section cur = { .raw_size = rd32(h + 16), .raw_ptr = rd32(h + 20) };
		size_t pos = n;
		while (pos > 0 && cur.raw_ptr < s[pos - 1].raw_ptr) {
			s[pos] = s[pos - 1];
			pos--;
		}
		s[pos] = cur;
		n++;
	}
	uint64_t sum = size_of_headers;
	for (size_t i = 0; i < n; i++) {
		if (s[i].raw_size == 0)
			continue;
		if (hash_range(ctx, img, len, s[i].raw_ptr, (uint64_t)s[i].raw_ptr + s[i].raw_size,
			       "section", err) < 0)
			return -1;
		sum += s[i].raw_size;
	}
	if (len > sum) {
		if (len < sum + cert_size)
			return measure_err(err,
					   "PE: certificate table (%u bytes) overlaps hashed data "
					   "(%llu of %zu bytes)",
					   cert_size, (unsigned long long)sum, len);
		if (hash_range(ctx, img, len, sum, len - cert_size, "trailing data", err) < 0)
			return -1;
	}
	return 0;
}

int pe_authenticode(const uint8_t *img, size_t len, const EVP_MD *md, uint8_t *out,
		    unsigned *outlen, char *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return measure_err(err, "EVP_MD_CTX_new failed");
	int ret = -1;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		measure_err(err, "EVP_DigestInit_ex failed");
		goto out;
	}
	if (authenticode_ctx(ctx, img, len, err) < 0)
		goto out;
	if (EVP_DigestFinal_ex(ctx, out, outlen) != 1) {
		measure_err(err, "EVP_DigestFinal_ex failed");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* QEMU's vga= handling: normal/ext/ask or a number (qemu_strtoui, base 0) ending the word. */
static int vga_mode(const char *cmdline, int *has, uint16_t *mode, char *err)
{
	const char *v = strstr(cmdline, "vga=");
	*has = 0;
	if (!v)
		return 0;
	v += 4;
	*has = 1;
	if (!strncmp(v, "normal", 6)) {
		*mode = 0xffff;
	} else if (!strncmp(v, "ext", 3)) {
		*mode = 0xfffe;
	} else if (!strncmp(v, "ask", 3)) {
		*mode = 0xfffd;
	} else {
		char *end;
		if (*v == '-' || *v == ' ' || *v == '\0')
			return measure_err(err, "QEMU refuses this vga= parameter");
		unsigned long m = strtoul(v, &end, 0);
		if (end == v || (*end && *end != ' ') || m > 0xffffffffUL)
			return measure_err(err, "QEMU refuses this vga= parameter");
		*mode = (uint16_t)m; /* stw_p keeps the low 16 bits */
	}
	return 0;
}

int qemu_patch_setup_header(uint8_t *img, size_t len, const struct qemu_patch_params *p, char *err)
{
	if (len < SETUP_PATCH_END)
		return measure_err(err, "kernel too short for a setup header (%zu bytes)", len);
	if (memcmp(img + SETUP_HDRS_MAGIC, "HdrS", 4) != 0)
		return measure_err(err, "kernel has no \"HdrS\" setup header: not a bzImage "
					"(QEMU does not patch it this way; use --no-qemu-patch)");
	uint16_t protocol = rd16(img + SETUP_VERSION);

	uint32_t real_addr, cmdline_addr;
	if (protocol < 0x200 || !(img[SETUP_LOADFLAGS] & 0x01) || protocol < 0x202) {
		uint32_t cmdline_size = (uint32_t)((strlen(p->cmdline) + 16) & ~(size_t)15);
		real_addr = 0x90000;
		cmdline_addr = 0x9a000 - cmdline_size;
	} else {
		real_addr = 0x10000;
		cmdline_addr = 0x20000;
	}

	/* q35 (hw/i386/pc_q35.c): all RAM below 4G unless it reaches 0xB0000000. */
	uint64_t ram = p->mem_mib << 20;
	uint64_t below_4g = ram >= 0xb0000000ULL ? 0x80000000ULL : ram;
	if (p->mem_mib == 0 || p->mem_mib > (1ULL << 30) || below_4g <= p->acpi_data_size)
		return measure_err(err, "memory size %llu MiB out of range",
				   (unsigned long long)p->mem_mib);
	uint64_t initrd_max;
	if (protocol >= 0x20c && (rd16(img + SETUP_XLOADFLAGS) & 0x2)) /* CAN_BE_LOADED_ABOVE_4G */
		initrd_max = 0xffffffffULL;
	else if (protocol >= 0x203)
		initrd_max = rd32(img + SETUP_INITRD_ADDR_MAX);
	else
		initrd_max = 0x37ffffff;
	if (initrd_max >= below_4g - p->acpi_data_size)
		initrd_max = below_4g - p->acpi_data_size - 1;

	if (protocol >= 0x202) {
		wr32(img + SETUP_CMD_LINE_PTR, cmdline_addr);
	} else {
		wr16(img + 0x20, 0xa33f);
		wr16(img + 0x22, (uint16_t)(cmdline_addr - real_addr));
	}
	int has_vga;
	uint16_t mode = 0;
	if (vga_mode(p->cmdline, &has_vga, &mode, err) < 0)
		return -1;
	if (has_vga)
		wr16(img + SETUP_VID_MODE, mode);
	if (protocol >= 0x200)
		img[SETUP_TYPE_OF_LOADER] = 0xb0;
	if (protocol >= 0x201) {
		img[SETUP_LOADFLAGS] |= 0x80;
		wr16(img + SETUP_HEAP_END_PTR, (uint16_t)(cmdline_addr - real_addr - 0x200));
	}
	if (p->has_initrd) {
		if (protocol < 0x200)
			return measure_err(err, "QEMU: linux kernel too old to load a ram disk");
		if (p->initrd_size >= initrd_max)
			return measure_err(err, "QEMU: initrd of %llu bytes too large for %llu MiB",
					   (unsigned long long)p->initrd_size,
					   (unsigned long long)p->mem_mib);
		uint32_t addr = (uint32_t)((initrd_max - p->initrd_size) & ~0xfffULL);
		wr32(img + SETUP_RAMDISK_IMAGE, addr);
		wr32(img + SETUP_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	}
	return 0;
}
