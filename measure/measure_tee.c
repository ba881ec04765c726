/* TDX MRTD/RTMR1/RTMR2 and the SEV-SNP launch digest (see tee.h). */
#include "tee.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_CALLING "Calling EFI Application from Boot Option"
#define ACTION_EBS     "Exit Boot Services Invocation"
#define ACTION_EBS_OK  "Exit Boot Services Returned with Success"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static int sha384(const void *data, size_t len, uint8_t out[SHA384_LEN], char *err)
{
	unsigned n;
	if (EVP_Digest(data, len, out, &n, EVP_sha384(), NULL) != 1 || n != SHA384_LEN)
		return measure_err(err, "sha384 failed");
	return 0;
}

/* --- TDX ----------------------------------------------------------------------------------- */

#define MR_EXTEND_CHUNK 256

static int md_update(EVP_MD_CTX *c, const void *p, size_t n, char *err)
{
	return EVP_DigestUpdate(c, p, n) == 1 ? 0 : measure_err(err, "sha384 update failed");
}

static int page_add(EVP_MD_CTX *c, uint64_t gpa, char *err)
{
	uint8_t rec[128] = "MEM.PAGE.ADD"; /* the rest zero */
	put64(rec + 16, gpa);
	return md_update(c, rec, sizeof(rec), err);
}

/* The 16 TDH.MR.EXTEND calls of one page: QEMU copies raw_size bytes of the section into the
 * zero-filled region, so bytes past the raw data are measured as zeros. */
static int page_extend(EVP_MD_CTX *c, const uint8_t *img, const struct tdvf_section *s,
		       uint64_t page, char *err)
{
	for (unsigned i = 0; i < FW_PAGE / MR_EXTEND_CHUNK; i++) {
		uint8_t rec[128] = "MR.EXTEND", chunk[MR_EXTEND_CHUNK] = { 0 };
		uint64_t off = page * FW_PAGE + (uint64_t)i * MR_EXTEND_CHUNK;
		put64(rec + 16, s->gpa + off);
		if (off < s->raw_size) {
			uint64_t n = s->raw_size - off < MR_EXTEND_CHUNK ? s->raw_size - off
									 : MR_EXTEND_CHUNK;
			memcpy(chunk, img + s->data_offset + off, (size_t)n);
		}
		if (md_update(c, rec, sizeof(rec), err) < 0 ||
		    md_update(c, chunk, sizeof(chunk), err) < 0)
			return -1;
	}
	return 0;
}

int tdx_mrtd(const uint8_t *img, size_t len, const struct tdvf *td, enum tdx_page_order order,
	     uint8_t out[SHA384_LEN], char *err)
{
	(void)len; /* tdvf_parse checked every section against it */
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_sha384(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return measure_err(err, "sha384 init failed");
	}
	int ret = 0;
	for (size_t k = 0; k < td->n && ret == 0; k++) {
		const struct tdvf_section *s = &td->s[k];
		uint64_t pages = s->mem_size / FW_PAGE;
		int add = !(s->attributes & TDVF_ATTR_PAGE_AUG);
		int extend = (s->attributes & TDVF_ATTR_MR_EXTEND) != 0;
		if (!add && !extend)
			continue; /* PAGE.AUG: accepted by the guest later, not measured (and of any
				   * size: the walk must not visit its pages) */
		if (order == TDX_TWO_PASS) {
			for (uint64_t p = 0; add && p < pages && ret == 0; p++)
				ret = page_add(c, s->gpa + p * FW_PAGE, err);
			for (uint64_t p = 0; extend && p < pages && ret == 0; p++)
				ret = page_extend(c, img, s, p, err);
		} else {
			for (uint64_t p = 0; p < pages && ret == 0; p++) {
				if (add)
					ret = page_add(c, s->gpa + p * FW_PAGE, err);
				if (ret == 0 && extend)
					ret = page_extend(c, img, s, p, err);
			}
		}
	}
	unsigned n = 0;
	if (ret == 0 && (EVP_DigestFinal_ex(c, out, &n) != 1 || n != SHA384_LEN))
		ret = measure_err(err, "sha384 final failed");
	EVP_MD_CTX_free(c);
	return ret;
}

static int tdx_add(struct tdx_result *r, uint32_t rtmr, uint32_t type, const uint8_t *digest,
		   const char *what, char *err)
{
	if (r->nevents == TDX_MAX_EVENTS)
		return measure_err(err, "too many predicted TDX events");
	struct tdx_event *e = &r->events[r->nevents++];
	e->rtmr = rtmr;
	e->type = type;
	memcpy(e->digest, digest, SHA384_LEN);
	e->what = what;
	uint8_t buf[2 * SHA384_LEN];
	uint8_t *reg = rtmr == 1 ? r->rtmr1 : r->rtmr2;
	memcpy(buf, reg, SHA384_LEN);
	memcpy(buf + SHA384_LEN, digest, SHA384_LEN);
	return sha384(buf, sizeof(buf), reg, err);
}

static int tdx_add_data(struct tdx_result *r, uint32_t rtmr, uint32_t type, const void *data,
			size_t len, const char *what, char *err)
{
	uint8_t d[SHA384_LEN];
	if (sha384(data, len, d, err) < 0)
		return -1;
	return tdx_add(r, rtmr, type, d, what, err);
}

int tdx_rtmrs(const struct measure_input *in, int legacy_separator, struct tdx_result *r, char *err)
{
	static const uint8_t separator[4];
	memset(r, 0, sizeof(*r));
	if (measure_kernel_image_digest(in, 1, r->kernel_authenticode, err) < 0 ||
	    tdx_add(r, 1, EV_EFI_BOOT_SERVICES_APPLICATION, r->kernel_authenticode,
		    "kernel (Authenticode)", err) < 0 ||
	    tdx_add_data(r, 1, EV_EFI_ACTION, ACTION_CALLING, strlen(ACTION_CALLING),
			 ACTION_CALLING, err) < 0 ||
	    (!legacy_separator && tdx_add_data(r, 1, EV_SEPARATOR, separator, sizeof(separator),
					       "separator", err) < 0) ||
	    tdx_add_data(r, 1, EV_EFI_ACTION, ACTION_EBS, strlen(ACTION_EBS), ACTION_EBS, err) <
		    0 ||
	    tdx_add_data(r, 1, EV_EFI_ACTION, ACTION_EBS_OK, strlen(ACTION_EBS_OK), ACTION_EBS_OK,
			 err) < 0)
		return -1;
	uint8_t *opts;
	size_t opts_len;
	int has_initrd = in->initrd != NULL && in->initrd_len > 0;
	if (measure_loadopts(in->cmdline, has_initrd, in->loadopts, &opts, &opts_len, err) < 0)
		return -1;
	if (opts) {
		int ret = tdx_add_data(r, 2, EV_EVENT_TAG, opts, opts_len,
				       "LOADED_IMAGE::LoadOptions", err);
		free(opts);
		if (ret < 0)
			return -1;
	}
	if (has_initrd &&
	    tdx_add_data(r, 2, EV_EVENT_TAG, in->initrd, in->initrd_len, "Linux initrd", err) < 0)
		return -1;
	return 0;
}

/* --- SEV-SNP -------------------------------------------------------------------------------- */

enum { PT_NORMAL = 1, PT_VMSA = 2, PT_ZERO = 3, PT_UNMEASURED = 4, PT_SECRETS = 5, PT_CPUID = 6 };

static const uint8_t GUID_HT_HEADER[FW_GUID_LEN] = {
	0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
	0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21
};
static const uint8_t GUID_HT_CMDLINE[FW_GUID_LEN] = { 0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd,
						      0x94, 0x4c, 0xaa, 0x78, 0xe7, 0x71,
						      0x4d, 0x36, 0xab, 0x2a };
static const uint8_t GUID_HT_INITRD[FW_GUID_LEN] = {
	0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b,
	0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d
};
static const uint8_t GUID_HT_KERNEL[FW_GUID_LEN] = {
	0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42,
	0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b
};

#define HT_ENTRY_LEN 50	 /* GUID + u16 + sha256 */
#define HT_LEN	     168 /* GUID + u16 + 3 entries */

int snp_hashes_table(const struct snp_input *in, uint8_t out[SNP_HASHES_TABLE_LEN], char *err)
{
	static const uint8_t empty[1];
	memset(out, 0, SNP_HASHES_TABLE_LEN);
	memcpy(out, GUID_HT_HEADER, FW_GUID_LEN);
	put16(out + 16, HT_LEN);
	struct {
		const uint8_t *guid;
		const void *data;
		size_t len;
	} e[3] = {
		/* QEMU hashes the cmdline it passes through fw_cfg: the -append bytes and a NUL. */
		{ GUID_HT_CMDLINE, in->cmdline ? (const void *)in->cmdline : empty,
		  in->cmdline ? strlen(in->cmdline) + 1 : 1 },
		{ GUID_HT_INITRD, in->initrd ? (const void *)in->initrd : empty,
		  in->initrd ? in->initrd_len : 0 },
		{ GUID_HT_KERNEL, in->kernel, in->kernel_len },
	};
	for (int i = 0; i < 3; i++) {
		uint8_t *p = out + 18 + (size_t)HT_ENTRY_LEN * i;
		memcpy(p, e[i].guid, FW_GUID_LEN);
		put16(p + 16, HT_ENTRY_LEN);
		if (measure_sha256(e[i].data, e[i].len, p + 18, err) < 0)
			return -1;
	}
	return 0;
}

/* struct sev_es_save_area (Linux arch/x86/include/asm/svm.h) offsets used here. */
#define VMSA_ES		  0x000
#define VMSA_CS		  0x010
#define VMSA_SS		  0x020
#define VMSA_DS		  0x030
#define VMSA_FS		  0x040
#define VMSA_GS		  0x050
#define VMSA_GDTR	  0x060
#define VMSA_LDTR	  0x070
#define VMSA_IDTR	  0x080
#define VMSA_TR		  0x090
#define VMSA_EFER	  0x0d0
#define VMSA_CR4	  0x148
#define VMSA_CR0	  0x158
#define VMSA_DR7	  0x160
#define VMSA_DR6	  0x168
#define VMSA_RFLAGS	  0x170
#define VMSA_RIP	  0x178
#define VMSA_G_PAT	  0x268
#define VMSA_RDX	  0x310
#define VMSA_SEV_FEATURES 0x3b0
#define VMSA_XCR0	  0x3e8
#define VMSA_MXCSR	  0x408
#define VMSA_X87_FCW	  0x410

#define BSP_EIP 0xfffffff0u

static void seg(uint8_t *p, uint16_t selector, uint16_t attrib, uint32_t limit, uint64_t base)
{
	put16(p, selector);
	put16(p + 2, attrib);
	put32(p + 4, limit);
	put64(p + 8, base);
}

void snp_vmsa(uint8_t page[FW_PAGE], uint32_t eip, const struct snp_input *in)
{
	/* The reset state KVM gives a vCPU, with what each VMM changes (sev-snp-measure's VMM
	 * types; EC2 and GCE hypervisors are not KVM + QEMU). */
	uint16_t cs_attr = 0x9b, ss_attr = 0x93, tr_attr = 0x8b;
	uint64_t g_pat = 0x0007040600070406ull, rdx = in->vcpu_sig;
	uint32_t mxcsr = 0x1f80;
	uint16_t fcw = 0x37f;
	if (in->vmm == SNP_VMM_EC2) {
		cs_attr = eip == BSP_EIP ? 0x9a : 0x9b;
		ss_attr = 0x92;
		tr_attr = 0x83;
		rdx = 0x600;
		mxcsr = 0;
		fcw = 0;
	} else if (in->vmm == SNP_VMM_GCE) {
		g_pat = 0x00070106;
		rdx = 0x600;
		mxcsr = 0;
		fcw = 0;
	}
	memset(page, 0, FW_PAGE);
	seg(page + VMSA_ES, 0, 0x93, 0xffff, 0);
	seg(page + VMSA_CS, 0xf000, cs_attr, 0xffff, eip & 0xffff0000u);
	seg(page + VMSA_SS, 0, ss_attr, 0xffff, 0);
	seg(page + VMSA_DS, 0, 0x93, 0xffff, 0);
	seg(page + VMSA_FS, 0, 0x93, 0xffff, 0);
	seg(page + VMSA_GS, 0, 0x93, 0xffff, 0);
	seg(page + VMSA_GDTR, 0, 0, 0xffff, 0);
	seg(page + VMSA_LDTR, 0, 0x82, 0xffff, 0);
	seg(page + VMSA_IDTR, 0, 0, 0xffff, 0);
	seg(page + VMSA_TR, 0, tr_attr, 0xffff, 0);
	put64(page + VMSA_EFER, 0x1000); /* SVME */
	put64(page + VMSA_CR4, 0x40);	 /* MCE */
	put64(page + VMSA_CR0, 0x10);	 /* ET */
	put64(page + VMSA_DR7, 0x400);
	put64(page + VMSA_DR6, 0xffff0ff0);
	put64(page + VMSA_RFLAGS, 0x2);
	put64(page + VMSA_RIP, eip & 0xffff);
	put64(page + VMSA_G_PAT, g_pat);
	put64(page + VMSA_RDX, rdx);
	put64(page + VMSA_SEV_FEATURES, in->guest_features);
	put64(page + VMSA_XCR0, 0x1);
	put32(page + VMSA_MXCSR, mxcsr);
	put16(page + VMSA_X87_FCW, fcw);
}

struct gctx {
	uint8_t ld[SHA384_LEN];
};

/* PAGE_INFO (SNP firmware ABI, SNP_LAUNCH_UPDATE): digest_cur, contents, u16 length 0x70,
 * u8 page type, u8 IMI page, u8 VMPL3/2/1 permissions, u8 reserved, u64 GPA. */
static int gctx_update(struct gctx *g, uint8_t type, uint64_t gpa,
		       const uint8_t contents[SHA384_LEN], char *err)
{
	uint8_t info[0x70] = { 0 };
	memcpy(info, g->ld, SHA384_LEN);
	if (contents)
		memcpy(info + 0x30, contents, SHA384_LEN);
	put16(info + 0x60, sizeof(info));
	info[0x62] = type;
	put64(info + 0x68, gpa);
	return sha384(info, sizeof(info), g->ld, err);
}

static int gctx_normal(struct gctx *g, uint64_t gpa, const uint8_t *data, size_t len, char *err)
{
	for (size_t off = 0; off < len; off += FW_PAGE) {
		uint8_t d[SHA384_LEN];
		if (sha384(data + off, FW_PAGE, d, err) < 0 ||
		    gctx_update(g, PT_NORMAL, gpa + off, d, err) < 0)
			return -1;
	}
	return 0;
}

static int gctx_empty(struct gctx *g, uint8_t type, uint64_t gpa, uint64_t len, char *err)
{
	for (uint64_t off = 0; off < len; off += FW_PAGE)
		if (gctx_update(g, type, gpa + off, NULL, err) < 0)
			return -1;
	return 0;
}

int snp_launch_digest(const struct snp_input *in, const struct sev_meta *m, uint8_t out[SHA384_LEN],
		      char *err)
{
	struct gctx g = { { 0 } };
	if (in->firmware_len % FW_PAGE || in->firmware_len == 0 || in->firmware_len > FW_MAX_IMAGE)
		return measure_err(err, "firmware size %zu is not a multiple of 4 KiB",
				   in->firmware_len);
	if (in->vcpus == 0 || in->vcpus > 512)
		return measure_err(err, "vCPU count %u out of range 1-512", in->vcpus);
	if (in->vcpus > 1 && m->ap_reset_eip == 0)
		return measure_err(err, "firmware has no SEV-ES reset block for the APs");
	int has_hashes_section = 0;
	for (size_t i = 0; i < m->n; i++)
		has_hashes_section |= m->s[i].type == SEV_KERNEL_HASHES;
	if (in->kernel && (!has_hashes_section || m->hashes_gpa == 0))
		return measure_err(err, "firmware has no SNP kernel-hashes section: direct boot "
					"needs the AmdSev build (OvmfPkg/AmdSev/AmdSevX64.dsc)");

	/* 1. the firmware image, mapped to end at 4 GiB */
	if (gctx_normal(&g, 0x100000000ull - in->firmware_len, in->firmware, in->firmware_len,
			err) < 0)
		return -1;
	/* 2. the metadata sections, in order */
	for (size_t i = 0; i < m->n; i++) {
		const struct sev_section *s = &m->s[i];
		int ret = 0;
		switch (s->type) {
		case SEV_SEC_MEM:
			ret = gctx_empty(&g, in->vmm == SNP_VMM_GCE ? PT_UNMEASURED : PT_ZERO,
					 s->gpa, s->size, err);
			break;
		case SEV_SECRETS:
			ret = gctx_update(&g, PT_SECRETS, s->gpa, NULL, err);
			break;
		case SEV_CPUID:
			if (in->vmm != SNP_VMM_EC2)
				ret = gctx_update(&g, PT_CPUID, s->gpa, NULL, err);
			break;
		case SEV_SVSM_CAA:
			ret = gctx_empty(&g, PT_ZERO, s->gpa, s->size, err);
			break;
		case SEV_KERNEL_HASHES:
			if (!in->kernel) {
				ret = gctx_empty(&g, PT_ZERO, s->gpa, s->size, err);
				break;
			}
			if (s->size != FW_PAGE || m->hashes_gpa < s->gpa ||
			    m->hashes_gpa - s->gpa + SNP_HASHES_TABLE_LEN > FW_PAGE)
				return measure_err(err,
						   "kernel-hashes table at 0x%x does not fit "
						   "its one-page section at 0x%x",
						   m->hashes_gpa, s->gpa);
			uint8_t page[FW_PAGE] = { 0 };
			ret = snp_hashes_table(in, page + (m->hashes_gpa - s->gpa), err);
			if (ret == 0)
				ret = gctx_normal(&g, s->gpa, page, sizeof(page), err);
			break;
		default:
			return measure_err(err, "unknown SEV section type 0x%x", s->type);
		}
		if (ret < 0)
			return -1;
	}
	/* EC2 adds the CPUID page after every other section. */
	for (size_t i = 0; in->vmm == SNP_VMM_EC2 && i < m->n; i++)
		if (m->s[i].type == SEV_CPUID &&
		    gctx_update(&g, PT_CPUID, m->s[i].gpa, NULL, err) < 0)
			return -1;
	/* 3. one VMSA per vCPU: the BSP starts at the reset vector, the APs at the reset block */
	for (unsigned v = 0; v < in->vcpus; v++) {
		uint8_t page[FW_PAGE], d[SHA384_LEN];
		snp_vmsa(page, v == 0 ? BSP_EIP : m->ap_reset_eip, in);
		if (sha384(page, sizeof(page), d, err) < 0 ||
		    gctx_update(&g, PT_VMSA, SNP_VMSA_GPA, d, err) < 0)
			return -1;
	}
	memcpy(out, g.ld, SHA384_LEN);
	return 0;
}

/* CPUID Fn0000_0001_EAX: extended family in 27:20, extended model in 19:16, base family in
 * 11:8, base model in 7:4, stepping in 3:0 (AMD CPUID Specification #25481). */
static uint32_t cpu_sig(uint32_t family, uint32_t model, uint32_t stepping)
{
	uint32_t fam_lo = family > 0xf ? 0xf : family, fam_hi = family > 0xf ? family - 0xf : 0;
	return (fam_hi & 0xff) << 20 | ((model >> 4) & 0xf) << 16 | fam_lo << 8 |
	       (model & 0xf) << 4 | (stepping & 0xf);
}

uint32_t snp_vcpu_sig(const char *model)
{
	/* QEMU's x86 CPU models (target/i386/cpu.c): family, model, stepping. Versioned names
	 * ("-v1", "-v2", ...) share their base model's signature. */
	static const struct {
		const char *name;
		uint32_t family, model, stepping;
	} models[] = {
		{ "EPYC", 23, 1, 2 },	    { "EPYC-IBPB", 23, 1, 2 },	 { "EPYC-Rome", 23, 49, 0 },
		{ "EPYC-Milan", 25, 1, 1 }, { "EPYC-Genoa", 25, 17, 0 }, { "EPYC-Turin", 26, 0, 0 },
	};
	size_t len = strlen(model);
	const char *v = strstr(model, "-v");
	if (v && v[2] >= '1' && v[2] <= '9' && strspn(v + 2, "0123456789") == strlen(v + 2))
		len = (size_t)(v - model);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strlen(models[i].name) == len && !strncmp(models[i].name, model, len))
			return cpu_sig(models[i].family, models[i].model, models[i].stepping);
	return 0;
}
