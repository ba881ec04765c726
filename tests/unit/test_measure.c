/* Unit tests of measure/: Authenticode on hand-built PE images, QEMU's setup-header patch,
 * OVMF load options, PCR chains, the TCG2 event-log parser (including a real OVMF CCEL), the
 * OVMF table / TDVF / SEV metadata parsers, MRTD, RTMR1/2 and the SNP launch-digest pieces. */
#include "unit.h"

#include "../../measure/eventlog.h"
#include "../../measure/fw.h"
#include "../../measure/measure.h"
#include "../../measure/pe.h"
#include "../../measure/tee.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	measure_hex(d, n, out);
}

/* A PE32+ image: DOS header, "PE\0\0" at 0x40, optional header with 16 data directories,
 * section table at 0x148, SizeOfHeaders 0x400 (room for a bzImage-style setup header at
 * 0x1f1..0x240). Fixed offsets the expectations below spell out by hand:
 *   CheckSum 0x98..0x9c, Certificate Table entry 0xe8..0xf0, headers end 0x400. */
#define T_CHECKSUM 0x98
#define T_CERTDIR  0xe8
#define T_HDRS	   0x400
#define T_MAX	   0x2000

struct tpe {
	uint8_t b[T_MAX];
	size_t len;
};

struct tsec {
	uint32_t ptr, size;
};

static void tpe_build(struct tpe *t, const struct tsec *s, int n, size_t len, uint32_t cert_size)
{
	memset(t, 0, sizeof(*t));
	t->len = len;
	for (size_t i = 0; i < len; i++)
		t->b[i] = (uint8_t)(i * 7 + (i >> 8) * 13);
	t->b[0] = 'M';
	t->b[1] = 'Z';
	put32(t->b + 0x3c, 0x40);
	memcpy(t->b + 0x40, "PE\0\0", 4);
	put16(t->b + 0x44, 0x8664);
	put16(t->b + 0x46, (uint16_t)n);
	put16(t->b + 0x54, 0xf0); /* SizeOfOptionalHeader */
	uint8_t *opt = t->b + 0x58;
	memset(opt, 0, 0xf0);
	put16(opt, 0x20b);
	put32(opt + 56, 0x10000); /* SizeOfImage */
	put32(opt + 60, T_HDRS);
	put32(opt + 64, 0x12345678); /* CheckSum, excluded */
	put32(opt + 108, 16);
	if (cert_size) {
		put32(opt + 112 + 32, (uint32_t)(len - cert_size));
		put32(opt + 112 + 36, cert_size);
	}
	uint8_t *sec = t->b + 0x148;
	memset(sec, 0, T_HDRS - 0x148);
	for (int i = 0; i < n; i++) {
		memcpy(sec + 40 * i, ".s", 2);
		sec[40 * i + 2] = (uint8_t)('0' + i);
		put32(sec + 40 * i + 16, s[i].size);
		put32(sec + 40 * i + 20, s[i].ptr);
	}
}

/* sha256 over explicit [from, to) ranges of t, in the order given: the expectation written
 * out by hand, independent of pe.c's bookkeeping. */
static void ranges_sha256(const struct tpe *t, const size_t (*r)[2], int n, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, t->b + r[i][0], r[i][1] - r[i][0]);
	EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
}

static int auth(const struct tpe *t, uint8_t *out)
{
	char err[MEASURE_ERR_MAX];
	unsigned len;
	return pe_authenticode(t->b, t->len, EVP_sha256(), out, &len, err);
}

/* ---- Authenticode ------------------------------------------------------------------------- */

TEST(measure_pe_basic)
{
	static const struct tsec s[] = { { 0x400, 0x200 }, { 0x600, 0x100 } };
	static struct tpe t;
	tpe_build(&t, s, 2, 0x700, 0);
	uint8_t got[EVP_MAX_MD_SIZE], want[32];
	REQUIRE(auth(&t, got) == 0);
	static const size_t r[][2] = { { 0, T_CHECKSUM },
				       { T_CHECKSUM + 4, T_CERTDIR },
				       { T_CERTDIR + 8, T_HDRS },
				       { 0x400, 0x600 },
				       { 0x600, 0x700 } };
	ranges_sha256(&t, r, 5, want);
	CHECK(memcmp(got, want, 32) == 0);
	/* Independent oracle: osslsigncode 2.9 signed this exact image (dumped from this builder)
	 * and printed "Current message digest" = this value (tests/measure/README.md). */
	uint8_t oracle[32];
	REQUIRE(unhex("e2f97d8f2686f882db67e8b9f86c04d31a58ff43e71a53c39cc98cc575bb0b8b", oracle,
		      32) == 0);
	CHECK(memcmp(got, oracle, 32) == 0);
	/* CheckSum and the Certificate Table entry are not covered. */
	put32(t.b + T_CHECKSUM, 0xdeadbeef);
	put32(t.b + T_CERTDIR, 0x1234);
	uint8_t again[EVP_MAX_MD_SIZE];
	REQUIRE(auth(&t, again) == 0);
	CHECK(memcmp(got, again, 32) == 0);
	/* Any other header byte is. */
	t.b[0x300] ^= 1;
	REQUIRE(auth(&t, again) == 0);
	CHECK(memcmp(got, again, 32) != 0);
}

TEST(measure_pe_section_order)
{
	/* The section table lists the later section first: hashing follows PointerToRawData. */
	static const struct tsec s[] = { { 0x600, 0x100 }, { 0x400, 0x200 }, { 0x700, 0 } };
	static struct tpe t;
	tpe_build(&t, s, 3, 0x700, 0);
	uint8_t got[EVP_MAX_MD_SIZE], want[32], table_order[32];
	REQUIRE(auth(&t, got) == 0);
	static const size_t sorted[][2] = { { 0, T_CHECKSUM },
					    { T_CHECKSUM + 4, T_CERTDIR },
					    { T_CERTDIR + 8, T_HDRS },
					    { 0x400, 0x600 },
					    { 0x600, 0x700 } };
	static const size_t unsorted[][2] = { { 0, T_CHECKSUM },
					      { T_CHECKSUM + 4, T_CERTDIR },
					      { T_CERTDIR + 8, T_HDRS },
					      { 0x600, 0x700 },
					      { 0x400, 0x600 } };
	ranges_sha256(&t, sorted, 5, want);
	ranges_sha256(&t, unsorted, 5, table_order);
	CHECK(memcmp(got, want, 32) == 0);
	CHECK(memcmp(got, table_order, 32) != 0);
}

TEST(measure_pe_trailing_and_certificate)
{
	static const struct tsec s[] = { { 0x400, 0x200 } };
	static struct tpe t, bare;
	uint8_t got[EVP_MAX_MD_SIZE], want[32];
	/* Trailing data after the last section is hashed from SUM = headers + sections. */
	tpe_build(&t, s, 1, 0x700, 0);
	REQUIRE(auth(&t, got) == 0);
	static const size_t r1[][2] = { { 0, T_CHECKSUM },
					{ T_CHECKSUM + 4, T_CERTDIR },
					{ T_CERTDIR + 8, T_HDRS },
					{ 0x400, 0x600 },
					{ 0x600, 0x700 } };
	ranges_sha256(&t, r1, 5, want);
	CHECK(memcmp(got, want, 32) == 0);
	/* Trailing data then a 0x80-byte certificate table: the table is cut from the end. */
	tpe_build(&t, s, 1, 0x780, 0x80);
	REQUIRE(auth(&t, got) == 0);
	static const size_t r2[][2] = { { 0, T_CHECKSUM },
					{ T_CHECKSUM + 4, T_CERTDIR },
					{ T_CERTDIR + 8, T_HDRS },
					{ 0x400, 0x600 },
					{ 0x600, 0x700 } };
	ranges_sha256(&t, r2, 5, want);
	CHECK(memcmp(got, want, 32) == 0);
	/* Signing does not change the digest: same image without the table. */
	tpe_build(&bare, s, 1, 0x700, 0);
	REQUIRE(auth(&bare, want) == 0);
	CHECK(memcmp(got, want, 32) == 0);
	/* A certificate table larger than what follows the sections is refused. */
	tpe_build(&t, s, 1, 0x680, 0x100);
	CHECK(auth(&t, got) < 0);
}

TEST(measure_pe_few_directories)
{
	/* NumberOfRvaAndSizes <= 4: no certificate entry to skip, headers hashed whole. */
	static const struct tsec s[] = { { 0x400, 0x200 } };
	static struct tpe t;
	tpe_build(&t, s, 1, 0x600, 0);
	put32(t.b + 0x58 + 108, 4);
	uint8_t got[EVP_MAX_MD_SIZE], want[32];
	REQUIRE(auth(&t, got) == 0);
	static const size_t r[][2] = { { 0, T_CHECKSUM }, { T_CHECKSUM + 4, 0x600 } };
	ranges_sha256(&t, r, 2, want);
	CHECK(memcmp(got, want, 32) == 0);
}

TEST(measure_pe_pe32)
{
	/* PE32 (magic 0x10b): DataDirectory at opt+96, so the Certificate entry moves 16 bytes. */
	static const struct tsec s[] = { { 0x400, 0x200 } };
	static struct tpe t;
	tpe_build(&t, s, 1, 0x600, 0);
	uint8_t *opt = t.b + 0x58;
	put16(opt, 0x10b);
	put16(t.b + 0x54, 0xe0);
	put32(opt + 92, 16);
	/* the section table follows the (shorter) optional header */
	memmove(t.b + 0x58 + 0xe0, t.b + 0x148, 40);
	uint8_t got[EVP_MAX_MD_SIZE], want[32];
	REQUIRE(auth(&t, got) == 0);
	static const size_t r[][2] = { { 0, T_CHECKSUM },
				       { T_CHECKSUM + 4, 0x58 + 96 + 32 },
				       { 0x58 + 96 + 40, T_HDRS },
				       { 0x400, 0x600 } };
	ranges_sha256(&t, r, 4, want);
	CHECK(memcmp(got, want, 32) == 0);
}

TEST(measure_pe_malformed)
{
	static const struct tsec s[] = { { 0x400, 0x200 }, { 0x600, 0x100 } };
	static struct tpe t;
	uint8_t d[EVP_MAX_MD_SIZE];
	tpe_build(&t, s, 2, 0x700, 0);
	/* Every truncation that cuts a section is refused (and ASan watches the reads). */
	size_t full = t.len;
	for (size_t n = 0; n < full; n++) {
		t.len = n;
		CHECK(auth(&t, d) < 0);
	}
	t.len = full;
	REQUIRE(auth(&t, d) == 0);
	memcpy(t.b + 0x40, "PX\0\0", 4);
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put32(t.b + 0x3c, 0xfffffff0); /* e_lfanew past the end */
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put16(t.b + 0x58, 0x30b); /* unknown magic */
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put32(t.b + 0x148 + 40 + 20, 0xffffff00); /* section pointer wraps */
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put32(t.b + 0x58 + 108, 0x10000000); /* more directories than the header holds */
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put16(t.b + 0x46, 0xffff); /* section table runs past the end */
	CHECK(auth(&t, d) < 0);
	tpe_build(&t, s, 2, 0x700, 0);
	put32(t.b + 0x58 + 60, 0x10); /* SizeOfHeaders inside the CheckSum */
	CHECK(auth(&t, d) < 0);
}

/* ---- QEMU setup-header patch -------------------------------------------------------------- */

static void fake_bzimage(uint8_t *b, size_t len, uint16_t version, uint16_t xloadflags)
{
	memset(b, 0x5a, len);
	memcpy(b + SETUP_HDRS_MAGIC, "HdrS", 4);
	put16(b + SETUP_VERSION, version);
	b[SETUP_TYPE_OF_LOADER] = 0;
	b[SETUP_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	put32(b + SETUP_INITRD_ADDR_MAX, 0x7fffffff);
	put16(b + SETUP_XLOADFLAGS, xloadflags);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

TEST(measure_qemu_patch_offsets)
{
	uint8_t b[0x400], orig[0x400];
	char err[MEASURE_ERR_MAX];
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	memcpy(orig, b, sizeof(b));
	struct qemu_patch_params p = { .mem_mib = 1024,
				       .acpi_data_size = 0x28000,
				       .has_initrd = 1,
				       .initrd_size = 100000,
				       .cmdline = "console=ttyS0" };
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(b[0x210] == 0xb0);
	CHECK(b[0x211] == 0x81);
	CHECK(b[0x224] == 0x00 && b[0x225] == 0xfe);
	CHECK(get32(b + 0x228) == 0x20000);
	/* initrd_max = 1 GiB - 0x28000 - 1; (max - size) & ~0xfff */
	CHECK(get32(b + 0x218) == 0x3ffbf000);
	CHECK(get32(b + 0x21c) == 100000);
	/* Nothing else moved. */
	static const int patched[] = { 0x210, 0x211, 0x218, 0x219, 0x21a, 0x21b, 0x21c, 0x21d,
				       0x21e, 0x21f, 0x224, 0x225, 0x228, 0x229, 0x22a, 0x22b };
	for (size_t i = 0; i < sizeof(b); i++) {
		int expect_change = 0;
		for (size_t k = 0; k < sizeof(patched) / sizeof(patched[0]); k++)
			expect_change |= (size_t)patched[k] == i;
		if (!expect_change)
			CHECK(b[i] == orig[i]);
	}

	/* 4 GiB: q35 keeps 2 GiB below 4G. */
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.mem_mib = 4096;
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(get32(b + 0x218) == 0x7ffbf000);
	/* 2800 MiB is still all below 4G; a kernel that can be loaded above 4G is not held to
	 * initrd_addr_max ... */
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.mem_mib = 2800;
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(get32(b + 0x218) == 0xaefbf000);
	/* ... one without XLF_CAN_BE_LOADED_ABOVE_4G is. */
	fake_bzimage(b, sizeof(b), 0x20f, 0x01);
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(get32(b + 0x218) == 0x7ffe7000);

	/* No initrd: ramdisk fields untouched. */
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.mem_mib = 1024;
	p.has_initrd = 0;
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(get32(b + 0x218) == 0x5a5a5a5a && get32(b + 0x21c) == 0x5a5a5a5a);

	/* vga= sets vid_mode. */
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.cmdline = "console=ttyS0 vga=normal";
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(b[0x1fa] == 0xff && b[0x1fb] == 0xff);
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.cmdline = "vga=0x317 quiet";
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(b[0x1fa] == 0x17 && b[0x1fb] == 0x03);
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.cmdline = "vga=bogus";
	CHECK(qemu_patch_setup_header(b, sizeof(b), &p, err) < 0);

	/* Protocol 2.01: the old cmdline protocol at 0x20/0x22, cmdline below 0x9a000. */
	fake_bzimage(b, sizeof(b), 0x201, 0);
	p.cmdline = "abc"; /* size (3 + 16) & ~15 = 16 */
	REQUIRE(qemu_patch_setup_header(b, sizeof(b), &p, err) == 0);
	CHECK(b[0x20] == 0x3f && b[0x21] == 0xa3);
	CHECK(b[0x22] == 0xf0 && b[0x23] == 0x9f); /* 0x99ff0 - 0x90000 */
	CHECK(get32(b + 0x228) == 0x5a5a5a5a);

	/* Refused: no HdrS, an initrd QEMU cannot place, absurd memory. */
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	memcpy(b + SETUP_HDRS_MAGIC, "HdrX", 4);
	p.cmdline = "";
	CHECK(qemu_patch_setup_header(b, sizeof(b), &p, err) < 0);
	fake_bzimage(b, sizeof(b), 0x20f, 0x2b);
	p.has_initrd = 1;
	p.initrd_size = 1ull << 30;
	CHECK(qemu_patch_setup_header(b, sizeof(b), &p, err) < 0);
	p.initrd_size = 10;
	p.mem_mib = 0;
	CHECK(qemu_patch_setup_header(b, sizeof(b), &p, err) < 0);
	CHECK(qemu_patch_setup_header(b, 0x100, &p, err) < 0);
}

/* ---- load options and PCR chains ---------------------------------------------------------- */

TEST(measure_loadopts)
{
	char err[MEASURE_ERR_MAX], h[65];
	uint8_t *u, d[32];
	size_t n;
	REQUIRE(measure_loadopts("a b", 1, LOADOPTS_SUFFIX, &u, &n, err) == 0);
	static const char suffix[] = "a b initrd=initrd";
	REQUIRE(n == 2 * (sizeof(suffix) - 1) + 2);
	for (size_t i = 0; i < sizeof(suffix) - 1; i++)
		CHECK(u[2 * i] == (uint8_t)suffix[i] && u[2 * i + 1] == 0);
	CHECK(u[n - 2] == 0 && u[n - 1] == 0);
	free(u);
	REQUIRE(measure_loadopts("a b", 1, LOADOPTS_PREFIX, &u, &n, err) == 0);
	static const char prefix[] = "initrd=initrd a b";
	REQUIRE(n == 2 * (sizeof(prefix) - 1) + 2);
	for (size_t i = 0; i < sizeof(prefix) - 1; i++)
		CHECK(u[2 * i] == (uint8_t)prefix[i] && u[2 * i + 1] == 0);
	free(u);
	/* Bytes are zero-extended, not UTF-8 decoded. */
	REQUIRE(measure_loadopts("\xc3\xa9", 0, LOADOPTS_SUFFIX, &u, &n, err) == 0);
	CHECK(n == 6 && u[0] == 0xc3 && u[1] == 0 && u[2] == 0xa9 && u[3] == 0);
	free(u);
	/* No cmdline, no initrd: no LoadOptions (and no PCR9 event). */
	REQUIRE(measure_loadopts("", 0, LOADOPTS_SUFFIX, &u, &n, err) == 0);
	CHECK(u == NULL && n == 0);
	/* Verified against a real boot (reference/measure.md §1.2). */
	REQUIRE(measure_loadopts("console=ttyS0 foo=bar", 1, LOADOPTS_SUFFIX, &u, &n, err) == 0);
	REQUIRE(measure_sha256(u, n, d, err) == 0);
	free(u);
	hex(d, 32, h);
	CHECK_STR(h, "c49711d1abcb8e6805073d80715ab200895976b1dc58e2224a933c47ca2269d1");
}

TEST(measure_pcr_chains)
{
	char err[MEASURE_ERR_MAX], h[65];
	static const struct tsec s[] = { { 0x400, 0x200 } };
	static struct tpe t;
	/* a PE image with a bzImage setup header inside its (0x400-byte) headers */
	tpe_build(&t, s, 1, 0x600, 0);
	memcpy(t.b + SETUP_HDRS_MAGIC, "HdrS", 4);
	put16(t.b + SETUP_VERSION, 0x20f);
	t.b[SETUP_LOADFLAGS] = 0x01;
	put16(t.b + SETUP_XLOADFLAGS, 0x2b);
	static const uint8_t initrd[] = "initrd bytes";
	static const uint8_t initdata[] = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n";
	struct measure_input in = { .kernel = t.b,
				    .kernel_len = t.len,
				    .initrd = initrd,
				    .initrd_len = sizeof(initrd),
				    .cmdline = "console=ttyS0",
				    .mem_mib = 1024,
				    .qemu_patch = 1,
				    .loadopts = LOADOPTS_SUFFIX,
				    .initdata = initdata,
				    .initdata_len = sizeof(initdata) - 1 };
	static struct measure_result r;
	REQUIRE(measure_compute(&in, &r, err) == 0);

	/* PCR5 is the verified constant. */
	hex(r.pcr5, 32, h);
	CHECK_STR(h, "a5ceb755d043f32431d63e39f5161464620a3437280494b5850dc1b47cc074e0");

	/* PCR4 = ext(ext(ext(0, authenticode(patched)), H(action)), H(separator)). */
	uint8_t patched[0x600], a[EVP_MAX_MD_SIZE], d[32], pcr[32] = { 0 };
	unsigned alen;
	memcpy(patched, t.b, t.len);
	struct qemu_patch_params qp = { 1024, 0x28000, 1, sizeof(initrd), "console=ttyS0" };
	REQUIRE(qemu_patch_setup_header(patched, t.len, &qp, err) == 0);
	REQUIRE(pe_authenticode(patched, t.len, EVP_sha256(), a, &alen, err) == 0);
	CHECK(memcmp(a, r.kernel_authenticode, 32) == 0);
	REQUIRE(pe_authenticode(t.b, t.len, EVP_sha256(), d, &alen, err) == 0);
	CHECK(memcmp(a, d, 32) != 0); /* the patch changes the digest */
	measure_extend(pcr, a, err);
	static const char action[] = "Calling EFI Application from Boot Option";
	measure_sha256(action, sizeof(action) - 1, d, err);
	measure_extend(pcr, d, err);
	hex(d, 32, h);
	CHECK(strncmp(h, "3d6772b4", 8) == 0);
	measure_sha256("\0\0\0\0", 4, d, err);
	hex(d, 32, h);
	CHECK_STR(h, "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119");
	measure_extend(pcr, d, err);
	CHECK(memcmp(pcr, r.pcr4, 32) == 0);

	/* PCR9 = ext(ext(0, H(loadopts)), H(initrd)). */
	uint8_t *u;
	size_t n;
	memset(pcr, 0, 32);
	REQUIRE(measure_loadopts("console=ttyS0", 1, LOADOPTS_SUFFIX, &u, &n, err) == 0);
	measure_sha256(u, n, d, err);
	free(u);
	measure_extend(pcr, d, err);
	measure_sha256(initrd, sizeof(initrd), d, err);
	measure_extend(pcr, d, err);
	CHECK(memcmp(pcr, r.pcr9, 32) == 0);

	/* PCR8 = ext(0, H(TOML)). */
	REQUIRE(r.has_pcr8);
	memset(pcr, 0, 32);
	measure_sha256(initdata, sizeof(initdata) - 1, d, err);
	measure_extend(pcr, d, err);
	CHECK(memcmp(pcr, r.pcr8, 32) == 0);

	/* Memory size changes PCR4 through the initrd address; --no-qemu-patch does not care. */
	static struct measure_result r2;
	in.mem_mib = 2048;
	REQUIRE(measure_compute(&in, &r2, err) == 0);
	CHECK(memcmp(r.pcr4, r2.pcr4, 32) != 0);
	CHECK(memcmp(r.pcr9, r2.pcr9, 32) == 0);
	in.qemu_patch = 0;
	REQUIRE(measure_compute(&in, &r, err) == 0);
	in.mem_mib = 1024;
	REQUIRE(measure_compute(&in, &r2, err) == 0);
	CHECK(memcmp(r.pcr4, r2.pcr4, 32) == 0);
	/* prefix order gives another PCR9 */
	in.loadopts = LOADOPTS_PREFIX;
	REQUIRE(measure_compute(&in, &r2, err) == 0);
	CHECK(memcmp(r.pcr9, r2.pcr9, 32) != 0);
}

/* ---- event log ---------------------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *b = malloc(1 << 20);
	*len = b ? fread(b, 1, 1 << 20, f) : 0;
	fclose(f);
	return b;
}

TEST(measure_eventlog_ccel)
{
	/* A real OVMF CC event log (trustee test data); the expected registers are the replay of
	 * the digests its parsed form (CCEL_data_ovmf_out.json) lists, per MR index. */
	size_t len;
	uint8_t *b = read_all("tests/measure/ccel_data_ovmf.bin", &len);
	REQUIRE(b != NULL);
	char err[MEASURE_ERR_MAX], h[129];
	struct evlog log;
	REQUIRE(evlog_parse(b, len, &log, err) == 0);
	CHECK(log.nalgs == 1 && log.algs[0].alg == TPM_ALG_SHA384 && log.algs[0].size == 48);
	CHECK(log.nevents == 20);
	CHECK(log.events[0].pcr == 1 && log.events[0].type == 0x8000000b);
	hex(evlog_event_digest(&log.events[0], TPM_ALG_SHA384), 48, h);
	CHECK_STR(h, "0b8772e5b0b41b83e6044a68397e02f49fb47066b4fbe4917ea2c45c64f323fdacbb37948f821"
		     "e"
		     "baf8bc9c938ba8a749");
	CHECK_STR(evlog_type_name(log.events[19].type), "EV_EFI_ACTION");
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned size;
	REQUIRE(evlog_replay(&log, TPM_ALG_SHA384, regs, &size, err) == 0);
	CHECK(size == 48);
	hex(regs[1], 48, h);
	CHECK_STR(h, "8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb48"
		     "4404f2ab9cc90abe193");
	hex(regs[2], 48, h);
	CHECK_STR(h, "775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c"
		     "1c16305f1fc210c13c6");
	hex(regs[3], 48, h);
	CHECK_STR(h, "94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d"
		     "9e8b49c503bbf25f34a");
	CHECK(evlog_replay(&log, TPM_ALG_SHA256, regs, &size, err) < 0); /* no such bank */
	evlog_free(&log);
	/* Every truncation parses cleanly or fails cleanly, never reads past the end. */
	size_t ok = 0;
	for (size_t n = 0; n <= 0x848 && n < len; n++) { /* 0x848: end of the last event */
		if (evlog_parse(b, n, &log, err) == 0) {
			ok++;
			evlog_free(&log);
		}
	}
	CHECK(ok == 21); /* the header alone and after each of the 20 events */
	free(b);
}

/* A sha1+sha256 log as swtpm + OVMF write it. */
struct tlog {
	uint8_t b[1024];
	size_t len;
};

static void tlog_add(struct tlog *l, const void *p, size_t n)
{
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static void tlog_u32(struct tlog *l, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	tlog_add(l, b, 4);
}

static void tlog_u16(struct tlog *l, uint16_t v)
{
	uint8_t b[2];
	put16(b, v);
	tlog_add(l, b, 2);
}

static void tlog_header(struct tlog *l)
{
	static const uint8_t zero[20];
	l->len = 0;
	tlog_u32(l, 0);
	tlog_u32(l, EV_NO_ACTION);
	tlog_add(l, zero, 20);
	tlog_u32(l, 16 + 4 + 4 + 4 + 8 + 1);
	tlog_add(l, "Spec ID Event03", 16);
	tlog_u32(l, 0);
	tlog_add(l, "\0\2\0\2", 4);
	tlog_u32(l, 2);
	tlog_u16(l, TPM_ALG_SHA1);
	tlog_u16(l, 20);
	tlog_u16(l, TPM_ALG_SHA256);
	tlog_u16(l, 32);
	tlog_add(l, "", 1);
}

static void tlog_event(struct tlog *l, uint32_t pcr, uint32_t type, const char *data)
{
	char err[MEASURE_ERR_MAX];
	uint8_t d256[32], d1[20];
	unsigned n;
	EVP_Digest(data, strlen(data), d1, &n, EVP_sha1(), NULL);
	measure_sha256(data, strlen(data), d256, err);
	tlog_u32(l, pcr);
	tlog_u32(l, type);
	tlog_u32(l, 2);
	tlog_u16(l, TPM_ALG_SHA1);
	tlog_add(l, d1, 20);
	tlog_u16(l, TPM_ALG_SHA256);
	tlog_add(l, d256, 32);
	tlog_u32(l, (uint32_t)strlen(data));
	tlog_add(l, data, strlen(data));
}

TEST(measure_eventlog_replay)
{
	static struct tlog l;
	char err[MEASURE_ERR_MAX];
	tlog_header(&l);
	tlog_event(&l, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option");
	tlog_event(&l, 4, EV_SEPARATOR, "\0\0\0\0" + 4); /* empty data, still extended */
	tlog_event(&l, 9, EV_EVENT_TAG, "x");
	/* StartupLocality 3 starts PCR0 at 00..03 */
	tlog_u32(&l, 0);
	tlog_u32(&l, EV_NO_ACTION);
	tlog_u32(&l, 0);
	tlog_u32(&l, 17);
	tlog_add(&l, "StartupLocality\0\3", 17);
	tlog_event(&l, 0, EV_POST_CODE, "fw");
	size_t full = l.len;
	memset(l.b + full, 0xff, 64); /* CCEL-style padding ends the log */
	l.len = full + 64;
	struct evlog log;
	REQUIRE(evlog_parse(l.b, l.len, &log, err) == 0);
	CHECK(log.nevents == 5 && log.startup_locality == 3);
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned size;
	REQUIRE(evlog_replay(&log, TPM_ALG_SHA256, regs, &size, err) == 0);
	uint8_t want[32] = { 0 }, d[32];
	measure_sha256("Calling EFI Application from Boot Option", 40, d, err);
	measure_extend(want, d, err);
	measure_sha256("", 0, d, err);
	measure_extend(want, d, err);
	CHECK(size == 32 && memcmp(regs[4], want, 32) == 0);
	memset(want, 0, 32);
	want[31] = 3;
	measure_sha256("fw", 2, d, err);
	measure_extend(want, d, err);
	CHECK(memcmp(regs[0], want, 32) == 0);
	REQUIRE(evlog_replay(&log, TPM_ALG_SHA1, regs, &size, err) == 0);
	CHECK(size == 20);
	CHECK(evlog_replay(&log, TPM_ALG_SHA384, regs, &size, err) < 0);
	evlog_free(&log);
	/* every truncation: clean failure or a parse ending at an event boundary */
	for (size_t n = 0; n < full; n++)
		if (evlog_parse(l.b, n, &log, err) == 0)
			evlog_free(&log);
}

TEST(measure_eventlog_malformed)
{
	static struct tlog l;
	char err[MEASURE_ERR_MAX];
	struct evlog log;
	/* header field offsets in tlog_header's layout */
	const size_t spec = 32, nalgs = spec + 24, alg0 = nalgs + 4, ev = nalgs + 4 + 8 + 1;

	tlog_header(&l);
	tlog_event(&l, 4, EV_EFI_ACTION, "abc");
	REQUIRE(evlog_parse(l.b, l.len, &log, err) == 0);
	evlog_free(&log);

	struct tlog bad = l;
	bad.b[spec] = 'X'; /* not a Spec ID event */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + 4, 1); /* first event not EV_NO_ACTION */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + nalgs, 0);
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + nalgs, 1000);
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put16(bad.b + alg0 + 2, 0); /* digest size 0 */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put16(bad.b + alg0 + 2, 65); /* digest size beyond any hash */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put16(bad.b + alg0 + 4, TPM_ALG_SHA1); /* algorithm listed twice */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + ev, 24); /* PCR index out of range */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + ev + 8, 3); /* more digests than algorithms */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put16(bad.b + ev + 12, TPM_ALG_SHA384); /* algorithm not in the header */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put16(bad.b + ev + 12 + 22, TPM_ALG_SHA1); /* the same algorithm twice in an event */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	bad = l;
	put32(bad.b + ev + 12 + 22 + 34, 0xfffffff0); /* event data past the end */
	CHECK(evlog_parse(bad.b, bad.len, &log, err) < 0);
	CHECK(evlog_parse(l.b, 10, &log, err) < 0);
	/* An event without a sha256 digest cannot be replayed in that bank. */
	bad = l;
	put32(bad.b + ev + 8, 1);
	memmove(bad.b + ev + 12 + 22, bad.b + ev + 12 + 22 + 34, bad.len - (ev + 12 + 22 + 34));
	bad.len -= 34;
	REQUIRE(evlog_parse(bad.b, bad.len, &log, err) == 0);
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned size;
	CHECK(evlog_replay(&log, TPM_ALG_SHA256, regs, &size, err) < 0);
	evlog_free(&log);
}

/* ---- firmware metadata: TDVF and SEV ----------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* A 32 KiB image: TDVF descriptor at 0x1000, SEV metadata at 0x2000, BFV raw data at 0x4000
 * (2 pages), CFV at 0x3000; the GUIDed table ends 32 bytes before the end with, from the
 * footer backwards: TDX metadata offset, SEV metadata offset, SEV-ES reset block, hashes
 * table {gpa, size}. */
#define F_LEN	 0x8000
#define F_TDVF	 0x1000
#define F_ASEV	 0x2000
#define F_FOOTER (F_LEN - 32 - 18)
#define F_HT_GPA 0x804c00u
#define F_AP_EIP 0xffffa0f0u

struct tfw {
	uint8_t b[F_LEN];
};

static size_t tfw_entry(struct tfw *f, size_t end, const uint8_t *guid, const void *data, size_t n)
{
	size_t start = end - n - 18;
	memcpy(f->b + start, data, n);
	put16(f->b + end - 18, (uint16_t)(n + 18));
	memcpy(f->b + end - 16, guid, 16);
	return start;
}

static void tfw_build(struct tfw *f)
{
	memset(f->b, 0, sizeof(f->b));
	for (size_t i = 0x3000; i < 0x6000; i++)
		f->b[i] = (uint8_t)(i * 7 + (i >> 8));
	/* TDVF: BFV (MR.EXTEND), CFV, TempMem, a PAGE.AUG section */
	uint8_t *d = f->b + F_TDVF;
	memcpy(d, "TDVF", 4);
	put32(d + 4, 16 + 4 * 32);
	put32(d + 8, 1);
	put32(d + 12, 4);
	static const struct {
		uint32_t off, raw;
		uint64_t gpa, size;
		uint32_t type, attr;
	} ts[] = { { 0x4000, 0x2000, 0xffffe000ull - 0x1000, 0x2000, TDVF_BFV,
		     TDVF_ATTR_MR_EXTEND },
		   { 0x3000, 0x1000, 0xffffc000ull - 0x1000, 0x1000, TDVF_CFV, 0 },
		   { 0, 0, 0x800000, 0x2000, TDVF_TEMP_MEM, 0 },
		   { 0, 0, 0x900000, 0x1000, TDVF_PERM_MEM, TDVF_ATTR_PAGE_AUG } };
	for (int i = 0; i < 4; i++) {
		uint8_t *p = d + 16 + 32 * i;
		put32(p, ts[i].off);
		put32(p + 4, ts[i].raw);
		put64(p + 8, ts[i].gpa);
		put64(p + 16, ts[i].size);
		put32(p + 24, ts[i].type);
		put32(p + 28, ts[i].attr);
	}
	/* SEV: SEC_MEM x2 pages, SECRETS, CPUID, KERNEL_HASHES */
	d = f->b + F_ASEV;
	memcpy(d, "ASEV", 4);
	put32(d + 4, 16 + 4 * 12);
	put32(d + 8, 1);
	put32(d + 12, 4);
	static const uint32_t ss[][3] = { { 0x800000, 0x2000, SEV_SEC_MEM },
					  { 0x802000, 0x1000, SEV_SECRETS },
					  { 0x803000, 0x1000, SEV_CPUID },
					  { 0x804000, 0x1000, SEV_KERNEL_HASHES } };
	for (int i = 0; i < 4; i++) {
		put32(d + 16 + 12 * i, ss[i][0]);
		put32(d + 20 + 12 * i, ss[i][1]);
		put32(d + 24 + 12 * i, ss[i][2]);
	}
	uint8_t v[8];
	size_t end = F_FOOTER;
	put32(v, F_LEN - F_TDVF);
	end = tfw_entry(f, end, FW_GUID_TDX_METADATA, v, 4);
	put32(v, F_LEN - F_ASEV);
	end = tfw_entry(f, end, FW_GUID_SEV_METADATA, v, 4);
	put32(v, F_AP_EIP);
	end = tfw_entry(f, end, FW_GUID_SEV_RESET_BLOCK, v, 4);
	put32(v, F_HT_GPA);
	put32(v + 4, 0x400);
	end = tfw_entry(f, end, FW_GUID_SEV_HASH_TABLE, v, 8);
	put16(f->b + F_FOOTER, (uint16_t)(F_FOOTER - end + 18));
	memcpy(f->b + F_FOOTER + 2, FW_GUID_FOOTER, 16);
}

TEST(measure_fw_table)
{
	static struct tfw f;
	tfw_build(&f);
	char err[MEASURE_ERR_MAX];
	struct fw_table t;
	REQUIRE(fw_table_parse(f.b, F_LEN, &t, err) == 0);
	CHECK(t.n == 4);
	const struct fw_table_entry *e = fw_table_find(&t, FW_GUID_SEV_HASH_TABLE);
	REQUIRE(e != NULL);
	CHECK(e->len == 8 && get32(e->data) == F_HT_GPA);
	/* malformed: no footer GUID, footer length past the start, entry lengths 0 / too big,
	 * stray bytes, too small an image */
	static struct tfw bad;
	bad = f;
	bad.b[F_FOOTER + 5] ^= 1;
	CHECK(fw_table_parse(bad.b, F_LEN, &t, err) < 0 && strstr(err, "footer"));
	bad = f;
	put16(bad.b + F_FOOTER, 0xffff);
	CHECK(fw_table_parse(bad.b, 0x1000, &t, err) < 0);
	put16(bad.b + F_FOOTER, 17);
	CHECK(fw_table_parse(bad.b, F_LEN, &t, err) < 0);
	bad = f;
	put16(bad.b + F_FOOTER - 18, 0); /* the TDX entry: length 0 */
	CHECK(fw_table_parse(bad.b, F_LEN, &t, err) < 0);
	put16(bad.b + F_FOOTER - 18, 0x7000); /* longer than the table */
	CHECK(fw_table_parse(bad.b, F_LEN, &t, err) < 0);
	bad = f;
	put16(bad.b + F_FOOTER, (uint16_t)(get32(bad.b + F_FOOTER) + 5)); /* 5 stray bytes */
	CHECK(fw_table_parse(bad.b, F_LEN, &t, err) < 0 && strstr(err, "stray"));
	CHECK(fw_table_parse(f.b, 49, &t, err) < 0);
	CHECK(fw_table_parse(f.b + F_LEN - 50, 50, &t, err) < 0); /* a table longer than the file */
}

TEST(measure_tdvf_parse)
{
	static struct tfw f, bad;
	tfw_build(&f);
	char err[MEASURE_ERR_MAX];
	static struct tdvf td;
	REQUIRE(tdvf_parse(f.b, F_LEN, &td, err) == 0);
	REQUIRE(td.n == 4);
	CHECK(td.s[0].type == TDVF_BFV && td.s[0].data_offset == 0x4000 &&
	      td.s[0].raw_size == 0x2000 && td.s[0].mem_size == 0x2000 &&
	      td.s[0].attributes == TDVF_ATTR_MR_EXTEND);
	CHECK(td.s[3].attributes == TDVF_ATTR_PAGE_AUG);
	CHECK_STR(tdvf_type_name(2), "TD_HOB");
	/* Each rejected field, one at a time. */
	struct {
		size_t off;
		uint32_t val;
		const char *why;
	} cases[] = {
		{ F_TDVF, 0x46564454 + 1, "bad signature" },
		{ F_TDVF + 8, 2, "version" },
		{ F_TDVF + 12, 0, "0 sections" },
		{ F_TDVF + 12, FW_MAX_SECTIONS + 1, "sections" },
		{ F_TDVF + 12, 200, "sections" },
		{ F_TDVF + 4, 16, "do not fit" },
		{ F_TDVF + 16 + 24, 7, "unknown type" },
		{ F_TDVF + 16 + 28, 4, "unknown attributes" },
		{ F_TDVF + 16 + 28, 3, "PAGE.AUG" },
		{ F_TDVF + 16 + 8, 0x1234, "aligned" },
		{ F_TDVF + 16 + 16, 0x1800, "aligned" },
		{ F_TDVF + 16 + 16, 0, "aligned" },
		{ F_TDVF + 16 + 4, 0x3000, "raw size" },
		{ F_TDVF + 16, 0x7000, "outside the image" },
		{ F_TDVF + 16, 0xffffff00, "outside the image" },
		{ F_TDVF + 64 + 16 + 4, 0xfffff000, "TDVF section 2" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = f;
		put32(bad.b + cases[i].off, cases[i].val);
		err[0] = 0;
		int r = tdvf_parse(bad.b, F_LEN, &td, err);
		CHECK(r < 0);
		if (r == 0 || !strstr(err, cases[i].why))
			fprintf(stderr, "    case %zu: \"%s\"\n", i, err);
	}
	/* GPA ranges that wrap or exceed 52 bits; more than FW_MAX_MEASURED added */
	bad = f;
	put64(bad.b + F_TDVF + 64 + 16 + 8, 0xfffffffffffff000ull);
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) < 0);
	bad = f;
	put64(bad.b + F_TDVF + 64 + 16 + 16, FW_MAX_MEASURED + 0x1000);
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) < 0 && strstr(err, "more than"));
	bad = f; /* ... but a huge PAGE.AUG section is fine: it is not measured, and the MRTD
		  * walk must not visit its pages (a fuzzer found a 6 TiB one taking minutes) */
	put64(bad.b + F_TDVF + 96 + 16 + 16, 1ull << 40);
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) == 0);
	uint8_t m1[48], m2[48];
	CHECK(tdx_mrtd(bad.b, F_LEN, &td, TDX_SINGLE_PASS, m1, err) == 0);
	REQUIRE(tdvf_parse(f.b, F_LEN, &td, err) == 0);
	CHECK(tdx_mrtd(f.b, F_LEN, &td, TDX_SINGLE_PASS, m2, err) == 0);
	CHECK(memcmp(m1, m2, 48) == 0);
	/* the TDX table entry pointing outside the image, or too short */
	bad = f;
	put32(bad.b + F_FOOTER - 22, F_LEN + 1);
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) < 0 && strstr(err, "outside"));
	put32(bad.b + F_FOOTER - 22, 8);
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) < 0);
	/* no TDX entry at all */
	bad = f;
	bad.b[F_FOOTER - 1] ^= 0xff;
	CHECK(tdvf_parse(bad.b, F_LEN, &td, err) < 0 && strstr(err, "no TDVF metadata"));
	/* every single-byte corruption of the table and descriptor fails cleanly or parses */
	for (size_t off = F_TDVF; off < F_TDVF + 16 + 4 * 32; off++) {
		bad = f;
		bad.b[off] ^= 0xa5;
		(void)tdvf_parse(bad.b, F_LEN, &td, err);
	}
	for (size_t off = F_FOOTER - 100; off < F_LEN; off++) {
		bad = f;
		bad.b[off] ^= 0xa5;
		(void)tdvf_parse(bad.b, F_LEN, &td, err);
	}
}

static void rec(EVP_MD_CTX *c, const char *what, uint64_t gpa)
{
	uint8_t r[128] = { 0 };
	memcpy(r, what, strlen(what));
	put64(r + 16, gpa);
	EVP_DigestUpdate(c, r, sizeof(r));
}

TEST(measure_tdx_mrtd)
{
	static struct tfw f;
	tfw_build(&f);
	char err[MEASURE_ERR_MAX];
	static struct tdvf td;
	REQUIRE(tdvf_parse(f.b, F_LEN, &td, err) == 0);
	uint8_t got[48], two[48], want[48];
	REQUIRE(tdx_mrtd(f.b, F_LEN, &td, TDX_SINGLE_PASS, got, err) == 0);
	REQUIRE(tdx_mrtd(f.b, F_LEN, &td, TDX_TWO_PASS, two, err) == 0);
	CHECK(memcmp(got, two, 48) != 0);
	/* The records spelled out (TDX module ABI: TDH.MEM.PAGE.ADD, TDH.MR.EXTEND). */
	for (int order = 0; order < 2; order++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestInit_ex(c, EVP_sha384(), NULL);
		uint64_t bfv = 0xffffd000ull;
		for (int page = 0; page < 2; page++) {
			rec(c, "MEM.PAGE.ADD", bfv + 0x1000 * page);
			for (int k = 0; order == 0 && k < 16; k++) {
				rec(c, "MR.EXTEND", bfv + 0x1000 * page + 256 * k);
				EVP_DigestUpdate(c, f.b + 0x4000 + 0x1000 * page + 256 * k, 256);
			}
		}
		for (int page = 0; order == 1 && page < 2; page++)
			for (int k = 0; k < 16; k++) {
				rec(c, "MR.EXTEND", bfv + 0x1000 * page + 256 * k);
				EVP_DigestUpdate(c, f.b + 0x4000 + 0x1000 * page + 256 * k, 256);
			}
		rec(c, "MEM.PAGE.ADD", 0xffffb000ull); /* CFV: added, not extended */
		rec(c, "MEM.PAGE.ADD", 0x800000);      /* TempMem */
		rec(c, "MEM.PAGE.ADD", 0x801000);
		/* the PAGE.AUG section adds nothing */
		unsigned n;
		EVP_DigestFinal_ex(c, want, &n);
		EVP_MD_CTX_free(c);
		CHECK(memcmp(order == 0 ? got : two, want, 48) == 0);
	}
	/* MR.EXTEND past the raw data hashes zeros (QEMU copies raw_size bytes into the
	 * zero-filled region): shrink the BFV's raw data by one page. */
	static struct tfw g;
	g = f;
	put32(g.b + F_TDVF + 16 + 4, 0x1000);
	REQUIRE(tdvf_parse(g.b, F_LEN, &td, err) == 0);
	uint8_t shrunk[48], zeroed[48];
	REQUIRE(tdx_mrtd(g.b, F_LEN, &td, TDX_SINGLE_PASS, shrunk, err) == 0);
	memset(g.b + 0x5000, 0, 0x1000);
	put32(g.b + F_TDVF + 16 + 4, 0x2000);
	REQUIRE(tdvf_parse(g.b, F_LEN, &td, err) == 0);
	REQUIRE(tdx_mrtd(g.b, F_LEN, &td, TDX_SINGLE_PASS, zeroed, err) == 0);
	CHECK(memcmp(shrunk, zeroed, 48) == 0);
	/* a CFV byte does not change MRTD, a BFV byte does */
	g = f;
	g.b[0x3000] ^= 1;
	REQUIRE(tdvf_parse(g.b, F_LEN, &td, err) == 0);
	REQUIRE(tdx_mrtd(g.b, F_LEN, &td, TDX_SINGLE_PASS, want, err) == 0);
	CHECK(memcmp(want, got, 48) == 0);
	g.b[0x5fff] ^= 1;
	REQUIRE(tdx_mrtd(g.b, F_LEN, &td, TDX_SINGLE_PASS, want, err) == 0);
	CHECK(memcmp(want, got, 48) != 0);
}

static void sha384_chain(uint8_t reg[48], const uint8_t *d)
{
	uint8_t b[96];
	unsigned n;
	memcpy(b, reg, 48);
	memcpy(b + 48, d, 48);
	EVP_Digest(b, 96, reg, &n, EVP_sha384(), NULL);
}

TEST(measure_tdx_rtmrs)
{
	static const struct tsec s[] = { { 0x400, 0x200 }, { 0x600, 0x100 } };
	static struct tpe t;
	tpe_build(&t, s, 2, 0x700, 0);
	static const uint8_t initrd[] = "an initrd";
	struct measure_input in = { .kernel = t.b,
				    .kernel_len = t.len,
				    .initrd = initrd,
				    .initrd_len = sizeof(initrd) - 1,
				    .cmdline = "console=hvc0",
				    .mem_mib = 2048,
				    .qemu_patch = 0,
				    .loadopts = LOADOPTS_SUFFIX };
	char err[MEASURE_ERR_MAX], h[97];
	struct tdx_result r, legacy;
	REQUIRE(tdx_rtmrs(&in, 0, &r, err) == 0);
	REQUIRE(r.nevents == 7);
	/* the action and separator digests equal those in a real TDX CCEL (trustee test data,
	 * tests/measure/ccel_data_ovmf.bin) */
	hex(r.events[1].digest, 48, h);
	CHECK_STR(h, "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346bfe0"
		     "abaa938ca20439a8d71");
	hex(r.events[2].digest, 48, h);
	CHECK_STR(h, "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b97"
		     "1c9effc60e1ad9f1289f0");
	hex(r.events[4].digest, 48, h);
	CHECK_STR(h, "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c"
		     "4174a652cd080f6230b74");
	/* the kernel event is the Authenticode SHA-384 of the image */
	uint8_t a[EVP_MAX_MD_SIZE];
	unsigned alen;
	REQUIRE(pe_authenticode(t.b, t.len, EVP_sha384(), a, &alen, err) == 0);
	CHECK(alen == 48 && memcmp(a, r.events[0].digest, 48) == 0);
	/* RTMR2 = ext(ext(0, sha384(UTF-16LE "console=hvc0 initrd=initrd" + NUL)), sha384(initrd)) */
	uint8_t reg[48] = { 0 }, d[48], u16[128] = { 0 };
	const char *opts = "console=hvc0 initrd=initrd";
	size_t n = strlen(opts);
	for (size_t i = 0; i < n; i++)
		u16[2 * i] = (uint8_t)opts[i];
	unsigned dl;
	EVP_Digest(u16, 2 * n + 2, d, &dl, EVP_sha384(), NULL);
	sha384_chain(reg, d);
	EVP_Digest(initrd, sizeof(initrd) - 1, d, &dl, EVP_sha384(), NULL);
	sha384_chain(reg, d);
	CHECK(memcmp(reg, r.rtmr2, 48) == 0);
	/* Before edk2-stable202411 the separator went to RTMR0: one event fewer in RTMR1. */
	REQUIRE(tdx_rtmrs(&in, 1, &legacy, err) == 0);
	CHECK(legacy.nevents == 6 && memcmp(legacy.rtmr1, r.rtmr1, 48) != 0);
	CHECK(memcmp(legacy.rtmr2, r.rtmr2, 48) == 0);

	/* Real evidence: the trustee CCEL was written by such an older TDVF. Its RTMR1 (MR index
	 * 2) is our legacy event list with the log's own kernel digest in front. */
	size_t len;
	uint8_t *b = read_all("tests/measure/ccel_data_ovmf.bin", &len);
	REQUIRE(b != NULL);
	struct evlog log;
	REQUIRE(evlog_parse(b, len, &log, err) == 0);
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned size;
	REQUIRE(evlog_replay(&log, TPM_ALG_SHA384, regs, &size, err) == 0);
	const uint8_t *kernel = NULL;
	for (size_t i = 0; i < log.nevents && !kernel; i++)
		if (log.events[i].pcr == 2 &&
		    log.events[i].type == EV_EFI_BOOT_SERVICES_APPLICATION)
			kernel = evlog_event_digest(&log.events[i], TPM_ALG_SHA384);
	REQUIRE(kernel != NULL);
	memset(reg, 0, sizeof(reg));
	sha384_chain(reg, kernel);
	for (size_t i = 1; i < legacy.nevents && legacy.events[i].rtmr == 1; i++)
		sha384_chain(reg, legacy.events[i].digest);
	CHECK(memcmp(reg, regs[2], 48) == 0);
	evlog_free(&log);
	free(b);
}

TEST(measure_sev_meta_parse)
{
	static struct tfw f, bad;
	tfw_build(&f);
	char err[MEASURE_ERR_MAX];
	static struct sev_meta m;
	REQUIRE(sev_meta_parse(f.b, F_LEN, &m, err) == 0);
	REQUIRE(m.n == 4);
	CHECK(m.s[0].type == SEV_SEC_MEM && m.s[0].gpa == 0x800000 && m.s[0].size == 0x2000);
	CHECK(m.s[3].type == SEV_KERNEL_HASHES);
	CHECK(m.ap_reset_eip == F_AP_EIP && m.hashes_gpa == F_HT_GPA && m.hashes_size == 0x400);
	CHECK_STR(sev_type_name(0x10), "SNP_KERNEL_HASHES");
	struct {
		size_t off;
		uint32_t val;
		const char *why;
	} cases[] = {
		{ F_ASEV, 0x56455340, "bad signature" }, { F_ASEV + 8, 0, "version" },
		{ F_ASEV + 12, 0, "0 sections" },	 { F_ASEV + 12, 100000, "sections" },
		{ F_ASEV + 4, 20, "do not fit" },	 { F_ASEV + 16 + 8, 5, "unknown type" },
		{ F_ASEV + 16, 0x800100, "aligned" },	 { F_ASEV + 16 + 4, 0x10, "aligned" },
		{ F_ASEV + 16 + 4, 0, "aligned" },	 { F_ASEV + 16, 0xfffff000, "above 4 GiB" },
		{ F_ASEV + 28 + 4, 0x2000, "one page" }, { F_ASEV + 40 + 4, 0x3000, "one page" },
		{ F_FOOTER - 44, F_LEN + 4, "outside" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = f;
		put32(bad.b + cases[i].off, cases[i].val);
		err[0] = 0;
		int r = sev_meta_parse(bad.b, F_LEN, &m, err);
		CHECK(r < 0);
		if (r == 0 || !strstr(err, cases[i].why))
			fprintf(stderr, "    case %zu: \"%s\"\n", i, err);
	}
	bad = f;
	put32(bad.b + F_ASEV + 16 + 4, 0x3ffff000); /* 1 GiB of SEC_MEM plus the rest */
	put32(bad.b + F_ASEV + 16, 0x40000000);
	CHECK(sev_meta_parse(bad.b, F_LEN, &m, err) < 0 && strstr(err, "more than"));
	for (size_t off = F_ASEV; off < F_ASEV + 16 + 4 * 12; off++) {
		bad = f;
		bad.b[off] ^= 0x5a;
		(void)sev_meta_parse(bad.b, F_LEN, &m, err);
	}
}

TEST(measure_snp_pieces)
{
	CHECK(snp_vcpu_sig("EPYC") == 0x800f12);
	CHECK(snp_vcpu_sig("EPYC-v4") == 0x800f12);
	CHECK(snp_vcpu_sig("EPYC-Rome") == 0x830f10);
	CHECK(snp_vcpu_sig("EPYC-Milan") == 0xa00f11);
	CHECK(snp_vcpu_sig("EPYC-Milan-v2") == 0xa00f11);
	CHECK(snp_vcpu_sig("EPYC-Genoa") == 0xa10f10);
	CHECK(snp_vcpu_sig("EPYC-Turin") == 0xb00f00);
	CHECK(snp_vcpu_sig("EPYC-vx") == 0 && snp_vcpu_sig("Haswell") == 0 &&
	      snp_vcpu_sig("EPYC-Milan-v") == 0 && snp_vcpu_sig("") == 0);

	static const uint8_t kernel[] = "kernel bytes", initrd[] = "initrd bytes";
	struct snp_input in = { .kernel = kernel,
				.kernel_len = sizeof(kernel) - 1,
				.initrd = initrd,
				.initrd_len = sizeof(initrd) - 1,
				.cmdline = "console=ttyS0",
				.vcpus = 1,
				.vcpu_sig = 0xa00f11,
				.guest_features = 1,
				.vmm = SNP_VMM_QEMU };
	uint8_t t[SNP_HASHES_TABLE_LEN], d[32];
	char err[MEASURE_ERR_MAX];
	REQUIRE(snp_hashes_table(&in, t, err) == 0);
	CHECK(t[0] == 0x06 && t[15] == 0x21 && t[16] == 0xa8 && t[17] == 0); /* 9438d606-… */
	CHECK(t[18] == 0xd8 && t[18 + 16] == 50);			     /* cmdline entry */
	CHECK(t[68] == 0x31 && t[118] == 0x37);				     /* initrd, kernel */
	REQUIRE(measure_sha256("console=ttyS0", 14, d, err) == 0);	     /* with its NUL */
	CHECK(memcmp(t + 36, d, 32) == 0);
	REQUIRE(measure_sha256(kernel, sizeof(kernel) - 1, d, err) == 0);
	CHECK(memcmp(t + 136, d, 32) == 0);
	for (int i = 168; i < SNP_HASHES_TABLE_LEN; i++)
		CHECK(t[i] == 0);
	in.initrd = NULL; /* no -initrd: hash of nothing */
	REQUIRE(snp_hashes_table(&in, t, err) == 0);
	REQUIRE(measure_sha256("", 0, d, err) == 0);
	CHECK(memcmp(t + 86, d, 32) == 0);
	in.initrd = initrd;

	/* VMSA: the fields KVM sets at reset, where sev_es_save_area puts them */
	static uint8_t v[FW_PAGE];
	snp_vmsa(v, 0xfffffff0u, &in);
	CHECK(get32(v + 0x10) == (0x9bu << 16 | 0xf000)); /* cs selector, attrib */
	CHECK(get32(v + 0x18) == 0xffff0000u);		  /* cs base */
	CHECK(get32(v + 0x178) == 0xfff0);		  /* rip */
	CHECK(get32(v + 0x310) == 0xa00f11);		  /* rdx = CPUID(1).EAX */
	CHECK(get32(v + 0x3b0) == 1);			  /* SEV_FEATURES */
	CHECK(get32(v + 0x408) == 0x1f80 && v[0x410] == 0x7f && v[0x411] == 0x03);
	snp_vmsa(v, F_AP_EIP, &in);
	CHECK(get32(v + 0x18) == 0xffff0000u && get32(v + 0x178) == 0xa0f0);
	in.vmm = SNP_VMM_EC2;
	snp_vmsa(v, 0xfffffff0u, &in);
	CHECK(v[0x12] == 0x9a && get32(v + 0x310) == 0x600 && get32(v + 0x408) == 0);
	in.vmm = SNP_VMM_GCE;
	snp_vmsa(v, 0xfffffff0u, &in);
	CHECK(get32(v + 0x268) == 0x70106);
	in.vmm = SNP_VMM_QEMU;

	/* The launch digest: every input that QEMU/KVM feed the PSP changes it. */
	static struct tfw f;
	tfw_build(&f);
	static struct sev_meta m;
	REQUIRE(sev_meta_parse(f.b, F_LEN, &m, err) == 0);
	in.firmware = f.b;
	in.firmware_len = F_LEN;
	uint8_t base[48], other[48];
	REQUIRE(snp_launch_digest(&in, &m, base, err) == 0);
	struct snp_input x = in;
	x.vcpus = 2;
	REQUIRE(snp_launch_digest(&x, &m, other, err) == 0);
	CHECK(memcmp(base, other, 48) != 0);
	x = in;
	x.guest_features = 0x21;
	REQUIRE(snp_launch_digest(&x, &m, other, err) == 0);
	CHECK(memcmp(base, other, 48) != 0);
	x = in;
	x.cmdline = "console=ttyS1";
	REQUIRE(snp_launch_digest(&x, &m, other, err) == 0);
	CHECK(memcmp(base, other, 48) != 0);
	x = in;
	x.vmm = SNP_VMM_EC2;
	REQUIRE(snp_launch_digest(&x, &m, other, err) == 0);
	CHECK(memcmp(base, other, 48) != 0);
	x = in;
	x.kernel = NULL; /* no kernel: the hashes page is a ZERO page */
	REQUIRE(snp_launch_digest(&x, &m, other, err) == 0);
	CHECK(memcmp(base, other, 48) != 0);
	/* refused: size not a page multiple, no vCPU, APs without a reset block, a kernel with
	 * no hashes section, a hashes table crossing its page */
	x = in;
	x.firmware_len = F_LEN - 1;
	CHECK(snp_launch_digest(&x, &m, other, err) < 0);
	x = in;
	x.vcpus = 0;
	CHECK(snp_launch_digest(&x, &m, other, err) < 0);
	static struct sev_meta mm;
	mm = m;
	mm.ap_reset_eip = 0;
	x.vcpus = 2;
	CHECK(snp_launch_digest(&x, &mm, other, err) < 0 && strstr(err, "reset block"));
	mm = m;
	mm.n = 3;
	CHECK(snp_launch_digest(&in, &mm, other, err) < 0 && strstr(err, "AmdSev"));
	mm = m;
	mm.hashes_gpa = 0x804f80;
	CHECK(snp_launch_digest(&in, &mm, other, err) < 0 && strstr(err, "does not fit"));
}
