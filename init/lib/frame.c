/* Frames between a process and its workers (worker.h): the header check against a table, the
 * typed error frame, a receive buffer that cuts a byte stream into checked frames, and blocking
 * sends for workers. Nothing here trusts the peer: a length is checked before a byte of the
 * payload is waited for, and a buffer never grows past what the table allows. */
#define _GNU_SOURCE
#include "lib/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HDR	     sizeof(struct sp_frame_hdr)
#define FIRST_BUFFER ((size_t)64 << 10)

static const struct sp_frame_type err_type = { SP_FRAME_ERR, sizeof(struct sp_frame_err),
					       sizeof(struct sp_frame_err) };

static const struct sp_frame_type *find(const struct sp_frame_table *t, uint32_t type)
{
	if (type == SP_FRAME_ERR)
		return &err_type;
	for (size_t i = 0; t && i < t->n; i++)
		if (t->types[i].type == type)
			return &t->types[i];
	return NULL;
}

int sp_frame_check(const struct sp_frame_table *t, const struct sp_frame_hdr *h, struct sp_err *err)
{
	const struct sp_frame_type *ft = find(t, h->type);

	if (!ft)
		return sp_fail(err, SP_E_INVALID, 0, "frame: unknown type %u", h->type);
	if (h->len < ft->min || h->len > ft->max || h->len > SP_FRAME_MAX)
		return sp_fail(err, SP_E_INVALID, 0,
			       "frame: type %u with %u bytes (%u to %u allowed)", h->type, h->len,
			       ft->min, ft->max);
	return 0;
}

/* --- the typed error frame --------------------------------------------------------------------- */

void sp_frame_err_encode(uint32_t ref, const struct sp_err *err, struct sp_frame_err *out)
{
	memset(out, 0, sizeof(*out));
	out->ref = ref;
	out->errnum = err->errnum;
	out->kind = err->kind;
	out->stage = err->stage;
	memcpy(out->msg, err->msg, sizeof(out->msg));
	out->msg[sizeof(out->msg) - 1] = '\0';
	memcpy(out->detail, err->detail, sizeof(out->detail));
	out->detail[sizeof(out->detail) - 1] = '\0';
}

/* A worker's text as it may be shown: every byte outside printable ASCII as \xNN. Honest text
 * (the worker escaped what it quoted already) passes unchanged, backslashes included. */
static void clean(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 <= cap; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f) {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
	}
	dst[o] = '\0';
}

int sp_frame_err_decode(const void *p, size_t len, uint32_t *ref, struct sp_err *err)
{
	struct sp_frame_err f;
	size_t ml, dl;

	memset(err, 0, sizeof(*err));
	if (len != sizeof(f))
		return sp_error(err, 0, "frame: an error frame of %zu bytes", len);
	memcpy(&f, p, sizeof(f));
	ml = strnlen(f.msg, sizeof(f.msg));
	dl = strnlen(f.detail, sizeof(f.detail));
	if (ml == 0 || ml == sizeof(f.msg) || dl == sizeof(f.detail) || f.kind > SP_E_UNSUPPORTED ||
	    f.stage >= SP_STAGE_COUNT)
		return sp_error(err, 0, "frame: a malformed error frame");
	*ref = f.ref;
	err->errnum = f.errnum >= 0 && f.errnum < 4096 ? f.errnum : 0;
	err->kind = f.kind;
	err->stage = f.stage;
	clean(err->msg, sizeof(err->msg), f.msg, ml);
	clean(err->detail, sizeof(err->detail), f.detail, dl);
	explicit_bzero(&f, sizeof(f));
	return 0;
}

/* --- the receive buffer ------------------------------------------------------------------------ */

int sp_frame_rx_init(struct sp_frame_rx *rx, const struct sp_frame_table *t, bool wipe,
		     struct sp_err *err)
{
	size_t max = sizeof(struct sp_frame_err);

	memset(rx, 0, sizeof(*rx));
	for (size_t i = 0; t && i < t->n; i++) {
		if (t->types[i].min > t->types[i].max || t->types[i].max > SP_FRAME_MAX ||
		    t->types[i].type == SP_FRAME_ERR)
			return sp_error(err, EINVAL, "frame: a bad table entry for type %u",
					t->types[i].type);
		if (t->types[i].max > max)
			max = t->types[i].max;
	}
	rx->t = t;
	rx->wipe = wipe;
	rx->max = HDR + max;
	rx->cap = rx->max < FIRST_BUFFER ? rx->max : FIRST_BUFFER;
	rx->buf = malloc(rx->cap);
	if (!rx->buf)
		return sp_error(err, ENOMEM, "frame: a receive buffer");
	return 0;
}

void sp_frame_rx_free(struct sp_frame_rx *rx)
{
	if (rx->buf && rx->wipe)
		explicit_bzero(rx->buf, rx->cap);
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = rx->start = rx->end = rx->wiped = 0;
}

/* Moves what is buffered to the front, wiping what it leaves behind. */
static void compact(struct sp_frame_rx *rx)
{
	size_t n = rx->end - rx->start;

	if (!rx->start)
		return;
	memmove(rx->buf, rx->buf + rx->start, n);
	if (rx->wipe)
		explicit_bzero(rx->buf + n, rx->end - n);
	rx->start = rx->wiped = 0;
	rx->end = n;
}

/* Room for want bytes from the front: compacted, grown up to rx->max. */
static int reserve(struct sp_frame_rx *rx, size_t want)
{
	uint8_t *nb;
	size_t cap;

	compact(rx);
	if (want <= rx->cap)
		return 0;
	if (want > rx->max)
		return -1;
	for (cap = rx->cap; cap < want; cap *= 2)
		;
	if (cap > rx->max)
		cap = rx->max;
	/* Not realloc: the old buffer may hold a secret that must not stay behind in freed memory. */
	nb = malloc(cap);
	if (!nb)
		return -1;
	memcpy(nb, rx->buf, rx->end);
	if (rx->wipe)
		explicit_bzero(rx->buf, rx->cap);
	free(rx->buf);
	rx->buf = nb;
	rx->cap = cap;
	return 0;
}

ssize_t sp_frame_rx_read(struct sp_frame_rx *rx, int fd)
{
	ssize_t n;

	if (rx->end == rx->cap) {
		compact(rx);
		if (rx->end == rx->cap && reserve(rx, rx->cap + 1) < 0)
			return errno = ENOBUFS, -1;
	}
	n = read(fd, rx->buf + rx->end, rx->cap - rx->end);
	if (n > 0)
		rx->end += (size_t)n;
	return n;
}

int sp_frame_rx_put(struct sp_frame_rx *rx, const void *p, size_t len)
{
	if (rx->end + len > rx->cap && reserve(rx, rx->end - rx->start + len) < 0)
		return -1;
	memcpy(rx->buf + rx->end, p, len);
	rx->end += len;
	return 0;
}

bool sp_frame_rx_partial(const struct sp_frame_rx *rx)
{
	return rx->end > rx->start;
}

int sp_frame_next(struct sp_frame_rx *rx, uint32_t *type, const uint8_t **p, uint32_t *len,
		  struct sp_err *err)
{
	struct sp_frame_hdr h;

	if (rx->wipe && rx->start > rx->wiped)
		explicit_bzero(rx->buf + rx->wiped, rx->start - rx->wiped); /* delivered before */
	rx->wiped = rx->start;
	if (rx->start == rx->end)
		rx->start = rx->end = rx->wiped = 0;
	if (rx->end - rx->start < HDR)
		return 0;
	memcpy(&h, rx->buf + rx->start, HDR);
	if (sp_frame_check(rx->t, &h, err) < 0)
		return -1;
	if (rx->end - rx->start < HDR + h.len) {
		if (rx->start + HDR + h.len > rx->cap && reserve(rx, HDR + h.len) < 0)
			return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "frame: a buffer for %u bytes",
				       h.len);
		return 0;
	}
	*type = h.type;
	*p = rx->buf + rx->start + HDR;
	*len = h.len;
	rx->start += HDR + h.len;
	return 1;
}

int sp_frame_recv(struct sp_frame_rx *rx, int fd, uint32_t *type, const uint8_t **p, uint32_t *len,
		  struct sp_err *err)
{
	for (;;) {
		int r = sp_frame_next(rx, type, p, len, err);
		ssize_t n;

		if (r != 0)
			return r;
		n = sp_frame_rx_read(rx, fd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sp_error(err, errno, "frame: read");
		if (n == 0)
			return sp_frame_rx_partial(rx)
				       ? sp_fail(err, SP_E_INVALID, 0, "frame: EOF inside a frame")
				       : 0;
	}
}

/* --- sending (blocking) ------------------------------------------------------------------------ */

int sp_frame_send(int fd, uint32_t type, const void *p, size_t len)
{
	struct sp_frame_hdr h = { type, (uint32_t)len };
	struct iovec iov[2] = { { &h, HDR }, { (void *)p, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (len > SP_FRAME_MAX)
		return errno = EMSGSIZE, -1;
	while (m.msg_iovlen) {
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		while (m.msg_iovlen && (size_t)n >= m.msg_iov->iov_len) {
			n -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + n;
			m.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int sp_frame_send_err(int fd, uint32_t ref, const struct sp_err *err)
{
	struct sp_frame_err f;
	int r;

	sp_frame_err_encode(ref, err, &f);
	r = sp_frame_send(fd, SP_FRAME_ERR, &f, sizeof(f));
	explicit_bzero(&f, sizeof(f));
	return r;
}
