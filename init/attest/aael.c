/* The runtime event log in the Confidential Containers attestation agent's format (AAEL):
 * "<domain> <operation> <content>" lines, each wrapped as a TCG2 EV_EVENT_TAG event (tagged
 * event id "AAEL") and extended into the platform's runtime register before it is logged, so a
 * verifier that replays the log gets the register the quote signs:
 *   TDX   RTMR3 (CC event log MR index 4), sha384, through the kernel's measurement files
 *         (<dir>/rtmr3:sha384; Linux 6.16 and later; 6.12 has no way to extend an RTMR);
 *   vTPM  PCR 23, sha256. Not the agent's default PCR 17: the PC Client profile lets only
 *         localities 2-4 extend PCR 17, and the guest's kernel speaks at locality 0.
 * PID 1 holds the log in memory; the attestation worker gets it with A_GO (attest.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <protobuf-c/protobuf-c.h>

#include "attest/attest.h"
#include "attest/attest_int.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define EV_EVENT_TAG	     6u
#define AAEL_TAGGED_EVENT_ID 0x4141454cu /* "AAEL" */

static struct {
	enum sp_aael_register reg;
	char tdx_dir[160];
	char tpm_dev[64];
	uint8_t *buf;
	size_t len, cap, nevents;
} L;

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static bool field_ok(const char *s, bool spaces)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s > 0x7e || (unsigned char)*s < (spaces ? 0x20 : 0x21))
			return false;
	return true;
}

int sp_aael_check(const char *domain, const char *op, const char *content, struct sp_err *err)
{
	/* The AAEL rules: domain and operation printable without white space, content printable
	 * (so no line feed); Trustee splits an entry at its first two spaces. */
	if (!field_ok(domain, false) || !field_ok(op, false))
		return sp_error(err, 0,
				"runtime event: domain and operation must be printable "
				"ASCII without spaces");
	if (!field_ok(content, true))
		return sp_error(err, 0, "runtime event %s %s: content must be printable ASCII",
				domain, op);
	if (strlen(domain) + strlen(op) + strlen(content) + 2 > SP_AAEL_TEXT_MAX)
		return sp_error(err, 0, "runtime event %s %s: over %d bytes", domain, op,
				SP_AAEL_TEXT_MAX);
	return 0;
}

int sp_aael_entry(const char *domain, const char *op, const char *content, enum sp_hash h,
		  uint32_t mr, uint8_t **out, size_t *len, uint8_t digest[64], size_t *dlen,
		  struct sp_err *err)
{
	size_t tl, dl = 0, n;
	uint16_t alg = h == SP_HASH_SHA256 ? SP_TPM_ALG_SHA256 : SP_TPM_ALG_SHA384;
	cleanup_free uint8_t *b = NULL;
	uint8_t *data;

	*out = NULL;
	if (h != SP_HASH_SHA256 && h != SP_HASH_SHA384)
		return sp_error(err, 0, "runtime event: %s is not a register's hash",
				sp_hash_name(h));
	if (sp_aael_check(domain, op, content, err) < 0)
		return -1;
	tl = strlen(domain) + strlen(op) + strlen(content) + 2;
	n = 12 + 2 + 64 + 4 + 8 + tl + 1;
	if (!(b = malloc(n)))
		return sp_error(err, ENOMEM, "runtime event");
	/* The tagged event first (the digest covers it whole), then the header in front. */
	data = b + 12 + 2 + 64 + 4;
	wr32(data, AAEL_TAGGED_EVENT_ID);
	wr32(data + 4, (uint32_t)tl);
	(void)snprintf((char *)data + 8, tl + 1, "%s %s %s", domain, op, content);
	if (sp_hash_digest(h, data, 8 + tl, digest, &dl) < 0)
		return sp_error(err, 0, "runtime event: digest");
	wr32(b, mr);
	wr32(b + 4, EV_EVENT_TAG);
	wr32(b + 8, 1);
	b[12] = (uint8_t)alg, b[13] = (uint8_t)(alg >> 8);
	memcpy(b + 14, digest, dl);
	wr32(b + 14 + dl, (uint32_t)(8 + tl));
	memmove(b + 18 + dl, data, 8 + tl);
	*len = 18 + dl + 8 + tl;
	*dlen = dl;
	*out = steal_ptr(&b);
	return 0;
}

int sp_rtmr_extend_tdx(const char *dir, unsigned rtmr, const uint8_t d[48], struct sp_err *err)
{
	char path[224];
	cleanup_close int fd = -1;

	(void)snprintf(path, sizeof(path), "%s/rtmr%u:sha384", dir, rtmr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "open %s", path);
	if (write(fd, d, 48) != 48)
		return sp_error(err, errno, "extend %s", path);
	return 0;
}

void sp_aael_setup(enum sp_aael_register reg, const char *tdx_dir, const char *tpm_dev)
{
	free(L.buf);
	memset(&L, 0, sizeof(L));
	L.reg = reg;
	(void)snprintf(L.tdx_dir, sizeof(L.tdx_dir), "%s", tdx_dir ? tdx_dir : "");
	(void)snprintf(L.tpm_dev, sizeof(L.tpm_dev), "%s", tpm_dev ? tpm_dev : "");
}

enum sp_aael_register sp_aael_register(void)
{
	return L.reg;
}

static int extend(const uint8_t *d, struct sp_err *err)
{
	struct sp_tpm *t = NULL;
	int r;

	if (L.reg == SP_AAEL_RTMR3)
		return sp_rtmr_extend_tdx(L.tdx_dir, 3, d, err);
	if (sp_tpm_open(L.tpm_dev, &t, err) < 0)
		return -1;
	r = sp_tpm_extend_sha256(t, SP_AAEL_PCR, d, err);
	sp_tpm_close(t);
	return r;
}

int sp_aael_record(const char *domain, const char *op, const char *content, struct sp_err *err)
{
	uint8_t d[64], *e = NULL;
	size_t elen = 0, dlen = 0;
	bool tdx = L.reg == SP_AAEL_RTMR3;

	if (L.reg == SP_AAEL_NONE)
		return sp_error(err, 0, "runtime event %.64s: no runtime register on this machine",
				op ? op : "");
	if (sp_aael_entry(domain, op, content, tdx ? SP_HASH_SHA384 : SP_HASH_SHA256,
			  tdx ? 4 : SP_AAEL_PCR, &e, &elen, d, &dlen, err) < 0 ||
	    !e)
		return -1;
	if (L.len + elen > SP_EVLOG_MAX - SP_EVLOG_HEADER_MAX) {
		free(e);
		return sp_error(err, 0, "runtime event log is full (%zu bytes)", L.len);
	}
	if (L.len + elen > L.cap) {
		size_t cap = L.cap ? L.cap : 4096;
		uint8_t *nb;

		while (cap < L.len + elen)
			cap *= 2;
		if (!(nb = realloc(L.buf, cap))) {
			free(e);
			return sp_error(err, ENOMEM, "runtime event log");
		}
		L.buf = nb, L.cap = cap;
	}
	/* Room first, then the register: once extended, the entry is logged without fail. */
	if (extend(d, err) < 0) {
		free(e);
		return sp_error_wrap(err, "runtime event %s %s", domain, op);
	}
	memcpy(L.buf + L.len, e, elen);
	L.len += elen;
	L.nevents++;
	free(e);
	sp_info("attest", "runtime event %s %s extended into %s", domain, op,
		tdx ? "RTMR3" : "PCR23");
	return 0;
}

const uint8_t *sp_aael_bytes(size_t *len, size_t *nevents)
{
	*len = L.len;
	if (nevents)
		*nevents = L.nevents;
	return L.buf;
}

static bool ref_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._-/:@+", c);
}

int sp_attest_measure_image(const char *ref, const char *digest, struct sp_err *err)
{
	char content[SP_AAEL_TEXT_MAX - 64];

	if (L.reg == SP_AAEL_NONE)
		return 0;
	/* Both were parsed by the image module; held to the reference grammar again here, the
	 * content needs no JSON escaping and is canonical (RFC 8785: members sorted). */
	for (const char *p = ref; *p; p++)
		if (!ref_char(*p))
			return sp_error(err, 0, "runtime event PullImage: reference not loggable");
	for (const char *p = digest; *p; p++)
		if (!ref_char(*p))
			return sp_error(err, 0, "runtime event PullImage: digest not loggable");
	if ((size_t)snprintf(content, sizeof(content), "{\"digest\":\"%s\",\"image\":\"%s\"}",
			     digest, ref) >= sizeof(content))
		return sp_error(err, 0, "runtime event PullImage: reference too long");
	return sp_aael_record(SP_AAEL_DOMAIN_COCO, "PullImage", content, err);
}

int sp_attest_measure_policy(const struct ProtobufCMessage *form, struct sp_err *err)
{
	char hx[65], content[96];
	uint8_t d[64];
	size_t n, dl = 0;
	uint8_t *b;
	bool ok;

	if (L.reg == SP_AAEL_NONE)
		return 0;
	n = protobuf_c_message_get_packed_size(form);
	if (!(b = malloc(n ? n : 1)))
		return sp_error(err, ENOMEM, "runtime event SetPolicy");
	ok = protobuf_c_message_pack(form, b) == n &&
	     sp_hash_digest(SP_HASH_SHA256, b, n, d, &dl) == 0;
	free(b);
	if (!ok)
		return sp_error(err, 0, "runtime event SetPolicy: digest");
	sp_hex(d, 32, hx);
	(void)snprintf(content, sizeof(content), "{\"form_sha256\":\"%s\"}", hx);
	return sp_aael_record(SP_AAEL_DOMAIN_SEALPOD, "SetPolicy", content, err);
}
