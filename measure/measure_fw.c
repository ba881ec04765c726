/* OVMF GUIDed table, TDVF descriptor and SEV metadata parsers (see fw.h). */
#include "fw.h"

#include "measure.h"

#include <string.h>

const uint8_t FW_GUID_FOOTER[FW_GUID_LEN] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
					      0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d };
const uint8_t FW_GUID_TDX_METADATA[FW_GUID_LEN] = { 0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
						    0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2 };
const uint8_t FW_GUID_SEV_METADATA[FW_GUID_LEN] = { 0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
						    0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc };
const uint8_t FW_GUID_SEV_RESET_BLOCK[FW_GUID_LEN] = { 0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a,
						       0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7,
						       0x7e, 0x2f, 0xb4, 0x4e };
const uint8_t FW_GUID_SEV_HASH_TABLE[FW_GUID_LEN] = { 0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a,
						      0x04, 0x4b, 0x92, 0x7b, 0x1d, 0xa6,
						      0xef, 0xa8, 0xd4, 0x54 };

#define ENTRY_TRAILER 18 /* u16 length + GUID */
#define FOUR_GIB      0x100000000ull

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

int fw_table_parse(const uint8_t *img, size_t len, struct fw_table *t, char *err)
{
	memset(t, 0, sizeof(*t));
	if (len > FW_MAX_IMAGE)
		return measure_err(err, "firmware image too large (%zu bytes)", len);
	if (len < FW_TABLE_TAIL + ENTRY_TRAILER)
		return measure_err(err, "firmware image too small (%zu bytes)", len);
	size_t footer = len - FW_TABLE_TAIL - ENTRY_TRAILER;
	if (memcmp(img + footer + 2, FW_GUID_FOOTER, FW_GUID_LEN) != 0)
		return measure_err(err, "no OVMF GUIDed table footer 32 bytes before the end");
	size_t size = le16(img + footer);
	if (size < ENTRY_TRAILER || size - ENTRY_TRAILER > footer)
		return measure_err(err, "OVMF table footer: bad table length %zu", size);
	size_t start = footer - (size - ENTRY_TRAILER), end = footer;
	while (end > start) {
		if (end - start < ENTRY_TRAILER)
			return measure_err(err, "OVMF table: %zu stray bytes at offset %zu",
					   end - start, start);
		size_t esize = le16(img + end - ENTRY_TRAILER);
		if (esize < ENTRY_TRAILER || esize > end - start)
			return measure_err(err, "OVMF table: bad entry length %zu at offset %zu",
					   esize, end - ENTRY_TRAILER);
		if (t->n == FW_MAX_TABLE)
			return measure_err(err, "OVMF table: more than %d entries", FW_MAX_TABLE);
		struct fw_table_entry *e = &t->e[t->n++];
		memcpy(e->guid, img + end - FW_GUID_LEN, FW_GUID_LEN);
		e->data = img + end - esize;
		e->len = esize - ENTRY_TRAILER;
		end -= esize;
	}
	return 0;
}

const struct fw_table_entry *fw_table_find(const struct fw_table *t,
					   const uint8_t guid[FW_GUID_LEN])
{
	for (size_t i = 0; i < t->n; i++)
		if (!memcmp(t->e[i].guid, guid, FW_GUID_LEN))
			return &t->e[i];
	return NULL;
}

/* Position of a structure that a table entry names by its u32 distance from the image end. */
static int locate(const uint8_t *img, size_t len, const struct fw_table *t,
		  const uint8_t guid[FW_GUID_LEN], const char *what, size_t *pos, char *err)
{
	(void)img;
	const struct fw_table_entry *e = fw_table_find(t, guid);
	if (!e)
		return measure_err(err, "firmware has no %s (no entry in the OVMF table)", what);
	if (e->len < 4)
		return measure_err(err, "%s table entry too short (%zu bytes)", what, e->len);
	uint32_t off = le32(e->data);
	if (off < 16 || off > len)
		return measure_err(err, "%s offset 0x%x outside the image", what, off);
	*pos = len - off;
	return 0;
}

const char *tdvf_type_name(uint32_t type)
{
	static const char *const names[] = { "BFV",	"CFV",	   "TD_HOB",	  "TempMem",
					     "PermMem", "Payload", "PayloadParam" };
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *td, char *err)
{
	struct fw_table t;
	size_t pos = 0;
	memset(td, 0, sizeof(*td));
	if (fw_table_parse(img, len, &t, err) < 0 ||
	    locate(img, len, &t, FW_GUID_TDX_METADATA, "TDVF metadata", &pos, err) < 0)
		return -1;
	const uint8_t *d = img + pos;
	if (memcmp(d, "TDVF", 4) != 0)
		return measure_err(err, "TDVF descriptor: bad signature at offset 0x%zx", pos);
	uint32_t dlen = le32(d + 4), version = le32(d + 8), n = le32(d + 12);
	if (version != 1)
		return measure_err(err, "TDVF descriptor: version %u (only 1 is known)", version);
	if (n == 0 || n > FW_MAX_SECTIONS)
		return measure_err(err, "TDVF descriptor: %u sections", n);
	if (dlen < 16 + 32 * n || 16 + 32 * (size_t)n > len - pos)
		return measure_err(err, "TDVF descriptor: %u sections do not fit (length %u)", n,
				   dlen);
	uint64_t measured = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = d + 16 + (size_t)32 * i;
		struct tdvf_section *s = &td->s[i];
		s->data_offset = le32(p);
		s->raw_size = le32(p + 4);
		s->gpa = le64(p + 8);
		s->mem_size = le64(p + 16);
		s->type = le32(p + 24);
		s->attributes = le32(p + 28);
		if (s->type > TDVF_PAYLOAD_PARAM)
			return measure_err(err, "TDVF section %u: unknown type %u", i, s->type);
		if (s->attributes & ~(TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG))
			return measure_err(err, "TDVF section %u: unknown attributes 0x%x", i,
					   s->attributes);
		if ((s->attributes & TDVF_ATTR_MR_EXTEND) && (s->attributes & TDVF_ATTR_PAGE_AUG))
			return measure_err(err, "TDVF section %u: MR.EXTEND on a PAGE.AUG section",
					   i);
		if (s->gpa % FW_PAGE || s->mem_size % FW_PAGE || s->mem_size == 0)
			return measure_err(err,
					   "TDVF section %u: GPA 0x%llx size 0x%llx not page "
					   "aligned",
					   i, (unsigned long long)s->gpa,
					   (unsigned long long)s->mem_size);
		/* GPAs are at most 52 bits; this also rules out wrapping. */
		if (s->gpa >= (1ull << 52) || s->mem_size > (1ull << 52) - s->gpa)
			return measure_err(err, "TDVF section %u: GPA range out of bounds", i);
		if (s->raw_size > s->mem_size)
			return measure_err(err, "TDVF section %u: raw size 0x%x above memory size",
					   i, s->raw_size);
		if (s->data_offset > len || s->raw_size > len - s->data_offset)
			return measure_err(err, "TDVF section %u: raw data outside the image", i);
		/* Only raw data is ever read (MR.EXTEND hashes zeros past it), and the number of
		 * pages a measurement walks is bounded by FW_MAX_IMAGE for MR.EXTEND sections. */
		if ((s->attributes & TDVF_ATTR_MR_EXTEND) && s->mem_size > FW_MAX_IMAGE)
			return measure_err(err, "TDVF section %u: MR.EXTEND over 0x%llx bytes", i,
					   (unsigned long long)s->mem_size);
		if (!(s->attributes & TDVF_ATTR_PAGE_AUG)) {
			measured += s->mem_size; /* each term < 2^52: no overflow in 64 sections */
			if (measured > FW_MAX_MEASURED)
				return measure_err(err, "TDVF sections add more than %llu bytes",
						   (unsigned long long)FW_MAX_MEASURED);
		}
	}
	td->n = n;
	return 0;
}

const char *sev_type_name(uint32_t type)
{
	switch (type) {
	case SEV_SEC_MEM:
		return "SNP_SEC_MEM";
	case SEV_SECRETS:
		return "SNP_SECRETS";
	case SEV_CPUID:
		return "CPUID";
	case SEV_SVSM_CAA:
		return "SVSM_CAA";
	case SEV_KERNEL_HASHES:
		return "SNP_KERNEL_HASHES";
	}
	return "unknown";
}

int sev_meta_parse(const uint8_t *img, size_t len, struct sev_meta *m, char *err)
{
	struct fw_table t;
	size_t pos = 0;
	memset(m, 0, sizeof(*m));
	if (fw_table_parse(img, len, &t, err) < 0 ||
	    locate(img, len, &t, FW_GUID_SEV_METADATA, "SEV metadata", &pos, err) < 0)
		return -1;
	const uint8_t *d = img + pos;
	if (memcmp(d, "ASEV", 4) != 0)
		return measure_err(err, "SEV metadata: bad signature at offset 0x%zx", pos);
	uint32_t mlen = le32(d + 4), version = le32(d + 8), n = le32(d + 12);
	if (version != 1)
		return measure_err(err, "SEV metadata: version %u (only 1 is known)", version);
	if (n == 0 || n > FW_MAX_SECTIONS)
		return measure_err(err, "SEV metadata: %u sections", n);
	if (mlen < 16 + 12 * n || 16 + 12 * (size_t)n > len - pos)
		return measure_err(err, "SEV metadata: %u sections do not fit (length %u)", n,
				   mlen);
	uint64_t measured = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = d + 16 + (size_t)12 * i;
		struct sev_section *s = &m->s[i];
		s->gpa = le32(p);
		s->size = le32(p + 4);
		s->type = le32(p + 8);
		if (!strcmp(sev_type_name(s->type), "unknown"))
			return measure_err(err, "SEV metadata section %u: unknown type 0x%x", i,
					   s->type);
		if (s->gpa % FW_PAGE || s->size % FW_PAGE || s->size == 0 ||
		    (uint64_t)s->gpa + s->size > FOUR_GIB)
			return measure_err(err,
					   "SEV metadata section %u: GPA 0x%x size 0x%x not "
					   "page aligned or above 4 GiB",
					   i, s->gpa, s->size);
		if ((s->type == SEV_SECRETS || s->type == SEV_CPUID) && s->size != FW_PAGE)
			return measure_err(err,
					   "SEV metadata section %u: %s of 0x%x bytes (one "
					   "page expected)",
					   i, sev_type_name(s->type), s->size);
		measured += s->size;
		if (measured > FW_MAX_MEASURED)
			return measure_err(err, "SEV metadata sections cover more than %llu bytes",
					   (unsigned long long)FW_MAX_MEASURED);
	}
	m->n = n;

	const struct fw_table_entry *e = fw_table_find(&t, FW_GUID_SEV_RESET_BLOCK);
	if (e) {
		if (e->len < 4)
			return measure_err(err, "SEV-ES reset block entry too short");
		m->ap_reset_eip = le32(e->data);
	}
	e = fw_table_find(&t, FW_GUID_SEV_HASH_TABLE);
	if (e) {
		if (e->len < 8)
			return measure_err(err, "SEV hashes table entry too short");
		m->hashes_gpa = le32(e->data);
		m->hashes_size = le32(e->data + 4);
	}
	return 0;
}
