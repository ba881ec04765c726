/* A pull worker's result as PID 1 decodes it (init/image/wire.c, sp_img_take over lib/frame.c),
 * and a metadata worker's as the pull worker does: frames from a process that parsed registry
 * bytes and may have been taken over. Input: a selector byte (bit 0: a metadata stream), then
 * the frames. A complete result becomes the pull's result as the completion hands it on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/stream.h"
#include "image/wire.h"

static void check_result(struct sp_meta *m)
{
	struct sp_pull_result r;

	sp_img_result(m, &r);
	if (!sp_digest_valid(r.digest) || !r.workdir || !r.user || !r.mnt_id)
		abort();
	if (r.user_ret != 0 && (r.user_ret != -1 || !r.user_err.msg[0]))
		abort();
	for (size_t i = 0; i < r.n_env; i++)
		if (!r.env[i] || strlen(r.env[i]) > SP_IMG_STR_MAX)
			abort();
	sp_pull_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sp_img_stream which;
	struct sp_frame_rx rx;
	struct sp_meta *m;
	struct sp_err err;
	const uint8_t *p;
	uint32_t type, len;
	int r = 0;

	if (size < 1)
		return 0;
	which = data[0] & 1 ? SP_IMG_META : SP_IMG_RESULT;
	m = calloc(1, sizeof(*m));
	if (!m ||
	    sp_frame_rx_init(&rx, which == SP_IMG_META ? &sp_img_meta_out : &sp_img_result_out,
			     true, &err) < 0) {
		free(m);
		return 0;
	}
	for (size_t off = 1; off < size && r == 0;) {
		size_t room = rx.max - (rx.end - rx.start), n = size - off;

		n = n < room ? n : room;
		if (sp_frame_rx_put(&rx, data + off, n) < 0)
			abort();
		off += n;
		while (r == 0 && (r = sp_frame_next(&rx, &type, &p, &len, &err)) == 1)
			r = sp_img_take(m, which, type, p, len, &err);
	}
	if (r == 1 && !m->failed) {
		if (which == SP_IMG_META && (!sp_digest_valid(m->config_digest) || !m->n))
			abort();
		if (which == SP_IMG_RESULT)
			check_result(m);
	}
	if (r == 1 && m->failed && !m->err.msg[0])
		abort();
	sp_frame_rx_free(&rx);
	sp_meta_free(m);
	free(m);
	return 0;
}
