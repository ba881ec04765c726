/* Parsers for the metadata that edk2 puts into an OVMF image for confidential guests
 * (../shared/reference/measure.md §3.1, §4.2):
 *
 *  - the GUIDed table at the end of the image (OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm):
 *    the footer entry sits 32 bytes before the end, each entry is {data..., u16 length, GUID}
 *    with length counting the whole entry, walked backwards from the footer;
 *  - the TDVF descriptor (IntelTdxMetadata.asm): "TDVF", u32 length, u32 version 1,
 *    u32 n, then n 32-byte sections {u32 data offset, u32 raw size, u64 GPA, u64 memory size,
 *    u32 type, u32 attributes}; found through the table entry e47a6535-... (u32 offset from
 *    the end of the image);
 *  - the SEV metadata (OvmfSevMetadata.asm): "ASEV", u32 length, u32 version 1, u32 n, then
 *    n 12-byte sections {u32 GPA, u32 size, u32 type}; found through dc886566-...; plus the
 *    SEV-ES AP reset EIP (00f771de-...) and the kernel-hashes table GPA (7255371f-...).
 *
 * The image is untrusted input: every offset and length is checked against the image,
 * counts are bounded, GPAs and sizes must be page aligned and may not wrap. Fuzzed by
 * tests/fuzz/fuzz_fwmeta.c. Entries point into the caller's buffer. */
#ifndef SEALPOD_FW_H
#define SEALPOD_FW_H

#include <stddef.h>
#include <stdint.h>

#define FW_GUID_LEN	16
#define FW_MAX_TABLE	32
#define FW_MAX_SECTIONS 64
#define FW_PAGE		4096u
#define FW_MAX_IMAGE	(64u << 20) /* flash images are 1-8 MiB; the GPA math assumes < 4 GiB */
#define FW_TABLE_TAIL	32	    /* bytes between the footer entry and the end */
/* Bound on the memory the sections of one image make the TDX module or the SNP firmware
 * measure (real images: a few MiB), so a hostile image cannot make a measurement walk
 * billions of pages. */
#define FW_MAX_MEASURED (1ull << 30)

/* GUIDs in their on-disk (EFI, mixed-endian) byte order. */
extern const uint8_t FW_GUID_FOOTER[FW_GUID_LEN];	/* 96b582de-1fb2-45f7-baea-a366c55a082d */
extern const uint8_t FW_GUID_TDX_METADATA[FW_GUID_LEN]; /* e47a6535-984a-4798-865e-4685a7bf8ec2 */
extern const uint8_t FW_GUID_SEV_METADATA[FW_GUID_LEN]; /* dc886566-984a-4798-a75e-5585a7bf67cc */
extern const uint8_t FW_GUID_SEV_RESET_BLOCK[FW_GUID_LEN]; /* 00f771de-1a7e-4fcb-890e-68c77e2fb44e */
extern const uint8_t FW_GUID_SEV_HASH_TABLE[FW_GUID_LEN]; /* 7255371f-3a3b-4b04-927b-1da6efa8d454 */

struct fw_table_entry {
	uint8_t guid[FW_GUID_LEN];
	const uint8_t *data; /* the entry's payload (without its length and GUID) */
	size_t len;
};

struct fw_table {
	size_t n; /* entries in file order, last (nearest the footer) first */
	struct fw_table_entry e[FW_MAX_TABLE];
};

/* Parses the GUIDed footer table. An image without the footer GUID is an error. */
int fw_table_parse(const uint8_t *img, size_t len, struct fw_table *t, char *err);
/* The entry for guid, or NULL. */
const struct fw_table_entry *fw_table_find(const struct fw_table *t,
					   const uint8_t guid[FW_GUID_LEN]);

/* TDVF (TDX Virtual Firmware Design Guide, §11 "TDVF metadata"). */
enum tdvf_section_type {
	TDVF_BFV = 0,
	TDVF_CFV = 1,
	TDVF_TD_HOB = 2,
	TDVF_TEMP_MEM = 3,
	TDVF_PERM_MEM = 4,	/* td-shim */
	TDVF_PAYLOAD = 5,	/* td-shim */
	TDVF_PAYLOAD_PARAM = 6, /* td-shim */
};
#define TDVF_ATTR_MR_EXTEND 0x1u
#define TDVF_ATTR_PAGE_AUG  0x2u

struct tdvf_section {
	uint32_t data_offset, raw_size;
	uint64_t gpa, mem_size;
	uint32_t type, attributes;
};

struct tdvf {
	size_t n;
	struct tdvf_section s[FW_MAX_SECTIONS];
};

/* Finds and checks the TDVF descriptor: version 1; type <= 6; attributes within MR.EXTEND |
 * PAGE.AUG; GPA and memory size page aligned, memory size > 0, no wrap; raw size <= memory
 * size; the raw data inside the image; MR.EXTEND and PAGE.AUG not both set; at most
 * FW_MAX_MEASURED bytes of sections that are not PAGE.AUG. */
int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *t, char *err);
const char *tdvf_type_name(uint32_t type);

/* SEV metadata (OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm). */
enum sev_section_type {
	SEV_SEC_MEM = 1,
	SEV_SECRETS = 2,
	SEV_CPUID = 3,
	SEV_SVSM_CAA = 4,
	SEV_KERNEL_HASHES = 0x10,
};

struct sev_section {
	uint32_t gpa, size, type;
};

struct sev_meta {
	size_t n;
	struct sev_section s[FW_MAX_SECTIONS];
	uint32_t ap_reset_eip; /* 0 when the image has no SEV-ES reset block */
	uint32_t hashes_gpa;   /* 0 when the image has no kernel-hashes table */
	uint32_t hashes_size;
};

/* Finds and checks the SEV metadata: version 1; known types; GPA and size page aligned
 * (SECRETS and CPUID exactly one page), size > 0, below 4 GiB, FW_MAX_MEASURED in all.
 * The kernel-hashes table,
 * when present, lies inside the KERNEL_HASHES section. */
int sev_meta_parse(const uint8_t *img, size_t len, struct sev_meta *m, char *err);
const char *sev_type_name(uint32_t type);

#endif
