/* sealpod-measure: prints the reference values of a sealpod guest (see measure.h, tee.h), or
 * replays a guest's event log and says which events differ from the prediction.
 *
 *   sealpod-measure --kernel FILE --initrd FILE --cmdline STR [--mem MIB] [--initdata FILE]
 *       [--tee tpm|tdx|snp] [--firmware FILE] [--loadopts suffix|prefix]
 *       [--no-qemu-patch | --qemu-patch] [--manifest FILE]... [--reference-log FILE]
 *       [--vcpus N] [--vcpu-type MODEL | --vcpu-sig N] [--guest-features N]
 *       [--vmm qemu|clh|ec2|gce] [--tdx-page-order single|two-pass] [--tdx-legacy-separator]
 *       [--format json|kbs|rvps]
 *   sealpod-measure replay --eventlog FILE [--bank sha256|sha384|...] [--reference-log FILE]
 *       [the inputs above]
 *
 * --tee tpm (default), --format json: one object with pcr4, pcr5, pcr9 (and pcr8 with
 *   --initdata), sha256, lowercase hex; the inputs (kernel_sha256, kernel_authenticode_sha256,
 *   initrd_sha256, initrd_size, cmdline, mem, loadopts, qemu_patch, initdata_sha256,
 *   firmware_sha256); the predicted events; "manifest": the concatenated --manifest files. With
 *   --reference-log (the binary_bios_measurements of a reference boot of the same firmware and
 *   VM configuration) also pcr0, pcr1, pcr2, pcr3, pcr6, pcr7 replayed from it.
 * --tee tdx: mrtd (with --firmware, a TDVF image), rtmr1, rtmr2 (sha384), the TDVF sections
 *   and the predicted CCEL events; rtmr0 only from --reference-log (a reference boot's CCEL),
 *   else listed under "not_computed".
 * --tee snp: snp_launch_digest (sha384) for --firmware (an AmdSev OVMF), --vcpus, the vCPU
 *   type or signature, --guest-features (default 0x1) and the VMM's VMSA flavour.
 * --mem is needed only when QEMU patches the setup header (the vTPM default; TDX and SNP
 *   default to the unpatched kernel).
 * --format kbs: a flat object of reference values a test KBS ingests, every value a list of
 *   accepted lowercase-hex values: {"pcr4":["…"],"pcr5":["…"],"pcr8":["…"],"pcr9":["…"]}
 *   (pcr8 only with --initdata; pcr0-3, 6, 7 only with --reference-log), {"mrtd":[…],
 *   "rtmr1":[…],"rtmr2":[…]} or {"snp_launch_digest":[…]}.
 * --format rvps: the same values as a message Trustee's RVPS registers (rvps.c).
 * Strings are JSON-escaped with each byte >= 0x80 written as \u00XX (Latin-1), which is also
 * how OVMF widens cmdline bytes into LoadOptions.
 *
 * replay prints {"bank","events","pcrs":{"N":"hex"},…} (for a TDX CCEL N is the MR index:
 * 1 = RTMR0 … 3 = RTMR2) and, when --kernel is given, "predicted", "match" and "differences"
 * for PCR4, 5 and 9 (or, with --tee tdx, MR index 2 and 3 in the sha384 bank); with
 * --reference-log, "firmware_match" and "firmware_differences" for PCR 0-3, 6, 7 against that
 * log, event by event. Exit status 0 when everything matches, 1 when something differs, 2 on
 * errors. */
#include "cli.h"
#include "eventlog.h"
#include "fw.h"
#include "measure.h"
#include "tee.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INPUT_FILE (1ull << 31)

int read_file(const char *path, struct buf *b, char *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return measure_err(err, "open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_INPUT_FILE) {
		close(fd);
		return measure_err(err, "%s: not a regular file of at most 2 GiB", path);
	}
	b->len = (size_t)st.st_size;
	b->p = malloc(b->len ? b->len : 1);
	if (!b->p) {
		close(fd);
		return measure_err(err, "%s: out of memory", path);
	}
	size_t got = 0;
	while (got < b->len) {
		ssize_t n = read(fd, b->p + got, b->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			free(b->p);
			b->p = NULL;
			return measure_err(err, "read %s: %s", path, strerror(e));
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

/* JSON string contents, without the quotes. */
static void json_escape(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			(void)fputs("\\n", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
}

void json_str(const char *s, size_t n)
{
	putchar('"');
	json_escape(s, n);
	putchar('"');
}

static void json_hex(const char *key, const uint8_t *d, size_t n, const char *sep)
{
	char hex[2 * 64 + 1];
	measure_hex(d, n, hex);
	printf("%s\"%s\": \"%s\"", sep, key, hex);
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	(void)fputs("usage: sealpod-measure --kernel FILE --initrd FILE --cmdline STR --mem MIB\n"
		    "         [--initdata FILE] [--firmware FILE] [--loadopts suffix|prefix]\n"
		    "         [--no-qemu-patch | --qemu-patch] [--manifest FILE]...\n"
		    "         [--reference-log FILE]\n"
		    "         [--format json|kbs|rvps]\n"
		    "         [--tee tpm|tdx|snp] [--vmm qemu|clh|ec2|gce] [--vcpus N]\n"
		    "         [--vcpu-type MODEL | --vcpu-sig N] [--guest-features N]\n"
		    "         [--tdx-page-order single|two-pass] [--tdx-legacy-separator]\n"
		    "       sealpod-measure replay --eventlog FILE [--bank sha256] [same inputs]\n",
		    stderr);
}

static int parse_args(int argc, char **argv, struct opts *o, char *err)
{
	enum {
		O_KERNEL = 256,
		O_INITRD,
		O_CMDLINE,
		O_MEM,
		O_INITDATA,
		O_FIRMWARE,
		O_LOADOPTS,
		O_NOPATCH,
		O_PATCH,
		O_FORMAT,
		O_MANIFEST,
		O_EVENTLOG,
		O_BANK,
		O_REFLOG,
		O_TEE,
		O_VMM,
		O_VCPUS,
		O_VCPU_TYPE,
		O_VCPU_SIG,
		O_FEATURES,
		O_PAGE_ORDER,
		O_LEGACY_SEP
	};
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "mem", required_argument, NULL, O_MEM },
		{ "initdata", required_argument, NULL, O_INITDATA },
		{ "firmware", required_argument, NULL, O_FIRMWARE },
		{ "loadopts", required_argument, NULL, O_LOADOPTS },
		{ "no-qemu-patch", no_argument, NULL, O_NOPATCH },
		{ "qemu-patch", no_argument, NULL, O_PATCH },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "manifest", required_argument, NULL, O_MANIFEST },
		{ "eventlog", required_argument, NULL, O_EVENTLOG },
		{ "bank", required_argument, NULL, O_BANK },
		{ "reference-log", required_argument, NULL, O_REFLOG },
		{ "tee", required_argument, NULL, O_TEE },
		{ "vmm", required_argument, NULL, O_VMM },
		{ "vcpus", required_argument, NULL, O_VCPUS },
		{ "vcpu-type", required_argument, NULL, O_VCPU_TYPE },
		{ "vcpu-sig", required_argument, NULL, O_VCPU_SIG },
		{ "guest-features", required_argument, NULL, O_FEATURES },
		{ "tdx-page-order", required_argument, NULL, O_PAGE_ORDER },
		{ "tdx-legacy-separator", no_argument, NULL, O_LEGACY_SEP },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL:
			o->kernel = optarg;
			break;
		case O_INITRD:
			o->initrd = optarg;
			break;
		case O_CMDLINE:
			o->cmdline = optarg;
			break;
		case O_INITDATA:
			o->initdata = optarg;
			break;
		case O_FIRMWARE:
			o->firmware = optarg;
			break;
		case O_EVENTLOG:
			o->eventlog = optarg;
			break;
		case O_REFLOG:
			o->reference_log = optarg;
			break;
		case O_BANK:
			o->bank = optarg;
			break;
		case O_NOPATCH:
			o->qemu_patch = 0;
			break;
		case O_PATCH:
			o->qemu_patch = 1;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "kbs") != 0 &&
			    strcmp(optarg, "rvps") != 0)
				return measure_err(err, "--format: json, kbs or rvps");
			o->format = optarg;
			break;
		case O_LOADOPTS:
			if (!strcmp(optarg, "suffix"))
				o->loadopts = LOADOPTS_SUFFIX;
			else if (!strcmp(optarg, "prefix"))
				o->loadopts = LOADOPTS_PREFIX;
			else
				return measure_err(err, "--loadopts: suffix or prefix");
			break;
		case O_MEM: {
			char *end;
			errno = 0;
			unsigned long long m = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || m == 0 || m > (1ull << 30))
				return measure_err(err, "--mem: a size in MiB");
			o->mem = m;
			o->has_mem = 1;
			break;
		}
		case O_TEE:
			if (strcmp(optarg, "tpm") != 0 && strcmp(optarg, "tdx") != 0 &&
			    strcmp(optarg, "snp") != 0)
				return measure_err(err, "--tee: tpm, tdx or snp");
			o->tee = optarg;
			break;
		case O_VMM:
			if (strcmp(optarg, "qemu") != 0 && strcmp(optarg, "clh") != 0 &&
			    strcmp(optarg, "ec2") != 0 && strcmp(optarg, "gce") != 0)
				return measure_err(err, "--vmm: qemu, clh, ec2 or gce");
			o->vmm = optarg;
			break;
		case O_VCPUS: {
			uint64_t v;
			if (parse_u64(optarg, 10, &v) < 0 || v == 0 || v > 512)
				return measure_err(err, "--vcpus: 1 to 512");
			o->vcpus = (unsigned)v;
			break;
		}
		case O_VCPU_TYPE:
			o->vcpu_sig = snp_vcpu_sig(optarg);
			if (!o->vcpu_sig)
				return measure_err(err,
						   "--vcpu-type %s: unknown (EPYC, EPYC-Rome, "
						   "EPYC-Milan, EPYC-Genoa, EPYC-Turin, "
						   "optionally -vN; or --vcpu-sig)",
						   optarg);
			o->vcpu_type = optarg;
			break;
		case O_VCPU_SIG: {
			uint64_t v;
			if (parse_u64(optarg, 0, &v) < 0 || v > UINT32_MAX)
				return measure_err(err, "--vcpu-sig: a 32-bit CPUID(1).EAX value");
			o->vcpu_sig = (uint32_t)v;
			o->vcpu_type = NULL;
			break;
		}
		case O_FEATURES:
			if (parse_u64(optarg, 0, &o->guest_features) < 0)
				return measure_err(err, "--guest-features: a 64-bit number");
			break;
		case O_PAGE_ORDER:
			if (!strcmp(optarg, "single"))
				o->page_order = TDX_SINGLE_PASS;
			else if (!strcmp(optarg, "two-pass"))
				o->page_order = TDX_TWO_PASS;
			else
				return measure_err(err, "--tdx-page-order: single or two-pass");
			break;
		case O_LEGACY_SEP:
			o->tdx_legacy_separator = 1;
			break;
		case O_MANIFEST:
			if (o->nmanifests == MAX_MANIFESTS)
				return measure_err(err, "at most %d --manifest files",
						   MAX_MANIFESTS);
			o->manifests[o->nmanifests++] = optarg;
			break;
		default:
			usage();
			return measure_err(err, "bad arguments");
		}
	}
	if (optind != argc)
		return measure_err(err, "unexpected argument %s", argv[optind]);
	return 0;
}

/* PCR0-3, 6, 7 depend on the firmware build and the VM configuration (with Debian's OVMF
 * 2022.11 even PCR0 changes with the RAM size): they come from the replayed event log of a
 * reference boot of the same firmware, VM configuration and VARS template. */
static const int firmware_pcrs[] = { 0, 1, 2, 3, 6, 7 };
#define N_FIRMWARE_PCRS (int)(sizeof(firmware_pcrs) / sizeof(firmware_pcrs[0]))

struct reference {
	int have;
	uint8_t pcr[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	uint8_t log_sha256[SHA256_LEN];
};

static int load_reference(const char *path, uint16_t alg, struct reference *ref, char *err)
{
	struct buf b = { 0 };
	struct evlog log;
	unsigned size;
	if (read_file(path, &b, err) < 0)
		return -1;
	int ret = measure_sha256(b.p, b.len, ref->log_sha256, err);
	if (ret == 0)
		ret = evlog_parse(b.p, b.len, &log, err);
	if (ret == 0) {
		ret = evlog_replay(&log, alg, ref->pcr, &size, err);
		evlog_free(&log);
	}
	free(b.p);
	if (ret < 0) {
		char why[MEASURE_ERR_MAX];
		memcpy(why, err, sizeof(why));
		return measure_err(err, "--reference-log %s: %.180s", path, why);
	}
	ref->have = 1;
	return 0;
}

static void print_events(const struct measure_result *r)
{
	printf(",\n  \"events\": [");
	for (size_t i = 0; i < r->nevents; i++) {
		char hex[2 * SHA256_LEN + 1];
		measure_hex(r->events[i].digest, SHA256_LEN, hex);
		printf("%s\n    {\"pcr\": %u, \"type\": \"%s\", \"digest\": \"%s\", \"what\": ",
		       i ? "," : "", r->events[i].pcr, evlog_type_name(r->events[i].type), hex);
		json_str(r->events[i].what, strlen(r->events[i].what));
		putchar('}');
	}
	printf("\n  ]");
}

static int print_json(const struct opts *o, const struct measure_input *in,
		      const struct measure_result *r, const struct buf *firmware,
		      const struct buf *manifests, const struct reference *ref, char *err)
{
	printf("{\n  \"tool\": \"sealpod-measure\",\n  \"bank\": \"sha256\"");
	json_hex("pcr4", r->pcr4, SHA256_LEN, ",\n  ");
	json_hex("pcr5", r->pcr5, SHA256_LEN, ",\n  ");
	if (r->has_pcr8)
		json_hex("pcr8", r->pcr8, SHA256_LEN, ",\n  ");
	json_hex("pcr9", r->pcr9, SHA256_LEN, ",\n  ");
	for (int i = 0; ref->have && i < N_FIRMWARE_PCRS; i++) {
		char key[8];
		(void)snprintf(key, sizeof(key), "pcr%d", firmware_pcrs[i]);
		json_hex(key, ref->pcr[firmware_pcrs[i]], SHA256_LEN, ",\n  ");
	}
	if (ref->have) {
		printf(",\n  \"reference_log\": ");
		json_str(o->reference_log, strlen(o->reference_log));
		json_hex("reference_log_sha256", ref->log_sha256, SHA256_LEN, ",\n  ");
	}
	json_hex("kernel_sha256", r->kernel_sha256, SHA256_LEN, ",\n  ");
	json_hex("kernel_authenticode_sha256", r->kernel_authenticode, SHA256_LEN, ",\n  ");
	if (in->initrd) {
		json_hex("initrd_sha256", r->initrd_sha256, SHA256_LEN, ",\n  ");
		printf(",\n  \"initrd_size\": %zu", in->initrd_len);
	}
	printf(",\n  \"cmdline\": ");
	json_str(in->cmdline, strlen(in->cmdline));
	printf(",\n  \"mem\": %llu", (unsigned long long)in->mem_mib);
	printf(",\n  \"loadopts\": \"%s\"", in->loadopts == LOADOPTS_PREFIX ? "prefix" : "suffix");
	printf(",\n  \"qemu_patch\": %s", in->qemu_patch ? "true" : "false");
	if (r->has_loadopts)
		json_hex("loadopts_sha256", r->loadopts_sha256, SHA256_LEN, ",\n  ");
	if (r->has_pcr8)
		json_hex("initdata_sha256", r->initdata_sha256, SHA256_LEN, ",\n  ");
	if (firmware->p) {
		uint8_t d[SHA256_LEN];
		if (measure_sha256(firmware->p, firmware->len, d, err) < 0)
			return -1;
		json_hex("firmware_sha256", d, SHA256_LEN, ",\n  ");
	}
	print_events(r);
	if (o->nmanifests) {
		printf(",\n  \"manifest\": \"");
		for (int i = 0; i < o->nmanifests; i++)
			json_escape((const char *)manifests[i].p, manifests[i].len);
		putchar('"');
	}
	printf("\n}\n");
	return 0;
}

static void print_kbs(const struct measure_result *r, const struct reference *ref)
{
	char hex[2 * SHA256_LEN + 1];
	putchar('{');
	for (int i = 0; ref->have && i < N_FIRMWARE_PCRS && firmware_pcrs[i] < 4; i++) {
		measure_hex(ref->pcr[firmware_pcrs[i]], SHA256_LEN, hex);
		printf("\"pcr%d\": [\"%s\"], ", firmware_pcrs[i], hex);
	}
	measure_hex(r->pcr4, SHA256_LEN, hex);
	printf("\"pcr4\": [\"%s\"]", hex);
	measure_hex(r->pcr5, SHA256_LEN, hex);
	printf(", \"pcr5\": [\"%s\"]", hex);
	for (int i = 0; ref->have && i < N_FIRMWARE_PCRS; i++) {
		if (firmware_pcrs[i] < 6)
			continue;
		measure_hex(ref->pcr[firmware_pcrs[i]], SHA256_LEN, hex);
		printf(", \"pcr%d\": [\"%s\"]", firmware_pcrs[i], hex);
	}
	if (r->has_pcr8) {
		measure_hex(r->pcr8, SHA256_LEN, hex);
		printf(", \"pcr8\": [\"%s\"]", hex);
	}
	measure_hex(r->pcr9, SHA256_LEN, hex);
	printf(", \"pcr9\": [\"%s\"]}\n", hex);
}

static void print_manifest(const struct opts *o, const struct buf *manifests)
{
	if (!o->nmanifests)
		return;
	printf(",\n  \"manifest\": \"");
	for (int i = 0; i < o->nmanifests; i++)
		json_escape((const char *)manifests[i].p, manifests[i].len);
	putchar('"');
}

static void print_common_inputs(const struct measure_input *in, const uint8_t *kernel_sha256)
{
	json_hex("kernel_sha256", kernel_sha256, SHA256_LEN, ",\n  ");
	if (in->initrd) {
		uint8_t d[SHA256_LEN];
		char err[MEASURE_ERR_MAX];
		if (measure_sha256(in->initrd, in->initrd_len, d, err) == 0)
			json_hex("initrd_sha256", d, SHA256_LEN, ",\n  ");
		printf(",\n  \"initrd_size\": %zu", in->initrd_len);
	}
	printf(",\n  \"cmdline\": ");
	json_str(in->cmdline, strlen(in->cmdline));
}

/* TDX: MRTD from the TDVF image (when given), RTMR1 and RTMR2. */
static int run_tdx(const struct opts *o, const struct measure_input *in, const struct buf *fw,
		   const struct buf *manifests, const struct reference *ref, char *err)
{
	static struct tdvf td;
	uint8_t mrtd[SHA384_LEN], kernel_sha256[SHA256_LEN];
	struct tdx_result r;
	if (fw->p && (tdvf_parse(fw->p, fw->len, &td, err) < 0 ||
		      tdx_mrtd(fw->p, fw->len, &td, o->page_order, mrtd, err) < 0))
		return -1;
	if (tdx_rtmrs(in, o->tdx_legacy_separator, &r, err) < 0 ||
	    measure_sha256(in->kernel, in->kernel_len, kernel_sha256, err) < 0)
		return -1;
	if (!strcmp(o->format, "rvps"))
		return rvps_tdx(&r, fw->p ? mrtd : NULL, ref->have ? ref->pcr[1] : NULL, err);
	if (!strcmp(o->format, "kbs")) {
		char hex[2 * SHA384_LEN + 1];
		putchar('{');
		if (fw->p) {
			measure_hex(mrtd, SHA384_LEN, hex);
			printf("\"mrtd\": [\"%s\"], ", hex);
		}
		if (ref->have) {
			measure_hex(ref->pcr[1], SHA384_LEN, hex);
			printf("\"rtmr0\": [\"%s\"], ", hex);
		}
		measure_hex(r.rtmr1, SHA384_LEN, hex);
		printf("\"rtmr1\": [\"%s\"]", hex);
		measure_hex(r.rtmr2, SHA384_LEN, hex);
		printf(", \"rtmr2\": [\"%s\"]}\n", hex);
		return 0;
	}
	printf("{\n  \"tool\": \"sealpod-measure\",\n  \"tee\": \"tdx\",\n  \"bank\": \"sha384\"");
	if (fw->p)
		json_hex("mrtd", mrtd, SHA384_LEN, ",\n  ");
	json_hex("rtmr1", r.rtmr1, SHA384_LEN, ",\n  ");
	json_hex("rtmr2", r.rtmr2, SHA384_LEN, ",\n  ");
	if (ref->have) {
		/* RTMR0 (MR index 1) replayed from a reference boot's CCEL */
		json_hex("rtmr0", ref->pcr[1], SHA384_LEN, ",\n  ");
		printf(",\n  \"reference_log\": ");
		json_str(o->reference_log, strlen(o->reference_log));
		json_hex("reference_log_sha256", ref->log_sha256, SHA256_LEN, ",\n  ");
		printf(",\n  \"not_computed\": {");
	} else {
		printf(",\n  \"not_computed\": {\"rtmr0\": \"TD HOB, TDVF CFV (VARS), Secure Boot "
		       "and boot variables, ACPI tables and fw_cfg items: depends on the VM "
		       "configuration; --reference-log CCEL takes it from a reference boot\", ");
	}
	printf("\"rtmr3\": \"runtime, not firmware\"}");
	print_common_inputs(in, kernel_sha256);
	json_hex("kernel_authenticode_sha384", r.kernel_authenticode, SHA384_LEN, ",\n  ");
	if (in->qemu_patch)
		printf(",\n  \"mem\": %llu", (unsigned long long)in->mem_mib);
	printf(",\n  \"loadopts\": \"%s\"", in->loadopts == LOADOPTS_PREFIX ? "prefix" : "suffix");
	printf(",\n  \"qemu_patch\": %s", in->qemu_patch ? "true" : "false");
	printf(",\n  \"tdx_separator\": \"%s\"",
	       o->tdx_legacy_separator ? "rtmr0 (edk2 before stable202411)" : "rtmr1");
	if (fw->p) {
		uint8_t d[SHA256_LEN];
		if (measure_sha256(fw->p, fw->len, d, err) < 0)
			return -1;
		json_hex("firmware_sha256", d, SHA256_LEN, ",\n  ");
		printf(",\n  \"tdx_page_order\": \"%s\"",
		       o->page_order == TDX_TWO_PASS ? "two-pass" : "single");
		printf(",\n  \"tdvf_sections\": [");
		for (size_t i = 0; i < td.n; i++) {
			const struct tdvf_section *s = &td.s[i];
			printf("%s\n    {\"type\": \"%s\", \"gpa\": \"0x%llx\", \"size\": "
			       "\"0x%llx\", "
			       "\"data_offset\": \"0x%x\", \"raw_size\": \"0x%x\", "
			       "\"mr_extend\": %s, \"page_aug\": %s}",
			       i ? "," : "", tdvf_type_name(s->type), (unsigned long long)s->gpa,
			       (unsigned long long)s->mem_size, s->data_offset, s->raw_size,
			       s->attributes & TDVF_ATTR_MR_EXTEND ? "true" : "false",
			       s->attributes & TDVF_ATTR_PAGE_AUG ? "true" : "false");
		}
		printf("\n  ]");
	}
	printf(",\n  \"events\": [");
	for (size_t i = 0; i < r.nevents; i++) {
		char hex[2 * SHA384_LEN + 1];
		measure_hex(r.events[i].digest, SHA384_LEN, hex);
		printf("%s\n    {\"rtmr\": %u, \"mr_index\": %u, \"type\": \"%s\", \"digest\": "
		       "\"%s\", "
		       "\"what\": ",
		       i ? "," : "", r.events[i].rtmr, r.events[i].rtmr + 1,
		       evlog_type_name(r.events[i].type), hex);
		json_str(r.events[i].what, strlen(r.events[i].what));
		putchar('}');
	}
	printf("\n  ]");
	print_manifest(o, manifests);
	printf("\n}\n");
	return 0;
}

static enum snp_vmm snp_vmm_type(const char *vmm)
{
	if (!strcmp(vmm, "ec2"))
		return SNP_VMM_EC2;
	if (!strcmp(vmm, "gce"))
		return SNP_VMM_GCE;
	return SNP_VMM_QEMU;
}

/* SEV-SNP: the launch digest of an AmdSev OVMF with the kernel-hashes table. */
static int run_snp(const struct opts *o, const struct measure_input *in, const struct buf *fw,
		   const struct buf *manifests, char *err)
{
	static struct sev_meta m;
	uint8_t digest[SHA384_LEN], kernel_sha256[SHA256_LEN], table[SNP_HASHES_TABLE_LEN];
	struct snp_input si = {
		.firmware = fw->p,
		.firmware_len = fw->len,
		.kernel = in->kernel,
		.kernel_len = in->kernel_len,
		.initrd = in->initrd,
		.initrd_len = in->initrd_len,
		.cmdline = in->cmdline,
		.vcpus = o->vcpus,
		.vcpu_sig = o->vcpu_sig,
		.guest_features = o->guest_features,
		.vmm = snp_vmm_type(o->vmm),
	};
	if (sev_meta_parse(fw->p, fw->len, &m, err) < 0 ||
	    snp_launch_digest(&si, &m, digest, err) < 0 || snp_hashes_table(&si, table, err) < 0 ||
	    measure_sha256(in->kernel, in->kernel_len, kernel_sha256, err) < 0)
		return -1;
	char hex[2 * SHA384_LEN + 1];
	if (!strcmp(o->format, "rvps")) {
		const struct rvps_value v = { "snp_launch_measurement", digest, SHA384_LEN };
		return rvps_print(&v, 1, err);
	}
	if (!strcmp(o->format, "kbs")) {
		measure_hex(digest, SHA384_LEN, hex);
		printf("{\"snp_launch_digest\": [\"%s\"]}\n", hex);
		return 0;
	}
	printf("{\n  \"tool\": \"sealpod-measure\",\n  \"tee\": \"snp\"");
	json_hex("snp_launch_digest", digest, SHA384_LEN, ",\n  ");
	print_common_inputs(in, kernel_sha256);
	/* the three hashes QEMU puts into the table: cmdline (with NUL), initrd, kernel */
	json_hex("hashes_table_cmdline_sha256", table + 18 + 18, SHA256_LEN, ",\n  ");
	printf(",\n  \"vcpus\": %u, \"vcpu_sig\": \"0x%x\"", o->vcpus, o->vcpu_sig);
	if (o->vcpu_type) {
		printf(", \"vcpu_type\": ");
		json_str(o->vcpu_type, strlen(o->vcpu_type));
	}
	printf(",\n  \"guest_features\": \"0x%llx\", \"vmm\": \"%s\"",
	       (unsigned long long)o->guest_features, o->vmm);
	uint8_t d[SHA256_LEN];
	if (measure_sha256(fw->p, fw->len, d, err) < 0)
		return -1;
	json_hex("firmware_sha256", d, SHA256_LEN, ",\n  ");
	printf(",\n  \"ap_reset_eip\": \"0x%x\", \"hashes_table_gpa\": \"0x%x\"", m.ap_reset_eip,
	       m.hashes_gpa);
	printf(",\n  \"sev_sections\": [");
	for (size_t i = 0; i < m.n; i++)
		printf("%s\n    {\"type\": \"%s\", \"gpa\": \"0x%x\", \"size\": \"0x%x\"}",
		       i ? "," : "", sev_type_name(m.s[i].type), m.s[i].gpa, m.s[i].size);
	printf("\n  ]");
	print_manifest(o, manifests);
	printf("\n}\n");
	return 0;
}

int main(int argc, char **argv)
{
	char err[MEASURE_ERR_MAX] = "";
	struct opts o = { .cmdline = NULL,
			  .qemu_patch = -1,
			  .loadopts = LOADOPTS_SUFFIX,
			  .format = "json",
			  .tee = "tpm",
			  .vmm = "qemu",
			  .vcpus = 1,
			  .guest_features = 0x1 };
	int replay = argc > 1 && !strcmp(argv[1], "replay");
	int ret = 2;
	struct buf kernel = { 0 }, initrd = { 0 }, initdata = { 0 }, firmware = { 0 };
	struct buf manifests[MAX_MANIFESTS] = { { 0 } };
	struct measure_result r;
	static struct tdx_result tdx_r;
	static struct prediction pred;
	static struct reference ref;

	if (parse_args(argc - replay, argv + replay, &o, err) < 0)
		goto out;
	if (replay && !o.eventlog) {
		measure_err(err, "replay needs --eventlog FILE");
		goto out;
	}
	int predict = !replay || o.kernel;
	int snp = !strcmp(o.tee, "snp"), tdx = !strcmp(o.tee, "tdx");
	if (!o.bank)
		o.bank = tdx ? "sha384" : "sha256";
	/* Whether OVMF hashes QEMU's patched setup header: yes on the vTPM path with Debian
	 * bookworm's QEMU 7.2; no for TDX, which upstream needs QEMU >= 10.1, whose unpatched
	 * etc/boot/kernel blob edk2 >= stable202502 (our TDVF) loads; never for SEV. */
	if (o.qemu_patch < 0)
		o.qemu_patch = !tdx && !snp;
	if (predict && (!o.kernel || !o.initrd || !o.cmdline || (!o.has_mem && o.qemu_patch))) {
		usage();
		measure_err(err, "--kernel, --initrd and --cmdline are required, and --mem when "
				 "QEMU "
				 "patches the kernel (the vTPM path's default, --qemu-patch)");
		goto out;
	}
	if (snp && replay) {
		measure_err(err, "replay: SEV-SNP has no event log");
		goto out;
	}
	if (!strcmp(o.vmm, "clh")) {
		/* Cloud Hypervisor has no fw_cfg: it boots the kernel without firmware, or for
		 * TDX puts it into a td-shim/TDVF payload section (MRTD or RTMR1 by that table),
		 * and for SEV-SNP launches from an IGVM file whose VMSAs and pages come from the
		 * file (igvmmeasure); none of these is this tool's OVMF + fw_cfg model. */
		measure_err(err, "--vmm clh: Cloud Hypervisor's boot paths (no fw_cfg; TDX payload "
				 "sections; SNP from IGVM) are not modelled, see "
				 "measure/README.md");
		goto out;
	}
	if (strcmp(o.vmm, "qemu") != 0 && !snp) {
		measure_err(err, "--vmm %s: only for --tee snp (VMSA differences)", o.vmm);
		goto out;
	}
	if (snp && (!o.firmware || !o.vcpu_sig)) {
		measure_err(err, "--tee snp needs --firmware (the AmdSev OVMF) and --vcpu-type or "
				 "--vcpu-sig");
		goto out;
	}
	if ((snp || tdx) && (o.initdata || (snp && o.reference_log))) {
		/* initdata is bound through SNP HOSTDATA / TDX MRCONFIGID, set by the VMM at
		 * launch: not a launch measurement, so not part of these reference values. */
		measure_err(err, "--initdata%s is a vTPM input (not with --tee %s)",
			    snp ? " or --reference-log" : "", o.tee);
		goto out;
	}
	if (predict) {
		if (read_file(o.kernel, &kernel, err) < 0 ||
		    read_file(o.initrd, &initrd, err) < 0 ||
		    (o.initdata && read_file(o.initdata, &initdata, err) < 0) ||
		    (o.firmware && read_file(o.firmware, &firmware, err) < 0))
			goto out;
		/* everything is read before the first byte of output */
		for (int i = 0; i < o.nmanifests; i++)
			if (read_file(o.manifests[i], &manifests[i], err) < 0)
				goto out;
		if (o.reference_log &&
		    load_reference(o.reference_log, tdx ? TPM_ALG_SHA384 : TPM_ALG_SHA256, &ref,
				   err) < 0)
			goto out;
		if (initdata.p && initdata.len >= 8 && !memcmp(initdata.p, "initdata", 8)) {
			measure_err(err,
				    "%s is an initdata disk image: pass the TOML document "
				    "(its digest is what the guest extends into PCR8)",
				    o.initdata);
			goto out;
		}
		struct measure_input in = {
			.kernel = kernel.p,
			.kernel_len = kernel.len,
			.initrd = initrd.p,
			.initrd_len = initrd.len,
			.cmdline = o.cmdline,
			.mem_mib = o.mem,
			.qemu_patch = o.qemu_patch,
			.loadopts = o.loadopts,
			.initdata = initdata.p,
			.initdata_len = initdata.len,
		};
		if (snp) {
			/* QEMU hands SEV guests the unpatched kernel (and hashes that file). */
			in.qemu_patch = 0;
			ret = run_snp(&o, &in, &firmware, manifests, err) < 0 ? 2 : 0;
			goto out;
		}
		if (tdx && replay) {
			if (tdx_rtmrs(&in, o.tdx_legacy_separator, &tdx_r, err) < 0)
				goto out;
			prediction_tdx(&tdx_r, &pred);
		} else if (tdx) {
			ret = run_tdx(&o, &in, &firmware, manifests, &ref, err) < 0 ? 2 : 0;
			goto out;
		}
		if (!tdx && measure_compute(&in, &r, err) < 0)
			goto out;
		if (!tdx)
			prediction_tpm(&r, &pred);
		if (!replay) {
			if (!strcmp(o.format, "rvps")) {
				if (rvps_tpm(&r,
					     ref.have ? (const uint8_t(*)[EVLOG_MAX_DIGEST])ref.pcr
						      : NULL,
					     err) < 0)
					goto out;
			} else if (!strcmp(o.format, "kbs"))
				print_kbs(&r, &ref);
			else if (print_json(&o, &in, &r, &firmware, manifests, &ref, err) < 0)
				goto out;
			ret = 0;
			goto out;
		}
	}
	ret = measure_replay_main(&o, predict ? &pred : NULL, err);
out:
	if (fflush(stdout) != 0 && ret != 2) {
		measure_err(err, "write: %s", strerror(errno));
		ret = 2;
	}
	if (ret == 2)
		(void)fprintf(stderr, "sealpod-measure: %s\n", err);
	free(kernel.p);
	free(initrd.p);
	free(initdata.p);
	free(firmware.p);
	for (int i = 0; i < MAX_MANIFESTS; i++)
		free(manifests[i].p);
	return ret;
}
