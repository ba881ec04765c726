/* TPM 2.0 through the kernel's resource manager (/dev/tpmrm0), with our own marshalling of the
 * five commands we need (TPM 2.0 Library Part 3): PCR_Extend, PCR_Read, CreatePrimary, Quote,
 * FlushContext. Responses come from a device the host may emulate: every length is checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "attest/attest_int.h"

#define ST_NO_SESSIONS 0x8001
#define ST_SESSIONS    0x8002
#define CC_PCR_EXTEND  0x0182
#define CC_PCR_READ    0x017e
#define CC_CREATE_PRI  0x0131
#define CC_QUOTE       0x0158
#define CC_FLUSH       0x0165
#define RS_PW	       0x40000009
#define RH_ENDORSEMENT 0x4000000b
#define ALG_RSA	       0x0001
#define ALG_SHA256     0x000b
#define ALG_NULL       0x0010
#define ALG_RSASSA     0x0014
#define TPM_MAX	       4096

struct sp_tpm {
	int fd;
	uint32_t ak; /* transient handle of the AK, 0 when none */
};

struct mbuf {
	uint8_t b[TPM_MAX];
	size_t n;
	bool over;
};

static void put8(struct mbuf *m, uint8_t v)
{
	if (m->n + 1 > sizeof(m->b)) {
		m->over = true;
		return;
	}
	m->b[m->n++] = v;
}
static void put16(struct mbuf *m, uint16_t v)
{
	put8(m, (uint8_t)(v >> 8)), put8(m, (uint8_t)v);
}
static void put32(struct mbuf *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16)), put16(m, (uint16_t)v);
}
static void putn(struct mbuf *m, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(m, ((const uint8_t *)p)[i]);
}

static void begin(struct mbuf *m, uint16_t tag, uint32_t cc)
{
	m->n = 0, m->over = false;
	put16(m, tag), put32(m, 0), put32(m, cc);
}

/* The empty password session for one handle. */
static void pw_session(struct mbuf *m)
{
	put32(m, 9);
	put32(m, RS_PW), put16(m, 0), put8(m, 0), put16(m, 0);
}

/* A reader over a response. */
struct rd {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};
static uint32_t get(struct rd *r, unsigned n)
{
	uint32_t v = 0;
	if (r->off + n > r->n) {
		r->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | r->p[r->off++];
	return v;
}
static const uint8_t *getn(struct rd *r, size_t n)
{
	const uint8_t *p = r->p + r->off;
	if (r->off + n > r->n) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return p;
}

/* Sends m, reads the response into resp; returns its length, or -1 with err (also for a TPM
 * error code). */
static ssize_t transact(struct sp_tpm *t, struct mbuf *m, uint8_t *resp, size_t cap,
			const char *what, struct sp_err *err)
{
	struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
	ssize_t r;
	uint32_t size, rc;

	if (m->over)
		return sp_error(err, 0, "tpm %s: command too large", what);
	m->b[2] = (uint8_t)(m->n >> 24), m->b[3] = (uint8_t)(m->n >> 16),
	m->b[4] = (uint8_t)(m->n >> 8), m->b[5] = (uint8_t)m->n;
	do
		r = write(t->fd, m->b, m->n);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)m->n)
		return sp_error(err, r < 0 ? errno : EIO, "tpm %s: write", what);
	if (poll(&pfd, 1, 30000) <= 0)
		return sp_error(err, ETIMEDOUT, "tpm %s: no response", what);
	do
		r = read(t->fd, resp, cap);
	while (r < 0 && errno == EINTR);
	if (r < 10)
		return sp_error(err, r < 0 ? errno : EIO, "tpm %s: short response", what);
	memset(resp + r, 0, cap - (size_t)r); /* nothing past the response is ever read as data */
	size = (uint32_t)resp[2] << 24 | (uint32_t)resp[3] << 16 | (uint32_t)resp[4] << 8 | resp[5];
	rc = (uint32_t)resp[6] << 24 | (uint32_t)resp[7] << 16 | (uint32_t)resp[8] << 8 | resp[9];
	if (size != (uint32_t)r)
		return sp_error(err, 0, "tpm %s: response length %u != %zd", what, size, r);
	if (rc != 0)
		return sp_error(err, 0, "tpm %s: TPM error 0x%x", what, rc);
	return r;
}

int sp_tpm_open(const char *dev, struct sp_tpm **out, struct sp_err *err)
{
	struct sp_tpm *t = calloc(1, sizeof(*t));

	if (!t)
		return sp_error(err, ENOMEM, "tpm");
	t->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (t->fd < 0) {
		int e = errno;
		free(t);
		return sp_error(err, e, "open %s", dev);
	}
	*out = t;
	return 0;
}

void sp_tpm_close(struct sp_tpm *t)
{
	uint8_t resp[64] = { 0 };
	struct mbuf m;
	struct sp_err e;

	if (!t)
		return;
	if (t->ak) {
		begin(&m, ST_NO_SESSIONS, CC_FLUSH);
		put32(&m, t->ak);
		(void)transact(t, &m, resp, sizeof(resp), "flush", &e);
	}
	close(t->fd);
	free(t);
}

int sp_tpm_extend_sha256(struct sp_tpm *t, unsigned pcr, const uint8_t digest[32],
			 struct sp_err *err)
{
	struct mbuf m;
	uint8_t resp[64] = { 0 };

	begin(&m, ST_SESSIONS, CC_PCR_EXTEND);
	put32(&m, pcr);
	pw_session(&m);
	put32(&m, 1), put16(&m, ALG_SHA256), putn(&m, digest, 32);
	return transact(t, &m, resp, sizeof(resp), "PCR_Extend", err) < 0 ? -1 : 0;
}

static void pcr_select(struct mbuf *m, uint32_t mask)
{
	put32(m, 1), put16(m, ALG_SHA256), put8(m, 3);
	put8(m, (uint8_t)mask), put8(m, (uint8_t)(mask >> 8)), put8(m, (uint8_t)(mask >> 16));
}

int sp_tpm_pcr_read_sha256(struct sp_tpm *t, uint8_t pcrs[24][32], struct sp_err *err)
{
	uint32_t want = 0xffffff;

	for (int round = 0; want && round < 8; round++) {
		struct mbuf m;
		uint8_t resp[TPM_MAX] = { 0 };
		struct rd r;
		ssize_t n;
		uint32_t got = 0, cnt, ndig;

		begin(&m, ST_NO_SESSIONS, CC_PCR_READ);
		pcr_select(&m, want);
		n = transact(t, &m, resp, sizeof(resp), "PCR_Read", err);
		if (n < 0)
			return -1;
		r = (struct rd){ .p = resp, .n = (size_t)n, .off = 10 };
		get(&r, 4); /* update counter */
		cnt = get(&r, 4);
		for (uint32_t i = 0; i < cnt && !r.bad && i < 4; i++) {
			uint16_t alg = (uint16_t)get(&r, 2);
			unsigned sz = get(&r, 1);
			const uint8_t *sel = getn(&r, sz);
			if (sel && alg == ALG_SHA256)
				for (unsigned b = 0; b < sz && b < 3; b++)
					got |= (uint32_t)sel[b] << (8 * b);
		}
		got &= want;
		ndig = get(&r, 4);
		for (unsigned pcr = 0; pcr < 24 && !r.bad; pcr++) {
			if (!(got & (1u << pcr)))
				continue;
			if (ndig-- == 0 || get(&r, 2) != 32) {
				r.bad = true;
				break;
			}
			const uint8_t *d = getn(&r, 32);
			if (d)
				memcpy(pcrs[pcr], d, 32);
		}
		if (r.bad || got == 0)
			return sp_error(err, 0, "tpm PCR_Read: malformed response");
		want &= ~got;
	}
	return want ? sp_error(err, 0, "tpm PCR_Read: not every sha256 PCR returned") : 0;
}

static int spki_from_n(const uint8_t *n, size_t nlen, uint8_t **spki, size_t *spki_len,
		       struct sp_err *err)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new();
	unsigned char *der = NULL;
	int len = -1;

	if (bld && bn && be && BN_set_word(be, 65537) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) > 0)
		len = i2d_PUBKEY(pk, &der);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	if (len <= 0)
		return sp_error(err, 0, "tpm: cannot encode the AK public key");
	*spki = malloc((size_t)len);
	if (!*spki) {
		OPENSSL_free(der);
		return sp_error(err, ENOMEM, "tpm");
	}
	memcpy(*spki, der, (size_t)len);
	*spki_len = (size_t)len;
	OPENSSL_free(der);
	return 0;
}

int sp_tpm_create_ak(struct sp_tpm *t, uint8_t **spki, size_t *spki_len, struct sp_err *err)
{
	struct mbuf m;
	uint8_t resp[TPM_MAX] = { 0 };
	struct rd r;
	ssize_t n;
	size_t pub_start;
	uint16_t type, sz;
	const uint8_t *modulus;

	begin(&m, ST_SESSIONS, CC_CREATE_PRI);
	put32(&m, RH_ENDORSEMENT);
	pw_session(&m);
	put16(&m, 4), put16(&m, 0), put16(&m, 0); /* inSensitive: no auth, no data */
	pub_start = m.n;
	put16(&m, 0); /* inPublic size, patched below */
	put16(&m, ALG_RSA), put16(&m, ALG_SHA256);
	/* fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign */
	put32(&m, 0x00050072);
	put16(&m, 0);				      /* authPolicy */
	put16(&m, ALG_NULL);			      /* symmetric */
	put16(&m, ALG_RSASSA), put16(&m, ALG_SHA256); /* scheme */
	put16(&m, 2048), put32(&m, 0);		      /* keyBits, exponent (default) */
	put16(&m, 0);				      /* unique */
	sz = (uint16_t)(m.n - pub_start - 2);
	m.b[pub_start] = (uint8_t)(sz >> 8), m.b[pub_start + 1] = (uint8_t)sz;
	put16(&m, 0); /* outsideInfo */
	put32(&m, 0); /* creationPCR: none */
	n = transact(t, &m, resp, sizeof(resp), "CreatePrimary", err);
	if (n < 0)
		return -1;
	r = (struct rd){ .p = resp, .n = (size_t)n, .off = 10 };
	t->ak = get(&r, 4);
	get(&r, 4); /* parameterSize */
	get(&r, 2); /* outPublic size */
	type = (uint16_t)get(&r, 2);
	get(&r, 2), get(&r, 4);	    /* nameAlg, attributes */
	getn(&r, get(&r, 2));	    /* authPolicy */
	if (get(&r, 2) != ALG_NULL) /* symmetric */
		r.bad = true;
	if (get(&r, 2) == ALG_RSASSA)
		get(&r, 2);
	get(&r, 2), get(&r, 4); /* keyBits, exponent */
	sz = (uint16_t)get(&r, 2);
	modulus = getn(&r, sz);
	if (r.bad || type != ALG_RSA || !modulus || sz != 256)
		return sp_error(err, 0, "tpm CreatePrimary: malformed response");
	return spki_from_n(modulus, sz, spki, spki_len, err);
}

int sp_tpm_quote(struct sp_tpm *t, const uint8_t *qd, size_t qdlen, uint8_t **attest,
		 size_t *attest_len, uint8_t **sig, size_t *sig_len, struct sp_err *err)
{
	struct mbuf m;
	uint8_t resp[TPM_MAX] = { 0 };
	struct rd r;
	ssize_t n;
	uint16_t alen, slen;
	const uint8_t *a, *s;
	size_t sig_start;

	*attest = *sig = NULL;
	if (!t->ak)
		return sp_error(err, 0, "tpm Quote: no attestation key");
	if (qdlen > 32)
		qdlen = 32;
	begin(&m, ST_SESSIONS, CC_QUOTE);
	put32(&m, t->ak);
	pw_session(&m);
	put16(&m, (uint16_t)qdlen), putn(&m, qd, qdlen);
	put16(&m, ALG_RSASSA), put16(&m, ALG_SHA256);
	pcr_select(&m, 0xffffff);
	n = transact(t, &m, resp, sizeof(resp), "Quote", err);
	if (n < 0)
		return -1;
	r = (struct rd){ .p = resp, .n = (size_t)n, .off = 10 };
	get(&r, 4); /* parameterSize */
	alen = (uint16_t)get(&r, 2);
	a = getn(&r, alen);
	sig_start = r.off;
	if (get(&r, 2) != ALG_RSASSA || get(&r, 2) != ALG_SHA256)
		r.bad = true;
	slen = (uint16_t)get(&r, 2);
	s = getn(&r, slen);
	if (r.bad || !a || !s || alen == 0 || slen == 0)
		return sp_error(err, 0, "tpm Quote: malformed response");
	*attest = malloc(alen);
	*sig = malloc(6u + slen);
	if (!*attest || !*sig) {
		free(*attest), free(*sig);
		*attest = *sig = NULL;
		return sp_error(err, ENOMEM, "tpm");
	}
	memcpy(*attest, a, alen);
	*attest_len = alen;
	memcpy(*sig, resp + sig_start, 6u + slen);
	*sig_len = 6u + slen;
	return 0;
}
