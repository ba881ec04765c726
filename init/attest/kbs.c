/* KBS protocol 0.4.0 messages (reference/attestation.md, section 1): what we send is built here
 * byte for byte; what the KBS answers is untrusted and parsed strictly. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/json.h"
#include "lib/cleanup.h"
#include "lib/log.h"

static void put_json_string(FILE *f, const char *s)
{
	(void)fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			(void)fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			(void)fprintf(f, "\\u%04x", *p);
		else
			(void)fputc(*p, f);
	}
	(void)fputc('"', f);
}

char *sp_kbs_request_json(const char *tee)
{
	char *s = NULL;

	if (asprintf(&s,
		     "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":{"
		     "\"supported-hash-algorithms\":[\"sha256\",\"sha384\",\"sha512\"]}}",
		     tee) < 0)
		return NULL;
	return s;
}

int sp_kbs_parse_challenge(const char *body, size_t len, struct sp_kbs_challenge *c,
			   struct sp_err *err)
{
	struct json_object *root, *ep, *sel;
	const char *nonce;
	size_t nlen;
	uint8_t *raw = NULL;
	size_t rawlen;
	int ret = -1;

	memset(c, 0, sizeof(*c));
	c->hash = SP_HASH_SHA384;
	if (sp_json_parse(body, len, &root, err) < 0)
		return sp_error_wrap(err, "challenge");
	nonce = sp_json_str(root, "nonce", &nlen);
	if (!nonce || nlen == 0 || nlen >= sizeof(c->nonce)) {
		sp_error(err, 0, "challenge: nonce missing, not a string or too long");
		goto out;
	}
	/* trustee sends standard base64 of 32 bytes; Intel's KBS base64url. Either is fine as long
	 * as it decodes: the nonce is echoed verbatim. */
	if (sp_b64_decode(nonce, nlen, false, &raw, &rawlen) < 0 &&
	    sp_b64_decode(nonce, nlen, true, &raw, &rawlen) < 0) {
		sp_error(err, 0, "challenge: nonce is not base64");
		goto out;
	}
	if (rawlen < 16) {
		sp_error(err, 0, "challenge: nonce shorter than 16 bytes");
		goto out;
	}
	memcpy(c->nonce, nonce, nlen);
	if (json_object_object_get_ex(root, "extra-params", &ep)) {
		if (json_object_is_type(ep, json_type_object) &&
		    json_object_object_get_ex(ep, "selected-hash-algorithm", &sel)) {
			const char *h = json_object_is_type(sel, json_type_string)
						? json_object_get_string(sel)
						: "";
			if (strcmp(h, "sha256") == 0)
				c->hash = SP_HASH_SHA256;
			else if (strcmp(h, "sha384") == 0)
				c->hash = SP_HASH_SHA384;
			else if (strcmp(h, "sha512") == 0)
				c->hash = SP_HASH_SHA512;
			else {
				sp_error(err, 0, "challenge: unsupported selected-hash-algorithm");
				goto out;
			}
		} else if (!json_object_is_type(ep, json_type_object) &&
			   !json_object_is_type(ep, json_type_string)) {
			sp_error(err, 0, "challenge: extra-params must be a string or an object");
			goto out;
		}
	}
	ret = 0;
out:
	free(raw);
	json_object_put(root);
	return ret;
}

int sp_kbs_runtime_data(const char *nonce, const char *jwk, char **out, struct sp_err *err)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);
	int r;

	*out = NULL;
	if (!f)
		return sp_error(err, errno, "runtime data");
	(void)fputs("{\"additional-evidence\":\"\",\"nonce\":", f);
	put_json_string(f, nonce);
	(void)fprintf(f, ",\"tee-pubkey\":%s}", jwk);
	if (fclose(f) != 0) {
		free(doc);
		return sp_error(err, errno, "runtime data");
	}
	r = sp_jcs(doc, len, out, err);
	free(doc);
	return r;
}

int sp_kbs_attest_json(const char *initdata, const char *nonce, const char *jwk,
		       const char *evidence, char **out, struct sp_err *err)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	*out = NULL;
	if (!f)
		return sp_error(err, errno, "attestation body");
	(void)fputc('{', f);
	if (initdata) {
		(void)fputs("\"init-data\":{\"format\":\"toml\",\"body\":", f);
		put_json_string(f, initdata);
		(void)fputs("},", f);
	}
	(void)fputs("\"runtime-data\":{\"nonce\":", f);
	put_json_string(f, nonce);
	(void)fprintf(f,
		      ",\"tee-pubkey\":%s},\"tee-evidence\":{\"primary_evidence\":%s,"
		      "\"additional_evidence\":\"\"}}",
		      jwk, evidence);
	if (fclose(f) != 0) {
		free(doc);
		return sp_error(err, errno, "attestation body");
	}
	*out = doc;
	return 0;
}

int sp_kbs_parse_token(const char *body, size_t len, char **token, struct sp_err *err)
{
	struct json_object *root;
	const char *t;
	size_t tlen;

	*token = NULL;
	if (sp_json_parse(body, len, &root, err) < 0)
		return sp_error_wrap(err, "attestation reply");
	t = sp_json_str(root, "token", &tlen);
	if (!t || tlen == 0 || tlen > (size_t)64 * 1024) {
		json_object_put(root);
		return sp_error(err, 0, "attestation reply: no token");
	}
	/* A JWT: three base64url parts; it only goes back to the KBS as a bearer token. */
	for (size_t i = 0; i < tlen; i++) {
		char ch = t[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) {
			json_object_put(root);
			return sp_error(err, 0, "attestation reply: token is not a JWT");
		}
	}
	*token = strdup(t);
	json_object_put(root);
	return *token ? 0 : sp_error(err, ENOMEM, "token");
}

void sp_kbs_error_type(const char *body, size_t len, char *out, size_t outlen)
{
	struct json_object *root;
	struct sp_err e;
	const char *t, *slash;

	out[0] = '\0';
	if (sp_json_parse(body, len, &root, &e) < 0)
		return;
	t = sp_json_str(root, "type", NULL);
	if (t) {
		slash = strrchr(t, '/');
		t = slash ? slash + 1 : t;
		sp_log_escape(out, outlen, t, strnlen(t, 64));
	}
	json_object_put(root);
}

void sp_kbs_error_detail(const char *body, size_t len, char *out, size_t outlen)
{
	struct json_object *root;
	struct sp_err e;
	const char *t;

	out[0] = '\0';
	if (sp_json_parse(body, len, &root, &e) < 0)
		return;
	t = sp_json_str(root, "detail", NULL);
	if (t)
		sp_log_escape(out, outlen, t, strnlen(t, 512));
	json_object_put(root);
}

static bool uri_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int sp_kbs_parse_uri(const char *uri, char *path, size_t pathlen, struct sp_err *err)
{
	static const char pfx[] = "kbs:///";
	const char *p, *parts[3];
	size_t lens[3];

	if (strncmp(uri, pfx, sizeof(pfx) - 1) != 0)
		return sp_error(err, 0, "resource URI must start with kbs:///");
	p = uri + sizeof(pfx) - 1;
	for (int i = 0; i < 3; i++) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if ((i < 2) != (e != NULL) || !uri_part_ok(p, n))
			return sp_error(err, 0,
					"resource URI must be kbs:///<repo>/<type>/<tag> with "
					"[A-Za-z0-9._-] parts");
		parts[i] = p, lens[i] = n;
		p = e ? e + 1 : p + n;
	}
	if (lens[0] + lens[1] + lens[2] + 3 > pathlen)
		return sp_error(err, 0, "resource URI too long");
	(void)snprintf(path, pathlen, "%.*s/%.*s/%.*s", (int)lens[0], parts[0], (int)lens[1],
		       parts[1], (int)lens[2], parts[2]);
	return 0;
}
