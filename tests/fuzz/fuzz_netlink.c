/* Arbitrary bytes as a netlink reply: every message is walked and parsed as each object kind
 * the handlers read (link, address, route) and as an error with extended-ack attributes. */
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1); /* aligned copy, as the receive buffer is */
	const struct nlmsghdr *h;
	size_t off = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while (sp_nl_next(buf, size, &off, &h, NULL) > 0) {
		struct sp_nl_link l;
		struct sp_nl_addr a;
		struct sp_nl_route r;
		char text[64];
		int e;

		(void)sp_nl_parse_link(h, &l, NULL);
		(void)sp_nl_parse_addr(h, &a, NULL);
		(void)sp_nl_parse_route(h, &r, NULL);
		(void)sp_nl_parse_error(h, &e, text, sizeof(text), NULL);
	}
	free(buf);
	return 0;
}
