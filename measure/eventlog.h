/* TCG2 crypto-agile event log parser and replay (TCG PC Client Platform Firmware Profile,
 * §10: the SHA1-format Spec ID event, then TCG_PCR_EVENT2 records). Reads what the guest
 * exposes as /sys/kernel/security/tpm0/binary_bios_measurements and the ACPI CCEL data of a
 * TDX guest (same format, the "PCR" field holding the MR index; padding 0xFF ends the log).
 *
 * The input is untrusted: every length is checked, counts are bounded, nothing is read past
 * the buffer. Fuzzed by tests/fuzz/fuzz_eventlog.c. Events point into the caller's buffer. */
#ifndef SEALPOD_EVENTLOG_H
#define SEALPOD_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#define EVLOG_MAX_ALGS	     8
#define EVLOG_MAX_DIGEST     64
#define EVLOG_NUM_PCRS	     24
#define EVLOG_MAX_EVENTS     16384
#define EVLOG_MAX_EVENT_DATA (16u << 20)

#define TPM_ALG_SHA1	0x0004
#define TPM_ALG_SHA256	0x000b
#define TPM_ALG_SHA384	0x000c
#define TPM_ALG_SHA512	0x000d
#define TPM_ALG_SM3_256 0x0012

struct evlog_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *bytes;
};

struct evlog_event {
	uint32_t pcr;
	uint32_t type;
	uint32_t ndigests;
	struct evlog_digest digests[EVLOG_MAX_ALGS];
	const uint8_t *data;
	uint32_t data_len;
	size_t offset; /* in the log, for messages */
};

struct evlog {
	uint32_t nalgs;
	struct {
		uint16_t alg, size;
	} algs[EVLOG_MAX_ALGS];
	uint8_t startup_locality; /* from a "StartupLocality" EV_NO_ACTION event; PCR0's start */
	size_t nevents;		  /* events after the Spec ID header */
	struct evlog_event *events;
};

/* Parses buf; on success log->events is heap memory (evlog_free). */
int evlog_parse(const uint8_t *buf, size_t len, struct evlog *log, char *err);
void evlog_free(struct evlog *log);

/* The digest of ev for alg, or NULL. */
const uint8_t *evlog_event_digest(const struct evlog_event *ev, uint16_t alg);

/* Replays every extended event (all but EV_NO_ACTION) of bank alg into regs (each register
 * holds digest-size bytes of EVLOG_MAX_DIGEST). *size gets the bank's digest size. */
int evlog_replay(const struct evlog *log, uint16_t alg,
		 uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST], unsigned *size, char *err);

/* "EV_SEPARATOR", …; "EV_UNKNOWN" for others. */
const char *evlog_type_name(uint32_t type);
/* "sha256", …; NULL for algorithms OpenSSL is not asked to do. */
const char *evlog_alg_name(uint16_t alg);

#endif
