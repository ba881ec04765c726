/* TCG2 crypto-agile event log: bounded parser and replay (see eventlog.h). */
#include "eventlog.h"

#include "measure.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A cursor over the untrusted bytes: take() fails instead of reading past the end. */
struct cur {
	const uint8_t *buf;
	size_t len, off;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	if (n > c->len - c->off)
		return NULL;
	const uint8_t *p = c->buf + c->off;
	c->off += n;
	return p;
}

static int spec_id(struct cur *c, struct evlog *log, char *err)
{
	const uint8_t *h = take(c, 32);
	if (!h)
		return measure_err(err, "event log: truncated first event");
	uint32_t type = rd32(h + 4), size = rd32(h + 28);
	const uint8_t *d = take(c, size);
	if (type != EV_NO_ACTION || !d || size < 29 || memcmp(d, "Spec ID Event03\0", 16) != 0)
		return measure_err(err, "event log: first event is not a TCG2 \"Spec ID Event03\" "
					"(not a crypto-agile log)");
	uint32_t nalgs = rd32(d + 24);
	if (nalgs == 0 || nalgs > EVLOG_MAX_ALGS || (uint64_t)28 + 4ull * nalgs + 1 > size)
		return measure_err(err, "event log: Spec ID event with %u algorithms", nalgs);
	for (uint32_t i = 0; i < nalgs; i++) {
		uint16_t alg = rd16(d + 28 + 4 * (size_t)i), dsize = rd16(d + 30 + 4 * (size_t)i);
		if (dsize == 0 || dsize > EVLOG_MAX_DIGEST)
			return measure_err(err, "event log: algorithm 0x%x with digest size %u",
					   alg, dsize);
		for (uint32_t j = 0; j < i; j++)
			if (log->algs[j].alg == alg)
				return measure_err(err, "event log: algorithm 0x%x listed twice",
						   alg);
		log->algs[i].alg = alg;
		log->algs[i].size = dsize;
	}
	log->nalgs = nalgs;
	uint8_t vendor = d[28 + 4 * nalgs];
	if ((uint64_t)28 + 4ull * nalgs + 1 + vendor != size)
		return measure_err(err, "event log: Spec ID event size %u inconsistent", size);
	return 0;
}

static int event2(struct cur *c, const struct evlog *log, struct evlog_event *ev, char *err)
{
	ev->offset = c->off;
	const uint8_t *h = take(c, 12);
	if (!h)
		return measure_err(err, "event log: truncated event header at %zu", ev->offset);
	ev->pcr = rd32(h);
	ev->type = rd32(h + 4);
	ev->ndigests = rd32(h + 8);
	if (ev->pcr >= EVLOG_NUM_PCRS)
		return measure_err(err, "event log: PCR index %u at %zu", ev->pcr, ev->offset);
	if (ev->ndigests > log->nalgs)
		return measure_err(err, "event log: %u digests at %zu (log has %u algorithms)",
				   ev->ndigests, ev->offset, log->nalgs);
	for (uint32_t i = 0; i < ev->ndigests; i++) {
		const uint8_t *a = take(c, 2);
		if (!a)
			return measure_err(err, "event log: truncated digest at %zu", ev->offset);
		uint16_t alg = rd16(a), size = 0;
		for (uint32_t j = 0; j < log->nalgs; j++)
			if (log->algs[j].alg == alg)
				size = log->algs[j].size;
		for (uint32_t j = 0; j < i; j++)
			if (ev->digests[j].alg == alg)
				size = 0;
		if (!size)
			return measure_err(err,
					   "event log: unexpected digest algorithm 0x%x at %zu",
					   alg, ev->offset);
		ev->digests[i].alg = alg;
		ev->digests[i].size = size;
		if (!(ev->digests[i].bytes = take(c, size)))
			return measure_err(err, "event log: truncated digest at %zu", ev->offset);
	}
	const uint8_t *s = take(c, 4);
	if (!s)
		return measure_err(err, "event log: truncated event size at %zu", ev->offset);
	ev->data_len = rd32(s);
	if (ev->data_len > EVLOG_MAX_EVENT_DATA || !(ev->data = take(c, ev->data_len)))
		return measure_err(err, "event log: event data of %u bytes at %zu overruns the log",
				   ev->data_len, ev->offset);
	return 0;
}

/* The log ends at the buffer's end or at padding: a CCEL table is 0xFF-filled after the last
 * event; some firmware leaves zeros. Where the rest of the buffer is one run of 0xFF or 0x00
 * bytes, that is padding, not an event. Found once from the end, so parsing stays linear. */
static size_t padding_start(const uint8_t *buf, size_t len)
{
	if (len == 0 || (buf[len - 1] != 0xff && buf[len - 1] != 0x00))
		return len;
	size_t i = len - 1;
	while (i > 0 && buf[i - 1] == buf[len - 1])
		i--;
	return i;
}

int evlog_parse(const uint8_t *buf, size_t len, struct evlog *log, char *err)
{
	memset(log, 0, sizeof(*log));
	struct cur c = { buf, len, 0 };
	if (spec_id(&c, log, err) < 0)
		return -1;
	size_t cap = 0, pad = padding_start(buf, len);
	while (c.off < c.len && c.off < pad) {
		if (log->nevents == EVLOG_MAX_EVENTS) {
			evlog_free(log);
			return measure_err(err, "event log: more than %d events", EVLOG_MAX_EVENTS);
		}
		if (log->nevents == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct evlog_event *n = realloc(log->events, ncap * sizeof(*n));
			if (!n) {
				evlog_free(log);
				return measure_err(err, "event log: out of memory");
			}
			log->events = n;
			cap = ncap;
		}
		struct evlog_event *ev = &log->events[log->nevents];
		memset(ev, 0, sizeof(*ev));
		if (event2(&c, log, ev, err) < 0) {
			evlog_free(log);
			return -1;
		}
		if (ev->type == EV_NO_ACTION && ev->pcr == 0 && ev->data_len == 17 &&
		    memcmp(ev->data, "StartupLocality\0", 16) == 0)
			log->startup_locality = ev->data[16];
		log->nevents++;
	}
	return 0;
}

void evlog_free(struct evlog *log)
{
	free(log->events);
	log->events = NULL;
	log->nevents = 0;
}

const uint8_t *evlog_event_digest(const struct evlog_event *ev, uint16_t alg)
{
	for (uint32_t i = 0; i < ev->ndigests; i++)
		if (ev->digests[i].alg == alg)
			return ev->digests[i].bytes;
	return NULL;
}

const char *evlog_alg_name(uint16_t alg)
{
	switch (alg) {
	case TPM_ALG_SHA1:
		return "sha1";
	case TPM_ALG_SHA256:
		return "sha256";
	case TPM_ALG_SHA384:
		return "sha384";
	case TPM_ALG_SHA512:
		return "sha512";
	default:
		return NULL;
	}
}

int evlog_replay(const struct evlog *log, uint16_t alg,
		 uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST], unsigned *size, char *err)
{
	const char *name = evlog_alg_name(alg);
	const EVP_MD *md = name ? EVP_get_digestbyname(name) : NULL;
	if (!md)
		return measure_err(err, "replay: unsupported algorithm 0x%x", alg);
	unsigned dsize = (unsigned)EVP_MD_get_size(md);
	int listed = 0;
	for (uint32_t j = 0; j < log->nalgs; j++)
		if (log->algs[j].alg == alg && log->algs[j].size == dsize)
			listed = 1;
	if (!listed)
		return measure_err(err, "replay: the log has no %s bank", name);
	memset(regs, 0, sizeof(uint8_t[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST]));
	regs[0][dsize - 1] = log->startup_locality;
	*size = dsize;
	for (size_t i = 0; i < log->nevents; i++) {
		const struct evlog_event *ev = &log->events[i];
		if (ev->type == EV_NO_ACTION)
			continue;
		const uint8_t *d = evlog_event_digest(ev, alg);
		if (!d)
			return measure_err(err, "replay: event %zu (offset %zu) has no %s digest",
					   i, ev->offset, name);
		uint8_t *r = regs[ev->pcr];
		unsigned outlen;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
			 EVP_DigestUpdate(ctx, r, dsize) == 1 &&
			 EVP_DigestUpdate(ctx, d, dsize) == 1 &&
			 EVP_DigestFinal_ex(ctx, r, &outlen) == 1;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return measure_err(err, "replay: digest failed");
	}
	return 0;
}

const char *evlog_type_name(uint32_t type)
{
	static const struct {
		uint32_t type;
		const char *name;
	} names[] = {
		{ 0x0, "EV_PREBOOT_CERT" },
		{ 0x1, "EV_POST_CODE" },
		{ 0x3, "EV_NO_ACTION" },
		{ 0x4, "EV_SEPARATOR" },
		{ 0x5, "EV_ACTION" },
		{ 0x6, "EV_EVENT_TAG" },
		{ 0x7, "EV_S_CRTM_CONTENTS" },
		{ 0x8, "EV_S_CRTM_VERSION" },
		{ 0x9, "EV_CPU_MICROCODE" },
		{ 0xa, "EV_PLATFORM_CONFIG_FLAGS" },
		{ 0xb, "EV_TABLE_OF_DEVICES" },
		{ 0xc, "EV_COMPACT_HASH" },
		{ 0xd, "EV_IPL" },
		{ 0xe, "EV_IPL_PARTITION_DATA" },
		{ 0xf, "EV_NONHOST_CODE" },
		{ 0x10, "EV_NONHOST_CONFIG" },
		{ 0x11, "EV_NONHOST_INFO" },
		{ 0x12, "EV_OMIT_BOOT_DEVICE_EVENTS" },
		{ 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
		{ 0x80000002, "EV_EFI_VARIABLE_BOOT" },
		{ 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
		{ 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
		{ 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
		{ 0x80000006, "EV_EFI_GPT_EVENT" },
		{ 0x80000007, "EV_EFI_ACTION" },
		{ 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
		{ 0x80000009, "EV_EFI_HANDOFF_TABLES" },
		{ 0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
		{ 0x8000000b, "EV_EFI_HANDOFF_TABLES2" },
		{ 0x80000010, "EV_EFI_HCRTM_EVENT" },
		{ 0x800000e0, "EV_EFI_VARIABLE_AUTHORITY" },
		{ 0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
		{ 0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	return "EV_UNKNOWN";
}
