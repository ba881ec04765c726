/* The sealpod-measure command line, shared by its two files: measure_main.c (the options, the
 * reference values, main) and replay_cli.c (the replay subcommand). Not part of the library that
 * unit tests and fuzzers link (Makefile, MEASURE_LIB_SRCS). */
#ifndef SEALPOD_MEASURE_CLI_H
#define SEALPOD_MEASURE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"
#include "measure.h"
#include "tee.h"

#define MAX_MANIFESTS 8

struct buf {
	uint8_t *p;
	size_t len;
};

struct opts {
	const char *kernel, *initrd, *cmdline, *initdata, *firmware, *eventlog, *format, *bank;
	const char *reference_log;
	const char *manifests[MAX_MANIFESTS];
	int nmanifests;
	uint64_t mem;
	int has_mem, qemu_patch;
	enum loadopts_mode loadopts;
	const char *tee, *vmm, *vcpu_type;
	unsigned vcpus;
	uint32_t vcpu_sig;
	uint64_t guest_features;
	enum tdx_page_order page_order;
	int tdx_legacy_separator;
};

/* What replay compares a log with: the vTPM PCR4/5/9 events (sha256) or the TDX RTMR1/RTMR2
 * events (sha384, CCEL MR index 2 and 3). */
#define PRED_MAX_EVENTS (MEASURE_MAX_EVENTS > TDX_MAX_EVENTS ? MEASURE_MAX_EVENTS : TDX_MAX_EVENTS)
struct prediction {
	uint16_t alg;
	unsigned size;
	size_t nregs;
	uint32_t regs[3];
	const uint8_t *want[3];
	size_t n;
	struct {
		uint32_t reg, type;
		const uint8_t *digest;
		const char *what;
	} ev[PRED_MAX_EVENTS];
};

/* The prediction for replay from the vTPM's or the TDX reference values (replay_cli.c). */
void prediction_tpm(const struct measure_result *r, struct prediction *p);
void prediction_tdx(const struct tdx_result *r, struct prediction *p);
/* The whole of a regular file of at most 2 GiB (b->p malloc'd). */
int read_file(const char *path, struct buf *b, char *err);
/* s as a quoted JSON string on stdout. */
void json_str(const char *s, size_t n);
/* replay (replay_cli.c): pred is NULL without --kernel. Exit status 0 when everything matches, 1
 * when something differs, 2 on errors. */
int measure_replay_main(const struct opts *o, const struct prediction *pred, char *err);

/* --format rvps (rvps.c): the reference values as a Trustee RVPS "sample" message on stdout.
 * A value whose v is NULL is left out. */
struct rvps_value {
	const char *name;
	const uint8_t *v;
	size_t len;
};
int rvps_print(const struct rvps_value *v, size_t n, char *err);
/* mrtd and rtmr0 may be NULL (no --firmware, no --reference-log). */
int rvps_tdx(const struct tdx_result *r, const uint8_t *mrtd, const uint8_t *rtmr0, char *err);
/* fw: the firmware PCRs replayed from --reference-log, or NULL. */
int rvps_tpm(const struct measure_result *r, const uint8_t (*fw)[EVLOG_MAX_DIGEST], char *err);

#endif
