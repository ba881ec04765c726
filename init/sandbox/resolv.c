/* CreateSandbox's host name and DNS lines: host text, checked before anything is written. */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool sp_valid_hostname(const char *s, size_t len)
{
	size_t label = 0;

	if (!s || len == 0 || len > SP_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return false;
		} else if (!is_alnum(c)) {
			return false;
		}
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* A nameserver: an IPv4 or IPv6 address, the latter with an optional %zone. */
static bool valid_nameserver(const char *tok)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *pct = strchr(tok, '%');
	size_t n = pct ? (size_t)(pct - tok) : strlen(tok);
	unsigned char bin[16];

	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, tok, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1)
		return !pct;
	if (inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	if (pct) {
		if (!pct[1] || strlen(pct + 1) > 15)
			return false;
		for (const char *p = pct + 1; *p; p++)
			if (!is_alnum(*p) && *p != '_' && *p != '-' && *p != '.')
				return false;
	}
	return true;
}

/* search domains and options: a conservative character set (nothing a shell or a parser of
 * resolv.conf could read as more than one token). */
static bool valid_word(const char *tok, const char *extra)
{
	if (!*tok || strlen(tok) > 253)
		return false;
	for (const char *p = tok; *p; p++)
		if (!is_alnum(*p) && !strchr(extra, *p))
			return false;
	return true;
}

static int bad_line(struct sp_err *err, size_t i, const char *line, const char *why)
{
	char b[64];

	sp_log_escape(b, sizeof(b), line, strnlen(line, SP_RESOLV_MAX_LINE + 1));
	return sp_error(err, 0, "dns line %zu '%s': %s", i, b, why);
}

/* Splits one line into at most 8 whitespace-separated tokens (in place, in copy). */
static size_t tokens(char *copy, char *tok[], size_t max, bool *too_many)
{
	size_t n = 0;
	char *save = NULL;

	*too_many = false;
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max) {
			*too_many = true;
			break;
		}
		tok[n++] = t;
	}
	return n;
}

int sp_resolv_conf_build(char *const *lines, size_t n, char *out, size_t size, size_t *len,
			 struct sp_err *err)
{
	size_t used = 0;

	if (size == 0)
		return sp_error(err, 0, "resolv.conf: no buffer");
	out[0] = '\0';
	*len = 0;
	if (n > SP_RESOLV_MAX_LINES)
		return sp_error(err, 0, "%zu dns lines (at most %d)", n, SP_RESOLV_MAX_LINES);
	for (size_t i = 0; i < n; i++) {
		const char *line = lines[i] ? lines[i] : "";
		size_t ll = strnlen(line, SP_RESOLV_MAX_LINE + 1);
		char copy[SP_RESOLV_MAX_LINE + 1], *tok[8];
		bool too_many, ok = true;
		size_t nt;
		const char *kw;

		if (ll > SP_RESOLV_MAX_LINE)
			return bad_line(err, i, line, "line too long");
		for (size_t j = 0; j < ll; j++)
			if ((unsigned char)line[j] < 0x20 && line[j] != '\t')
				return bad_line(err, i, line, "control character");
			else if ((unsigned char)line[j] >= 0x7f)
				return bad_line(err, i, line, "not printable ASCII");
		memcpy(copy, line, ll + 1);
		nt = tokens(copy, tok, sizeof(tok) / sizeof(tok[0]), &too_many);
		if (nt == 0 || tok[0][0] == '#' || tok[0][0] == ';')
			continue; /* blank or a comment: dropped */
		if (too_many)
			return bad_line(err, i, line, "more than 7 values");
		if (nt < 2)
			return bad_line(err, i, line, "keyword without a value");
		kw = tok[0];
		for (size_t t = 1; t < nt && ok; t++) {
			if (strcmp(kw, "nameserver") == 0)
				ok = nt == 2 && valid_nameserver(tok[t]);
			else if (strcmp(kw, "search") == 0)
				ok = valid_word(tok[t], ".-_");
			else if (strcmp(kw, "options") == 0)
				ok = valid_word(tok[t], ":._-");
			else
				return bad_line(err, i, line,
						"only nameserver, search and options lines are "
						"accepted");
		}
		if (!ok)
			return bad_line(err, i, line, "invalid value");
		for (size_t t = 0; t < nt; t++) {
			int w = snprintf(out + used, size - used, "%s%s", tok[t],
					 t + 1 < nt ? " " : "\n");

			if (w < 0 || (size_t)w >= size - used ||
			    used + (size_t)w > SP_RESOLV_MAX_BYTES)
				return sp_error(err, 0, "resolv.conf over %d bytes",
						SP_RESOLV_MAX_BYTES);
			used += (size_t)w;
		}
	}
	*len = used;
	return 0;
}
