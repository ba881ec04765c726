/* Arbitrary bytes as a layer blob (registry-controlled, untrusted): the first byte picks the
 * compression and the chunk size the bytes are pushed in; the rest goes through the digesting
 * decompressor into the tar reader. Every entry that comes out must be what the applier
 * re-checks: a normalised path, a bounded link, consistent sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/stream.h"
#include "image/tar.h"

static uint64_t file_left;

static int on_entry(void *arg, const struct sp_tar_entry *e, struct sp_err *err)
{
	if (!sp_tar_path_ok(e->path) || strlen(e->link) > SP_TAR_PATH_MAX)
		abort();
	if (e->kind == SP_TAR_HARDLINK && (!sp_tar_path_ok(e->link) || !e->link[0]))
		abort();
	if (e->path[0] == '\0' && e->kind != SP_TAR_DIR && e->kind != SP_TAR_OPAQUE)
		abort();
	if (e->kind != SP_TAR_FILE && e->size)
		abort();
	if (e->mode & ~07777u || e->xattrs_len > SP_TAR_XATTRS_MAX)
		abort();
	if (file_left)
		abort(); /* the previous file's data was not delivered in full */
	file_left = e->size;
	return 0;
}

static int on_data(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (len > file_left)
		abort();
	file_left -= len;
	return 0;
}

static const struct sp_tar_ops ops = { on_entry, on_data };

static int to_tar(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	return sp_tar_feed(arg, buf, len, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_tar_limits lim;
	struct sp_tar *t;
	struct sp_stream *s;
	struct sp_err err;
	char b[SP_DIGEST_LEN + 1], d[SP_DIGEST_LEN + 1];
	enum sp_compress c;
	size_t chunk;

	if (size < 1)
		return 0;
	c = (enum sp_compress)(data[0] % 3);
	chunk = 1 + (size_t)(data[0] >> 2) * 37;
	data++, size--;
	sp_tar_limits_default(&lim);
	lim.max_total = 16 << 20;
	lim.max_pax = 1 << 16;
	file_left = 0;
	t = sp_tar_new(&lim, &ops, NULL);
	s = sp_stream_new(c, lim.max_total, to_tar, t);
	if (!t || !s)
		abort();
	while (size) {
		size_t n = size < chunk ? size : chunk;

		if (sp_stream_feed(s, data, n, &err) < 0)
			break;
		data += n;
		size -= n;
	}
	if (!size && sp_stream_finish(s, b, d, &err) == 0 && sp_tar_finish(t, &err) == 0 &&
	    file_left)
		abort(); /* a complete archive cannot end inside a file */
	sp_stream_free(s);
	sp_tar_free(t);
	return 0;
}
