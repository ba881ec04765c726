#define _GNU_SOURCE
#include "lib/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct sp_security sp_security_floor = {
	.allow_loopback = true,
	.attest = SP_ATTEST_AUTO,
};

void sp_security_tighten(struct sp_security *cur, const struct sp_security *req)
{
	cur->allow_loopback = cur->allow_loopback && req->allow_loopback;
	if (req->attest > cur->attest)
		cur->attest = req->attest;
}

static void default_addr(struct sp_listen_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->kind = SP_ADDR_VSOCK;
	a->port = SP_DEFAULT_VSOCK_PORT;
}

void sp_config_default(struct sp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	default_addr(&cfg->addr);
	cfg->log_level = SP_LOG_INFO;
	cfg->hotplug_timeout_s = SP_DEFAULT_HOTPLUG_TIMEOUT_S;
	cfg->sec = sp_security_floor;
}

static void note(struct sp_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct sp_config *cfg, const char *fmt, ...)
{
	va_list ap;

	if (cfg->nnotes >= SP_CONFIG_MAX_NOTES) {
		cfg->notes_dropped++;
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(cfg->notes[cfg->nnotes++], sizeof(cfg->notes[0]), fmt, ap);
	va_end(ap);
}

/* Strict decimal: digits only, no sign, no overflow, within [min, max]. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -1;
	}
	if (v < min)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int sp_listen_addr_parse(const char *s, struct sp_listen_addr *out)
{
	struct sp_listen_addr a;

	memset(&a, 0, sizeof(a));
	if (strncmp(s, "vsock://", 8) == 0) {
		const char *host = s + 8, *colon = strchr(host, ':');
		size_t hlen;

		if (!colon)
			return -1;
		hlen = (size_t)(colon - host);
		if (!((hlen == 2 && memcmp(host, "-1", 2) == 0) ||
		      (hlen == 3 && strncasecmp(host, "any", 3) == 0) ||
		      (hlen == 10 && memcmp(host, "4294967295", 10) == 0)))
			return -1;
		/* Port 0xffffffff is VMADDR_PORT_ANY; ports below 1024 are fine for a guest. */
		if (parse_u32(colon + 1, 1, 0xfffffffeu, &a.port) < 0)
			return -1;
		a.kind = SP_ADDR_VSOCK;
	} else if (strncmp(s, "unix://", 7) == 0) {
		const char *path = s + 7;
		size_t plen = strlen(path);

		if (path[0] != '/' || plen < 2 || plen >= sizeof(a.path))
			return -1;
		memcpy(a.path, path, plen + 1);
		a.kind = SP_ADDR_UNIX;
	} else {
		return -1;
	}
	*out = a;
	return 0;
}

void sp_listen_addr_format(const struct sp_listen_addr *a, char *buf, size_t size)
{
	if (a->kind == SP_ADDR_UNIX)
		(void)snprintf(buf, size, "unix:%s", a->path);
	else
		(void)snprintf(buf, size, "vsock:%u", (unsigned)a->port);
}

static int parse_level(const char *v, enum sp_log_level *out)
{
	static const struct {
		const char *name;
		enum sp_log_level level;
	} levels[] = {
		{ "trace", SP_LOG_DEBUG },    { "debug", SP_LOG_DEBUG },  { "info", SP_LOG_INFO },
		{ "warn", SP_LOG_WARN },      { "warning", SP_LOG_WARN }, { "error", SP_LOG_ERROR },
		{ "critical", SP_LOG_ERROR }, { "fatal", SP_LOG_ERROR },  { "panic", SP_LOG_ERROR },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcasecmp(v, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -1;
}

/* A printable-ASCII value that fits, else the setting stays empty and a note says why. */
static void copy_val(struct sp_config *cfg, const char *key, const char *val, const char *esc,
		     char *dst, size_t size)
{
	size_t n = val ? strlen(val) : 0;

	dst[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (val[i] <= ' ' || val[i] > '~')
			n = 0;
	if (n == 0 || n >= size) {
		note(cfg, "%s: invalid value \"%s\", ignored", key, esc);
		return;
	}
	memcpy(dst, val, n + 1);
}

static void apply(struct sp_config *cfg, const char *key, const char *val)
{
	char esc[96];

	if (val)
		sp_log_escape(esc, sizeof(esc), val, strlen(val));
	else
		esc[0] = '\0';

	if (strcmp(key, "agent.server_addr") == 0) {
		if (!val || sp_listen_addr_parse(val, &cfg->addr) < 0) {
			default_addr(&cfg->addr);
			note(cfg, "agent.server_addr: invalid value \"%s\", using vsock:%u", esc,
			     SP_DEFAULT_VSOCK_PORT);
		}
	} else if (strcmp(key, "agent.log") == 0) {
		if (!val || parse_level(val, &cfg->log_level) < 0) {
			cfg->log_level = SP_LOG_INFO;
			note(cfg, "agent.log: unknown level \"%s\", using info", esc);
		}
	} else if (strcmp(key, "agent.hotplug_timeout") == 0) {
		uint32_t v;

		if (val && parse_u32(val, 1, 3600, &v) == 0) {
			cfg->hotplug_timeout_s = v;
		} else {
			cfg->hotplug_timeout_s = SP_DEFAULT_HOTPLUG_TIMEOUT_S;
			note(cfg, "agent.hotplug_timeout: invalid value \"%s\", using %u s", esc,
			     SP_DEFAULT_HOTPLUG_TIMEOUT_S);
		}
	} else if (strcmp(key, "agent.debug_console") == 0) {
		cfg->debug_console_requested = true;
	} else if (strcmp(key, "sealpod.loopback") == 0) {
		struct sp_security req = cfg->sec;

		if (val && strcmp(val, "0") == 0) {
			req.allow_loopback = false;
			sp_security_tighten(&cfg->sec, &req);
		} else if (val && strcmp(val, "1") == 0) {
			/* Not an error: the floor decides; the command line cannot loosen it. */
		} else {
			note(cfg, "sealpod.loopback: invalid value \"%s\", ignored", esc);
		}
	} else if (strcmp(key, "sealpod.attest") == 0) {
		struct sp_security req = cfg->sec;

		if (val && strcmp(val, "required") == 0) {
			req.attest = SP_ATTEST_REQUIRED;
			sp_security_tighten(&cfg->sec, &req);
		} else if (!val || strcmp(val, "auto") != 0) {
			note(cfg, "sealpod.attest: invalid value \"%s\", ignored", esc);
		}
	} else if (strcmp(key, "sealpod.kbs") == 0) {
		copy_val(cfg, key, val, esc, cfg->kbs_url, sizeof(cfg->kbs_url));
	} else if (strcmp(key, "sealpod.evidence") == 0) {
		copy_val(cfg, key, val, esc, cfg->evidence, sizeof(cfg->evidence));
	} else if (strcmp(key, "sealpod.ip") == 0) {
		copy_val(cfg, key, val, esc, cfg->net_cidr, sizeof(cfg->net_cidr));
	} else if (strcmp(key, "sealpod.test_binding") == 0) {
		copy_val(cfg, key, val, esc, cfg->test_binding, sizeof(cfg->test_binding));
	} else if (strcmp(key, "sealpod.test_resources") == 0) {
		copy_val(cfg, key, val, esc, cfg->test_resources, sizeof(cfg->test_resources));
	}
	/* Everything else (other agent.* keys, kernel parameters) is not ours: ignored. */
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0';
}

void sp_config_restrict(struct sp_config *cfg, bool unix_ok)
{
	char addr[128];

	if (cfg->addr.kind != SP_ADDR_UNIX || unix_ok)
		return;
	sp_listen_addr_format(&cfg->addr, addr, sizeof(addr));
	default_addr(&cfg->addr);
	note(cfg,
	     "agent.server_addr=%.120s ignored: a Unix socket has no peer check, so it is "
	     "honoured only with the test overlay; listening on vsock:%u",
	     addr, SP_DEFAULT_VSOCK_PORT);
}

void sp_cmdline_parse(const char *buf, size_t len, struct sp_config *cfg)
{
	char tok[SP_CMDLINE_TOKEN_MAX + 1];
	size_t i = 0;

	if (len > SP_CMDLINE_MAX) {
		note(cfg, "command line longer than %d bytes, the rest is ignored", SP_CMDLINE_MAX);
		len = SP_CMDLINE_MAX;
	}
	while (i < len) {
		bool quoted = false, overflow = false;
		size_t t = 0;
		char *eq;

		while (i < len && is_sep(buf[i]))
			i++;
		if (i >= len)
			break;
		for (; i < len; i++) {
			char c = buf[i];

			if (c == '\0' || (!quoted && is_sep(c)))
				break;
			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (t < SP_CMDLINE_TOKEN_MAX)
				tok[t++] = c;
			else
				overflow = true;
		}
		tok[t] = '\0';
		if (overflow) {
			char esc[40];

			sp_log_escape(esc, sizeof(esc), tok, 24);
			note(cfg, "parameter longer than %d bytes ignored: %s",
			     SP_CMDLINE_TOKEN_MAX, esc);
			continue;
		}
		eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		apply(cfg, tok, eq ? eq + 1 : NULL);
	}
}
