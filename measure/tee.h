/* TDX and SEV-SNP launch reference values (../shared/reference/measure.md §3 and §4).
 *
 * TDX (QEMU + TDVF direct boot):
 *   MRTD  = SHA384 over one stream of 128-byte records, for each TDVF section in order: for
 *           each 4 KiB page, unless the section is PAGE.AUG, "MEM.PAGE.ADD" ‖ pad ‖ u64 GPA
 *           (TDH.MEM.PAGE.ADD); and for MR.EXTEND sections, for each 256-byte chunk,
 *           "MR.EXTEND" ‖ pad ‖ u64 GPA followed by the chunk (TDH.MR.EXTEND). Single pass:
 *           each page is added then extended (upstream KVM's KVM_TDX_INIT_MEM_REGION); two
 *           pass: all adds of a section, then all its extends (older TDX host stacks).
 *   RTMR1 = ext(Authenticode-SHA384 of the kernel as OVMF received it), ext("Calling EFI
 *           Application from Boot Option"), ext(separator), ext("Exit Boot Services
 *           Invocation"), ext("Exit Boot Services Returned with Success"): TdTcg2Dxe maps PCR 2-6
 *           to RTMR1 and measures one separator there.
 *   RTMR2 = ext(SHA384(LoadOptions)), ext(SHA384(initrd)): the Linux EFI stub (>= 6.9) through
 *           EFI_CC_MEASUREMENT_PROTOCOL, PCR 9 -> RTMR2.
 *   RTMR ext(x) = SHA384(RTMR ‖ x) from 48 zero bytes. RTMR0 (TD HOB, CFV/VARS, ACPI tables,
 *   boot variables) depends on the VM configuration and is not computed.
 *
 * SEV-SNP (QEMU, AmdSev OVMF with kernel-hashes=on): LD = SHA384(PAGE_INFO) chained from 48
 *   zero bytes over: every 4 KiB page of the firmware as NORMAL at 4 GiB - size; each SEV
 *   metadata section (SEC_MEM -> ZERO pages, or UNMEASURED for GCE; SECRETS; CPUID, which EC2
 *   adds after all sections; SVSM_CAA -> ZERO; KERNEL_HASHES -> one NORMAL page holding the
 *   hashes table at the table's page offset); then one VMSA page per vCPU. */
#ifndef SEALPOD_TEE_H
#define SEALPOD_TEE_H

#include "fw.h"
#include "measure.h"

#include <stddef.h>
#include <stdint.h>

#define SHA384_LEN 48

enum tdx_page_order { TDX_SINGLE_PASS, TDX_TWO_PASS };

/* MRTD of a TDVF image whose sections td described (tdvf_parse). */
int tdx_mrtd(const uint8_t *img, size_t len, const struct tdvf *td, enum tdx_page_order order,
	     uint8_t out[SHA384_LEN], char *err);

struct tdx_event {
	uint32_t rtmr; /* 1 or 2 */
	uint32_t type; /* TCG event type in the CCEL */
	uint8_t digest[SHA384_LEN];
	const char *what;
};

#define TDX_MAX_EVENTS 8

struct tdx_result {
	uint8_t rtmr1[SHA384_LEN], rtmr2[SHA384_LEN];
	uint8_t kernel_authenticode[SHA384_LEN];
	struct tdx_event events[TDX_MAX_EVENTS]; /* CCEL order */
	size_t nevents;
};

/* RTMR1 and RTMR2 from the same inputs as the vTPM prediction (kernel patching, load-options
 * order); the initdata is not a firmware measurement and is not included. legacy_separator:
 * TDVF before edk2-stable202411 (commit efaf893 "OvmfPkg/TdTcg2Dxe: Fix the SeparatorEvent
 * issue in RTMRs") extends the ReadyToBoot separator into RTMR0 instead of RTMR1. */
int tdx_rtmrs(const struct measure_input *in, int legacy_separator, struct tdx_result *r,
	      char *err);

/* SEV-SNP. */
enum snp_vmm { SNP_VMM_QEMU, SNP_VMM_EC2, SNP_VMM_GCE };

#define SNP_HASHES_TABLE_LEN 176 /* 168 bytes, padded to 16 */
#define SNP_VMSA_GPA	     0xFFFFFFFFF000ull

struct snp_input {
	const uint8_t *firmware; /* the AmdSev OVMF image as given to QEMU -bios */
	size_t firmware_len;
	const uint8_t *kernel; /* NULL: no -kernel, the hashes page is ZERO pages */
	size_t kernel_len;
	const uint8_t *initrd; /* NULL: hashed as empty */
	size_t initrd_len;
	const char *cmdline; /* the -append string; hashed with its NUL */
	unsigned vcpus;
	uint32_t vcpu_sig;	 /* CPUID(1).EAX of the guest vCPU model, into the VMSA's RDX */
	uint64_t guest_features; /* SEV_FEATURES in the VMSA: 0x1 = SNPActive */
	enum snp_vmm vmm;
};

/* The 176-byte table QEMU writes into the kernel-hashes page: header GUID, u16 0xa8, then
 * {GUID, u16 50, sha256} for the cmdline (with its NUL), the initrd and the kernel file. */
int snp_hashes_table(const struct snp_input *in, uint8_t out[SNP_HASHES_TABLE_LEN], char *err);

/* One initial VMSA page (the SEV-ES save area as KVM sets it for the VMM type). */
void snp_vmsa(uint8_t page[FW_PAGE], uint32_t eip, const struct snp_input *in);

/* The SNP launch digest (MEASUREMENT of the attestation report). */
int snp_launch_digest(const struct snp_input *in, const struct sev_meta *m, uint8_t out[SHA384_LEN],
		      char *err);

/* CPUID(1).EAX for a QEMU CPU model name ("EPYC", "EPYC-Milan", "EPYC-Genoa-v1", ...), or 0
 * when unknown. */
uint32_t snp_vcpu_sig(const char *model);

#endif
