/* PID 1's configuration: compiled-in defaults, then the kernel command line (host-controlled,
 * untrusted). Security settings live in struct sp_security: the command line may only tighten
 * them, never loosen them below the compiled-in floor. */
#ifndef SEALPOD_LIB_CONFIG_H
#define SEALPOD_LIB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"

#define SP_DEFAULT_VSOCK_PORT	     1024u
#define SP_DEFAULT_HOTPLUG_TIMEOUT_S 3u
#define SP_CMDLINE_MAX		     4096 /* bytes of /proc/cmdline we look at */
#define SP_CMDLINE_TOKEN_MAX	     1024 /* a longer parameter is ignored whole */
#define SP_CONFIG_MAX_NOTES	     8
#define SP_TEST_OVERLAY_MARKER	     "/etc/sealpod/test-overlay"

enum sp_addr_kind { SP_ADDR_VSOCK = 0, SP_ADDR_UNIX };

struct sp_listen_addr {
	enum sp_addr_kind kind;
	uint32_t port;	/* vsock */
	char path[108]; /* unix, absolute, fits sockaddr_un */
};

/* Ordered from loose to strict: a larger value is tighter. */
enum sp_attest_mode { SP_ATTEST_AUTO = 0, SP_ATTEST_REQUIRED = 1 };

struct sp_security {
	/* Accept vsock peers with CID 1 (loopback). Effective only when the test-overlay marker
	 * also exists; `sealpod.loopback=0` turns it off even then. */
	bool allow_loopback;
	/* `sealpod.attest=required`: attest even when initdata does not ask for it (tighten only). */
	enum sp_attest_mode attest;
};

extern const struct sp_security sp_security_floor;

/* cur := for every field, the stricter of cur and req. */
void sp_security_tighten(struct sp_security *cur, const struct sp_security *req);

struct sp_config {
	struct sp_listen_addr addr;
	enum sp_log_level log_level;
	unsigned hotplug_timeout_s;
	bool debug_console_requested; /* agent.debug_console: refused, there is no shell */
	struct sp_security sec;
	/* Attestation (init/attest/). The KBS URL, sample evidence, the test binding and test
	 * resources are honoured only when the test overlay is present (decided at run time);
	 * net_cidr configures eth0 in standalone mode (the network is untrusted anyway). */
	char kbs_url[256];	  /* sealpod.kbs=URL */
	char evidence[16];	  /* sealpod.evidence=sample|tpm|tdx|snp */
	char net_cidr[64];	  /* sealpod.ip=ADDR/PREFIX */
	char test_binding[129];	  /* sealpod.test_binding=HEX (stands in for MRCONFIGID) */
	char test_resources[512]; /* sealpod.test_resources=kbs:///a/b/c,... */
	/* What the parser ignored or refused, escaped, for the caller to log. */
	unsigned nnotes, notes_dropped;
	char notes[SP_CONFIG_MAX_NOTES][192];
};

void sp_config_default(struct sp_config *cfg);

/* Applies the command line in buf[0..len) to cfg (which holds defaults or earlier settings).
 * Pure: no I/O, no allocation, any bytes accepted. Parameters are separated by whitespace or
 * NUL; double quotes group and are removed; `key=value` or bare `flag`; unknown keys are
 * ignored; for a repeated key the last one wins, except that security settings only ever
 * tighten. An invalid value resets that setting to its default and leaves a note. */
void sp_cmdline_parse(const char *buf, size_t len, struct sp_config *cfg);

/* After the command line: agent.server_addr=unix://... drops the vsock peer check (any local
 * process could connect), so it is honoured only where unix_ok (the test overlay, or a host
 * test off PID 1); otherwise the address goes back to the vsock default and a note says so. */
void sp_config_restrict(struct sp_config *cfg, bool unix_ok);

/* `vsock://-1:PORT`, `vsock://ANY:PORT`, `unix:///abs/path`. Returns 0 or -1. */
int sp_listen_addr_parse(const char *s, struct sp_listen_addr *out);
/* "vsock:1024" or "unix:/path". */
void sp_listen_addr_format(const struct sp_listen_addr *a, char *buf, size_t size);

#endif
