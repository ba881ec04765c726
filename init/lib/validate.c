#define _GNU_SOURCE
#include "lib/validate.h"

#include <string.h>

static bool id_first(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool sp_valid_idn(const char *s, size_t len)
{
	if (!s || len == 0 || len > SP_ID_MAX || !id_first((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!id_first(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

bool sp_valid_id(const char *s)
{
	return s && sp_valid_idn(s, strnlen(s, SP_ID_MAX + 1));
}

/* Absolute and normalised; a trailing '/' is allowed only when dir is set. */
static const char *check_normal(const char *p, size_t len, bool dir)
{
	size_t start;

	if (len == 0 || p[0] != '/')
		return "is not absolute";
	if (len > SP_PATH_MAX)
		return "is too long";
	if (memchr(p, '\0', len))
		return "contains a NUL byte";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return "contains a control character";
	if (len == 1)
		return dir ? NULL : "is the root directory";
	if (p[len - 1] == '/' && !dir)
		return "ends with '/'";
	start = 1;
	while (start < len) {
		const char *slash = memchr(p + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - p) : len;
		size_t n = end - start;

		if (n == 0)
			return "contains an empty component ('//')";
		if ((n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return "contains a '.' or '..' component";
		if (n > SP_COMPONENT_MAX)
			return "has a component longer than 255 bytes";
		start = end + 1;
	}
	return NULL;
}

bool sp_valid_prefix(const char *prefix)
{
	size_t len;

	if (!prefix)
		return false;
	len = strnlen(prefix, SP_PATH_MAX + 1);
	return len > 1 && prefix[len - 1] == '/' && !check_normal(prefix, len, true);
}

int sp_path_beneathn(const char *path, size_t len, const char *prefix, const char **rest,
		     const char **reason)
{
	const char *why;
	size_t plen;

	if (!path || !prefix || !sp_valid_prefix(prefix)) {
		why = "cannot be checked (no path or an invalid prefix)";
		goto fail;
	}
	why = check_normal(path, len, false);
	if (why)
		goto fail;
	plen = strlen(prefix);
	/* Both sides are normalised and prefix ends in '/', so a byte comparison decides: a look-alike
	 * such as ".../containers-evil/x" differs at the '/'. */
	if (len <= plen || memcmp(path, prefix, plen) != 0) {
		why = "is outside the allowed prefix";
		goto fail;
	}
	if (rest)
		*rest = path + plen;
	return 0;
fail:
	if (reason)
		*reason = why;
	return -1;
}

int sp_path_beneath(const char *path, const char *prefix, const char **rest, const char **reason)
{
	size_t len = path ? strnlen(path, SP_PATH_MAX + 1) : 0;

	return sp_path_beneathn(path, len, prefix, rest, reason);
}

bool sp_abs_path_ok(const char *p)
{
	size_t len;

	if (!p || p[0] != '/')
		return false;
	len = strnlen(p, SP_PATH_MAX + 1);
	if (len > SP_PATH_MAX)
		return false;
	if (len == 1)
		return true;
	for (const char *c = p + 1;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);

		if (n == 0 || n > SP_COMPONENT_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
				return false;
		if (!e)
			return true;
		c = e + 1;
	}
}

/* The length of the UTF-8 sequence starting at p[0..n), 0 when it is not a well-formed one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* The second byte's range excludes overlong forms, surrogates and > U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool sp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/* Kubernetes' safe sysctls (kubelet's allowlist: namespaced and, in a pod of its own, isolated;
 * tcp_rmem and tcp_wmem since Kubernetes 1.32), which include the two containerd 2.x puts in every
 * pause spec (ip_unprivileged_port_start, ping_group_range). In this guest every container shares the one network namespace and the
 * sandbox's IPC namespace: the net.* keys apply to the whole pod, PID 1's own sockets included,
 * and kernel.shm_rmid_forced to the pod's IPC namespace. Every value is a number, a range or a
 * list of them.
 * This list is the floor of what can be safe in a shared-kernel pod: a policy's allowed_sysctls
 * narrows it (policy_json.c refuses a key outside it) and can never widen it. */
static const char *const safe_sysctls[] = {
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
};

bool sp_sysctl_safe(const char *key)
{
	for (size_t i = 0; key && i < sizeof(safe_sysctls) / sizeof(safe_sysctls[0]); i++)
		if (strcmp(key, safe_sysctls[i]) == 0)
			return true;
	return false;
}

bool sp_sysctl_value_ok(const char *value)
{
	size_t n = value ? strlen(value) : 0;

	return n > 0 && strspn(value, "0123456789 \t,-") == n;
}

int sp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
