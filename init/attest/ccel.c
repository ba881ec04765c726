/* The confidential-computing event log (CCEL): the firmware's TCG2 crypto-agile log that a TDX
 * guest finds in the ACPI CCEL data table, walked with every length checked (the bytes are the
 * firmware's, which a modified VM configuration controls), and the log sent as the evidence's
 * cc_eventlog: the firmware's events without their padding, then ours (aael.c), then the
 * 8-byte 0xFF end flag Trustee's parser stops at. Fuzzed by tests/fuzz/fuzz_ccel.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "lib/cleanup.h"

#define EV_NO_ACTION 3u

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The "Spec ID Event03" header: which digests every later event carries, and their sizes. */
static int spec_id(const uint8_t *p, size_t len, struct sp_evlog_info *in, struct sp_err *err)
{
	uint32_t size, n;

	if (len < 32 || rd32(p + 4) != EV_NO_ACTION)
		return sp_error(err, 0, "event log: no TCG2 Spec ID event at offset 0");
	size = rd32(p + 28);
	if (size > len - 32 || size < 29 || memcmp(p + 32, "Spec ID Event03", 16) != 0)
		return sp_error(err, 0, "event log: the first event is not \"Spec ID Event03\"");
	p += 32;
	n = rd32(p + 24);
	if (n == 0 || n > SP_EVLOG_MAX_ALGS || 28 + 4 * (size_t)n + 1 > size)
		return sp_error(err, 0, "event log: Spec ID event lists %u algorithms", n);
	for (uint32_t i = 0; i < n; i++) {
		in->algs[i] = rd16(p + 28 + 4 * (size_t)i);
		in->sizes[i] = rd16(p + 30 + 4 * (size_t)i);
		if (in->sizes[i] == 0 || in->sizes[i] > 64)
			return sp_error(err, 0, "event log: algorithm 0x%x with a %u-byte digest",
					in->algs[i], in->sizes[i]);
		for (uint32_t j = 0; j < i; j++)
			if (in->algs[j] == in->algs[i])
				return sp_error(err, 0, "event log: algorithm 0x%x listed twice",
						in->algs[i]);
	}
	in->nalgs = n;
	if (28 + 4 * (size_t)n + 1 + p[28 + 4 * (size_t)n] != size)
		return sp_error(err, 0, "event log: Spec ID event of %u bytes is inconsistent",
				size);
	in->header_len = 32 + (size_t)size;
	return 0;
}

static unsigned alg_size(const struct sp_evlog_info *in, uint16_t alg)
{
	for (unsigned i = 0; i < in->nalgs; i++)
		if (in->algs[i] == alg)
			return in->sizes[i];
	return 0;
}

/* One TCG_PCR_EVENT2 at p (avail bytes): its length in *n, handed to cb when there is one. */
static int event2(const uint8_t *p, size_t avail, size_t off, const struct sp_evlog_info *in,
		  sp_evlog_cb cb, void *ctx, size_t *n, struct sp_err *err)
{
	struct sp_evlog_event ev = { 0 };
	size_t at = 12;

	if (avail < 12)
		return sp_error(err, 0, "event log: truncated event at %zu", off);
	ev.mr = rd32(p);
	ev.type = rd32(p + 4);
	ev.ndigests = rd32(p + 8);
	if (ev.ndigests > in->nalgs)
		return sp_error(err, 0, "event log: %u digests at %zu", ev.ndigests, off);
	for (uint32_t i = 0; i < ev.ndigests; i++) {
		unsigned sz;

		if (avail - at < 2)
			return sp_error(err, 0, "event log: truncated digest at %zu", off);
		ev.alg[i] = rd16(p + at);
		sz = alg_size(in, ev.alg[i]);
		for (uint32_t j = 0; j < i; j++)
			if (ev.alg[j] == ev.alg[i])
				sz = 0;
		if (!sz)
			return sp_error(err, 0, "event log: digest algorithm 0x%x at %zu",
					ev.alg[i], off);
		at += 2;
		if (avail - at < sz)
			return sp_error(err, 0, "event log: truncated digest at %zu", off);
		ev.digest[i] = p + at;
		ev.dsize[i] = (uint16_t)sz;
		at += sz;
	}
	if (avail - at < 4)
		return sp_error(err, 0, "event log: truncated event size at %zu", off);
	ev.data_len = rd32(p + at);
	at += 4;
	if (ev.data_len > avail - at)
		return sp_error(err, 0, "event log: event data of %u bytes at %zu overruns the log",
				ev.data_len, off);
	ev.data = p + at;
	*n = at + ev.data_len;
	return cb ? cb(&ev, ctx, err) : 0;
}

static bool end_flag(const uint8_t *p, size_t avail)
{
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[8];

	return avail < 8 ? false : !memcmp(p, ff, 8) || !memcmp(p, zero, 8);
}

int sp_evlog_walk(const uint8_t *p, size_t len, sp_evlog_cb cb, void *ctx, struct sp_evlog_info *in,
		  struct sp_err *err)
{
	size_t off;

	memset(in, 0, sizeof(*in));
	if (spec_id(p, len, in, err) < 0)
		return -1;
	/* The log ends at the buffer's end, or where an 8-byte run of 0xFF (the CCEL's unused
	 * area) or of zeros stands in place of the next event: Trustee's parser stops there. */
	for (off = in->header_len; off < len && !end_flag(p + off, len - off);) {
		size_t n = 0;

		if (in->nevents == SP_EVLOG_MAX_EVENTS)
			return sp_error(err, 0, "event log: more than %d events",
					SP_EVLOG_MAX_EVENTS);
		if (event2(p + off, len - off, off, in, cb, ctx, &n, err) < 0)
			return -1;
		off += n;
		in->nevents++;
	}
	in->len = off;
	return 0;
}

/* A Spec ID header listing one algorithm: the log's start when the firmware left no CCEL. */
static size_t spec_header(uint16_t alg, uint16_t size, uint8_t out[SP_EVLOG_HEADER_MAX])
{
	/* signature, platformClass, versions and uintnSize, numberOfAlgorithms, one algorithm,
	 * vendorInfoSize (0) */
	const size_t data = 16 + 4 + 4 + 4 + 4 + 1;

	memset(out, 0, 32 + data);
	wr32(out + 4, EV_NO_ACTION);
	wr32(out + 28, (uint32_t)data);
	memcpy(out + 32, "Spec ID Event03", 16);
	wr32(out + 32 + 16 + 4, 0x00000200); /* specVersion 2.0, errata 0 */
	out[32 + 16 + 7] = 2;		     /* uintnSize: UINT64 */
	wr32(out + 32 + 24, 1);
	out[32 + 28] = (uint8_t)alg, out[32 + 29] = (uint8_t)(alg >> 8);
	out[32 + 30] = (uint8_t)size, out[32 + 31] = (uint8_t)(size >> 8);
	return 32 + data;
}

int sp_evlog_compose(const uint8_t *ccel, size_t ccel_len, uint16_t alg, const uint8_t *events,
		     size_t events_len, uint8_t **out, size_t *out_len, struct sp_err *err)
{
	struct sp_evlog_info in;
	uint8_t hdr[SP_EVLOG_HEADER_MAX];
	const uint8_t *head = hdr;
	size_t head_len, dsize = alg == SP_TPM_ALG_SHA256 ? 32 : 48;
	uint8_t *b;

	*out = NULL;
	*out_len = 0;
	if (ccel && ccel_len) {
		if (sp_evlog_walk(ccel, ccel_len, NULL, NULL, &in, err) < 0)
			return sp_error_wrap(err, "CCEL");
		if (events_len && alg_size(&in, alg) != dsize)
			return sp_error(err, 0, "CCEL: no 0x%x digests for the runtime events",
					alg);
		head = ccel, head_len = in.len;
	} else {
		head_len = spec_header(alg, (uint16_t)dsize, hdr);
	}
	if (events_len > SP_EVLOG_MAX || head_len > SP_EVLOG_MAX)
		return sp_error(err, 0, "event log of %zu + %zu bytes is too large", head_len,
				events_len);
	b = malloc(head_len + events_len + 8);
	if (!b)
		return sp_error(err, ENOMEM, "event log");
	memcpy(b, head, head_len);
	if (events_len)
		memcpy(b + head_len, events, events_len);
	memset(b + head_len + events_len, 0xff, 8);
	*out = b;
	*out_len = head_len + events_len + 8;
	return 0;
}

int sp_ccel_read(const char *path, uint8_t **out, size_t *len, struct sp_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free uint8_t *b = NULL;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : sp_error(err, errno, "open %s", path);
	if (!(b = malloc(SP_EVLOG_MAX)))
		return sp_error(err, ENOMEM, "%s", path);
	for (;;) {
		ssize_t r = read(fd, b + got, SP_EVLOG_MAX - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sp_error(err, errno, "read %s", path);
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == SP_EVLOG_MAX)
			return sp_error(err, 0, "%s is over %zu bytes", path, SP_EVLOG_MAX);
	}
	*out = steal_ptr(&b);
	*len = got;
	return 0;
}
