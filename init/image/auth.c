/* Registry authentication inputs (manifest.h, "auth"): the WWW-Authenticate challenge, the token
 * endpoint's response and containers-auth.json. Credentials and tokens are secrets: no message
 * here ever contains them. */
#define _GNU_SOURCE
#include "image/manifest.h"
#include "image/image_int.h"
#include "lib/cleanup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* A parameter's value at h[*i]: a "quoted" string (backslash escapes the next byte) or a token,
 * into val (NUL-terminated, *vl bytes). */
static int parse_param_value(const char *h, size_t len, size_t *i, char *val, size_t valsz,
			     size_t *vl, struct sp_err *err)
{
	size_t j = *i, n = 0;

	if (j < len && h[j] == '"') {
		j++;
		while (j < len && h[j] != '"') {
			if (h[j] == '\\' && j + 1 < len)
				j++;
			if (n + 1 >= valsz || (unsigned char)h[j] < 0x20)
				return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
						    "pull.auth: a challenge value is too long "
						    "or has a control byte");
			val[n++] = h[j++];
		}
		if (j >= len)
			return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
					    "pull.auth: an unterminated quoted challenge value");
		j++;
	} else {
		while (j < len && tchar(h[j]) && n + 1 < valsz)
			val[n++] = h[j++];
		if (j < len && tchar(h[j]))
			return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
					    "pull.auth: a challenge value is too long");
	}
	val[n] = '\0';
	*vl = n;
	*i = j;
	return 0;
}

/* One auth-param, name=value, at h[*i]; realm, service and scope are kept, others ignored. */
static int parse_param(const char *h, size_t len, size_t *i, struct sp_challenge *c,
		       struct sp_err *err)
{
	char name[32], val[1024];
	size_t nl, vl = 0, s = *i;
	char *dst = NULL;
	size_t cap = 0;

	while (*i < len && tchar(h[*i]))
		(*i)++;
	nl = *i - s;
	if (nl == 0 || nl >= sizeof(name))
		return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
				    "pull.auth: a malformed challenge parameter");
	memcpy(name, h + s, nl);
	name[nl] = '\0';
	while (*i < len && h[*i] == ' ')
		(*i)++;
	if (*i >= len || h[*i] != '=')
		return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
				    "pull.auth: a challenge parameter without a value");
	(*i)++;
	while (*i < len && h[*i] == ' ')
		(*i)++;
	if (parse_param_value(h, len, i, val, sizeof(val), &vl, err) < 0)
		return -1;
	if (strcasecmp(name, "realm") == 0)
		dst = c->realm, cap = sizeof(c->realm);
	else if (strcasecmp(name, "service") == 0)
		dst = c->service, cap = sizeof(c->service);
	else if (strcasecmp(name, "scope") == 0)
		dst = c->scope, cap = sizeof(c->scope);
	if (dst) {
		if (vl >= cap)
			return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
					    "pull.auth: the challenge's %s is too long", name);
		memcpy(dst, val, vl + 1);
	}
	return 0;
}

int sp_auth_parse_challenge(const char *h, size_t len, struct sp_challenge *c, struct sp_err *err)
{
	size_t i = 0, s;

	memset(c, 0, sizeof(*c));
	while (i < len && h[i] == ' ')
		i++;
	s = i;
	while (i < len && tchar(h[i]))
		i++;
	if (i - s == 6 && strncasecmp(h + s, "Bearer", 6) == 0)
		c->scheme = SP_AUTH_BEARER;
	else if (i - s == 5 && strncasecmp(h + s, "Basic", 5) == 0)
		c->scheme = SP_AUTH_BASIC;
	else
		return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
				    "pull.auth: unsupported authentication scheme");
	/* auth-params: name=token or name="quoted", comma separated */
	while (i < len) {
		while (i < len && (h[i] == ' ' || h[i] == ','))
			i++;
		if (i >= len)
			break;
		if (parse_param(h, len, &i, c, err) < 0)
			return -1;
		while (i < len && h[i] == ' ')
			i++;
		if (i < len && h[i] != ',')
			return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
					    "pull.auth: a malformed challenge");
	}
	if (c->scheme == SP_AUTH_BEARER) {
		if (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0)
			return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
					    "pull.auth: the Bearer challenge has no http(s) realm");
		for (const char *p = c->realm; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\')
				return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
						    "pull.auth: the realm is not a plain URL");
	}
	return 0;
}

int sp_auth_parse_token(const char *body, size_t len, char *token, size_t cap, unsigned *expires_in,
			struct sp_err *err)
{
	json_tokener *tok = json_tokener_new_ex(8);
	json_object *o = NULL, *v;
	const char *t = NULL;
	int ret = -1;

	*expires_in = 60;
	if (!tok || len > 1u << 20)
		goto bad;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		goto bad;
	if (json_object_object_get_ex(o, "token", &v) && json_object_is_type(v, json_type_string))
		t = json_object_get_string(v);
	if ((!t || !*t) && json_object_object_get_ex(o, "access_token", &v) &&
	    json_object_is_type(v, json_type_string))
		t = json_object_get_string(v);
	if (!t || !*t || strlen(t) >= cap)
		goto bad;
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			goto bad; /* it goes into a header line */
	memcpy(token, t, strlen(t) + 1);
	if (json_object_object_get_ex(o, "expires_in", &v) &&
	    json_object_is_type(v, json_type_int)) {
		int64_t e = json_object_get_int64(v);

		/* The spec's floor is 60 s; more than a day is clamped. */
		*expires_in = e < 60 ? 60 : e > 86400 ? 86400 : (unsigned)e;
	}
	ret = 0;
bad:
	if (ret < 0)
		(void)sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
				   "pull.auth: the token response is malformed or has no usable "
				   "token");
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 with optional padding into out (NUL-terminated). -1 on bad input. */
static int b64decode(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (; *in && *in != '='; in++) {
		int v = b64val((unsigned char)*in);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return memchr(out, '\0', o) ? -1 : 0;
}

/* The entry of auths that covers host/repo best (the longest key that is a prefix at a path
 * boundary), or NULL. */
static json_object *best_auth(json_object *auths, const char *host, const char *repo)
{
	json_object *best = NULL;
	size_t best_len = 0;
	char full[600];

	(void)snprintf(full, sizeof(full), "%s/%s", host, repo);
	json_object_object_foreach(auths, key, val)
	{
		size_t kl = strlen(key);
		const char *k = key;

		/* "https://host/..." keys of docker's config.json style: compare without scheme */
		if (strncmp(k, "https://", 8) == 0)
			k += 8, kl -= 8;
		while (kl && k[kl - 1] == '/')
			kl--;
		if (kl == 0 || kl < best_len)
			continue;
		if (strncmp(full, k, kl) == 0 && (full[kl] == '/' || full[kl] == '\0')) {
			best = val;
			best_len = kl;
		}
	}
	return best;
}

static int malformed(struct sp_err *err)
{
	return sp_pull_fail(err, SP_STAGE_PULL_AUTH, 0,
			    "pull.auth: the registry credentials (auth.json) are malformed");
}

int sp_auth_json_lookup(const char *json, size_t len, const char *host, const char *repo,
			char *user, size_t ucap, char *pass, size_t pcap, struct sp_err *err)
{
	cleanup_json_tokener json_tokener *tok = json_tokener_new_ex(8);
	cleanup_json json_object *o = NULL;
	char dec[1024];
	SP_WIPE_ON_EXIT(dec);
	json_object *auths, *best, *a;
	const char *colon;

	if (!tok || len > 1u << 20)
		return malformed(err);
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		return malformed(err);
	if (!json_object_object_get_ex(o, "auths", &auths) ||
	    !json_object_is_type(auths, json_type_object))
		return 0; /* no registries */
	best = best_auth(auths, host, repo);
	if (!best)
		return 0;
	if (!json_object_is_type(best, json_type_object) ||
	    !json_object_object_get_ex(best, "auth", &a) ||
	    !json_object_is_type(a, json_type_string) ||
	    b64decode(json_object_get_string(a), dec, sizeof(dec)) < 0 ||
	    !(colon = strchr(dec, ':')) || (size_t)(colon - dec) >= ucap ||
	    strlen(colon + 1) >= pcap)
		return malformed(err);
	memcpy(user, dec, (size_t)(colon - dec));
	user[colon - dec] = '\0';
	memcpy(pass, colon + 1, strlen(colon + 1) + 1);
	return 1;
}
