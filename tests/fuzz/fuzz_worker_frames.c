/* The frames PID 1 reads from its workers (init/lib/frame.c): a byte stream from a worker that
 * may have been taken over, cut against the table of the worker it claims to be (the
 * attestation worker, the storage worker, the pull worker), every typed error frame decoded.
 * Input: a selector byte (which table, whether buffers are wiped, how large each read is), then
 * the stream, fed in reads of that size so that frames split across them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "image/image.h"
#include "lib/worker.h"
#include "storage/storage.h"

static void check_err(const uint8_t *p, uint32_t len)
{
	struct sp_err err;
	uint32_t ref;
	size_t n;

	if (sp_frame_err_decode(p, len, &ref, &err) < 0)
		return;
	/* What reaches a log line or a reply: terminated, printable, kind and stage in range. */
	n = strnlen(err.msg, sizeof(err.msg));
	if (n == sizeof(err.msg) || strnlen(err.detail, sizeof(err.detail)) == sizeof(err.detail))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)err.msg[i] < 0x20 || (unsigned char)err.msg[i] >= 0x7f)
			abort();
	if (err.kind > SP_E_UNSUPPORTED || err.stage >= SP_STAGE_COUNT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sp_frame_table *tables[] = { &sp_attest_worker.out, &sp_storage_worker.out,
						  &sp_pull_worker.out };
	struct sp_frame_rx rx;
	struct sp_err err;
	size_t chunk, off = 1;
	int r = 0;

	if (size < 1)
		return 0;
	chunk = 1 + (size_t)(data[0] >> 3) * 97;
	if (sp_frame_rx_init(&rx, tables[data[0] % 3], data[0] & 4, &err) < 0)
		return 0;
	while (off < size && r >= 0) {
		size_t room = rx.max -
			      (rx.end - rx.start); /* >= 1: what is buffered is a partial frame */
		size_t n = size - off < chunk ? size - off : chunk;
		const uint8_t *p;
		uint32_t type, len;

		n = n < room ? n : room;
		if (sp_frame_rx_put(&rx, data + off, n) < 0)
			abort(); /* room was left for it */
		off += n;
		while ((r = sp_frame_next(&rx, &type, &p, &len, &err)) == 1) {
			struct sp_frame_hdr h = { type, len };

			if (sp_frame_check(rx.t, &h, &err) < 0)
				abort(); /* delivered, so it must be within its type's bounds */
			if (type == SP_FRAME_ERR)
				check_err(p, len);
		}
	}
	if (r < 0 && !err.msg[0])
		abort(); /* a refusal says why */
	sp_frame_rx_free(&rx);
	return 0;
}
