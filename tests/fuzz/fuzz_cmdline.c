/* Arbitrary bytes as a kernel command line (host-controlled, untrusted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_config cfg;
	struct sp_listen_addr addr;
	char *s;

	sp_config_default(&cfg);
	sp_cmdline_parse((const char *)data, size, &cfg);
	/* What the parser promises whatever the input. */
	if (cfg.nnotes > SP_CONFIG_MAX_NOTES || cfg.hotplug_timeout_s < 1 ||
	    cfg.hotplug_timeout_s > 3600)
		abort();
	if (cfg.addr.kind == SP_ADDR_UNIX &&
	    (cfg.addr.path[0] != '/' || strlen(cfg.addr.path) >= sizeof(cfg.addr.path)))
		abort();
	if (cfg.addr.kind == SP_ADDR_VSOCK && (cfg.addr.port == 0 || cfg.addr.port == UINT32_MAX))
		abort();
	if (cfg.sec.allow_loopback && !sp_security_floor.allow_loopback)
		abort();
	for (unsigned i = 0; i < cfg.nnotes; i++)
		if (strnlen(cfg.notes[i], sizeof(cfg.notes[i])) >= sizeof(cfg.notes[i]))
			abort();

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	sp_listen_addr_parse(s, &addr);
	free(s);
	return 0;
}
