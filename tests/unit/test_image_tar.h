/* A tiny tar writer for the image tests: ustar headers, PAX records, GNU long names, raw
 * (deliberately broken) headers. Written for tests only, from the POSIX ustar layout. */
#ifndef SEALPOD_TEST_IMAGE_TAR_H
#define SEALPOD_TEST_IMAGE_TAR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tb {
	uint8_t *buf;
	size_t len, cap;
};

static inline void tb_grow(struct tb *t, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 4096;
		t->buf = realloc(t->buf, t->cap);
	}
}

static inline void tb_put(struct tb *t, const void *d, size_t n)
{
	tb_grow(t, n);
	memcpy(t->buf + t->len, d, n);
	t->len += n;
}

static inline void tb_pad(struct tb *t)
{
	static const uint8_t z[512];

	if (t->len % 512)
		tb_put(t, z, 512 - t->len % 512);
}

/* A header; name/link copied into their 100-byte fields (truncated). */
static inline void tb_hdr(struct tb *t, const char *name, char type, const char *link,
			  unsigned long long size, unsigned mode)
{
	uint8_t h[512] = { 0 };
	unsigned sum = 0;

	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (uint8_t)type;
	if (link)
		strncpy((char *)h + 157, link, 100);
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	tb_put(t, h, 512);
}

static inline void tb_file(struct tb *t, const char *name, const char *data)
{
	tb_hdr(t, name, '0', NULL, strlen(data), 0644);
	tb_put(t, data, strlen(data));
	tb_pad(t);
}

/* A PAX 'x' header with records "key=value" (value may hold any bytes but NUL here). */
static inline void tb_pax(struct tb *t, const char *key, const char *value)
{
	char rec[8192];
	size_t body = strlen(key) + strlen(value) + 3, len = body + 1;

	/* the length counts its own digits */
	while ((size_t)snprintf(NULL, 0, "%zu", len) + body != len)
		len++;
	snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, value);
	tb_hdr(t, "PaxHeader", 'x', NULL, strlen(rec), 0644);
	tb_put(t, rec, strlen(rec));
	tb_pad(t);
}

static inline void tb_end(struct tb *t)
{
	static const uint8_t z[1024];

	tb_put(t, z, 1024);
}

#endif
