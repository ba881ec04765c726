/* PE/COFF Authenticode image hash as edk2 computes it (SecurityPkg MeasureBootPeCoff.c,
 * DxeImageVerificationLib), and QEMU's x86 setup-header patch of a bzImage.
 *
 * The image is untrusted: every offset is checked against its length (edk2 itself had a heap
 * overflow here, CVE-2022-36764). Fuzzed by tests/fuzz/fuzz_pe.c. */
#ifndef SEALPOD_PE_H
#define SEALPOD_PE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define PE_MAX_SECTIONS 96 /* the PE spec allows 65535; real EFI images have a handful */

/* Authenticode digest of img with md into out (EVP_MAX_MD_SIZE bytes), *outlen set:
 *  1. hash [0, CheckSum), skip CheckSum (4 bytes);
 *  2. if NumberOfRvaAndSizes > 4: hash up to the Certificate Table entry, skip its 8 bytes,
 *     hash on to SizeOfHeaders; else hash to SizeOfHeaders and take no certificate size;
 *  3. sections with SizeOfRawData > 0, stably sorted by PointerToRawData, each hashed;
 *     SUM = SizeOfHeaders + every SizeOfRawData;
 *  4. if the file is longer than SUM, hash [SUM, len - CertificateTable.Size) (the certificate
 *     table is assumed to be last; len < SUM + certsize is an error). */
int pe_authenticode(const uint8_t *img, size_t len, const EVP_MD *md, uint8_t *out,
		    unsigned *outlen, char *err);

/* What QEMU's x86_load_linux (hw/i386/x86.c, QEMU 7.2 as in Debian bookworm) needs to patch
 * the setup header of a Linux bzImage it loads with -kernel on a q35 machine. */
struct qemu_patch_params {
	uint64_t mem_mib;	 /* -m; q35 below-4G RAM is min(RAM, 2 GiB if RAM >= 2.75 GiB) */
	uint64_t acpi_data_size; /* 0x28000 for every current PC machine type */
	int has_initrd;
	uint64_t initrd_size;
	const char *cmdline; /* for the vga= parameter */
};

/* Offsets in the setup header (Documentation/arch/x86/boot.rst). */
#define SETUP_VID_MODE	      0x1fa
#define SETUP_HDRS_MAGIC      0x202
#define SETUP_VERSION	      0x206
#define SETUP_TYPE_OF_LOADER  0x210
#define SETUP_LOADFLAGS	      0x211
#define SETUP_RAMDISK_IMAGE   0x218
#define SETUP_RAMDISK_SIZE    0x21c
#define SETUP_HEAP_END_PTR    0x224
#define SETUP_CMD_LINE_PTR    0x228
#define SETUP_INITRD_ADDR_MAX 0x22c
#define SETUP_XLOADFLAGS      0x236
#define SETUP_PATCH_END	      0x240 /* every byte QEMU may write lies below this */

/* Patches img in place as QEMU does before exposing it to the firmware through fw_cfg:
 * type_of_loader 0xB0, loadflags |= CAN_USE_HEAP, heap_end_ptr, cmd_line_ptr (or the old
 * 0x20/0x22 cmdline protocol), vid_mode for vga=, ramdisk_image/size with an initrd. Refuses
 * images without the "HdrS" magic (QEMU would not boot them as Linux through this path) and
 * inputs QEMU itself refuses (initrd too large, bad vga=). */
int qemu_patch_setup_header(uint8_t *img, size_t len, const struct qemu_patch_params *p, char *err);

#endif
