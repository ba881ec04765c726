/* The image's User string resolved against its /etc/passwd and /etc/group (bytes from a
 * registry: untrusted). Input: user NUL passwd NUL group; a missing part is an unreadable file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *parts[3] = { NULL, NULL, NULL };
	struct sp_err err;
	uint32_t uid = 7, gid = 7;
	int n = 0, ret;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *p = buf; n < 3 && p <= buf + size; n++) {
		parts[n] = p;
		p += strlen(p) + 1;
	}
	ret = sp_image_user_db(parts[0], parts[1], parts[2], &uid, &gid, &err);
	/* What the resolver promises: 0, or -1 with a kind and a terminated message. */
	if (ret != 0 && (ret != -1 || (err.kind != SP_E_INVALID && err.kind != SP_E_PRECONDITION)))
		abort();
	if (ret < 0 && strnlen(err.msg, sizeof(err.msg)) >= sizeof(err.msg))
		abort();
	if (ret == 0 && (!parts[0] || !parts[0][0]) && (uid || gid))
		abort();
	free(buf);
	return 0;
}
