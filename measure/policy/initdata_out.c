/* The initdata document around a policy (spp.h): aa.toml and cdh.toml from flags or a settings
 * file, written as TOML the guest's own reader takes, and checked by the guest's own initdata
 * parser (init/attest/initdata.c, compiled for the host) before anyone sees it. */
#define _GNU_SOURCE
#include "spp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/toml.h"
#include "policy/policy.h"

#define PEM_MAX ((size_t)256 * 1024)

static void free_secret(struct spp_secret *s)
{
	free(s->name);
	free(s->resource);
	free(s->image);
	free(s->path);
	free(s->mode);
}

void spp_initdata_opts_free(struct spp_initdata_opts *o)
{
	char **strs[] = { &o->algorithm,	 &o->kbs_url,	 &o->kbs_cert,
			  &o->tee_key_algorithm, &o->evidence,	 &o->attestation,
			  &o->registry_auth_uri, &o->registry_ca };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < o->ninsecure; i++)
		free(o->insecure[i]);
	for (size_t i = 0; i < o->nsecrets; i++)
		free_secret(&o->secrets[i]);
	memset(o, 0, sizeof(*o));
}

static int set_str(char **slot, const char *name, const char *value, struct sp_err *err)
{
	char *s = strdup(value);

	if (!s)
		return sp_error(err, ENOMEM, "--%s", name);
	free(*slot);
	*slot = s;
	return 0;
}

static int set_pem(char **slot, const char *name, const char *path, struct sp_err *err)
{
	char *pem;
	size_t len;

	if (spp_read_file(path, PEM_MAX, &pem, &len, err) < 0)
		return sp_error_wrap(err, "--%s", name);
	if (!strstr(pem, "-----BEGIN CERTIFICATE-----")) {
		free(pem);
		return sp_fail(err, SP_E_INVALID, 0, "--%s %s: no PEM certificate in it", name,
			       path);
	}
	free(*slot);
	*slot = pem;
	return 0;
}

/* --secret name=N,resource=kbs:///R/T/G,image=sha256:H,path=/P[,mode=0400] */
static int add_secret(struct spp_initdata_opts *o, const char *value, struct sp_err *err)
{
	struct spp_secret s = { 0 };
	char *copy = strdup(value), *save = NULL;

	if (!copy)
		return sp_error(err, ENOMEM, "--secret");
	if (o->nsecrets >= SPP_MAX_SECRETS) {
		free(copy);
		return sp_fail(err, SP_E_EXHAUSTED, 0, "--secret: more than %d", SPP_MAX_SECRETS);
	}
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), **slot = NULL;

		if (eq) {
			*eq = '\0';
			slot = strcmp(kv, "name") == 0	     ? &s.name
			       : strcmp(kv, "resource") == 0 ? &s.resource
			       : strcmp(kv, "image") == 0    ? &s.image
			       : strcmp(kv, "path") == 0     ? &s.path
			       : strcmp(kv, "mode") == 0     ? &s.mode
							     : NULL;
		}
		if (!slot || *slot || !(*slot = strdup(eq + 1))) {
			sp_fail(err, SP_E_INVALID, 0,
				"--secret: '%.64s' is not one of name=, resource=, image=, path=, "
				"mode= (each once)",
				kv);
			goto fail;
		}
	}
	if (!s.name || !s.resource || !s.image || !s.path) {
		sp_fail(err, SP_E_INVALID, 0,
			"--secret: name, resource, image and path are needed");
		goto fail;
	}
	free(copy);
	o->secrets[o->nsecrets++] = s;
	return 0;
fail:
	free(copy);
	free_secret(&s);
	return -1;
}

static int load_settings(struct spp_initdata_opts *o, const char *path, struct sp_err *err);

int spp_initdata_parse_flag(struct spp_initdata_opts *o, const char *name, const char *value,
			    struct sp_err *err)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "kbs-url", offsetof(struct spp_initdata_opts, kbs_url) },
		{ "tee-key-algorithm", offsetof(struct spp_initdata_opts, tee_key_algorithm) },
		{ "evidence", offsetof(struct spp_initdata_opts, evidence) },
		{ "attestation", offsetof(struct spp_initdata_opts, attestation) },
		{ "registry-auth-uri", offsetof(struct spp_initdata_opts, registry_auth_uri) },
		{ "algorithm", offsetof(struct spp_initdata_opts, algorithm) },
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(name, strs[i].name) == 0)
			return set_str((char **)((char *)o + strs[i].off), name, value, err);
	if (strcmp(name, "kbs-cert") == 0)
		return set_pem(&o->kbs_cert, name, value, err);
	if (strcmp(name, "registry-ca") == 0)
		return set_pem(&o->registry_ca, name, value, err);
	if (strcmp(name, "max-layers") == 0) {
		char *end;
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < 1 || v > 64)
			return sp_fail(err, SP_E_INVALID, 0, "--max-layers: 1..64, not '%.32s'",
				       value);
		o->max_layers = (int)v;
		return 0;
	}
	if (strcmp(name, "insecure-registry") == 0) {
		if (o->ninsecure >= SPP_MAX_INSECURE)
			return sp_fail(err, SP_E_EXHAUSTED, 0, "--insecure-registry: more than %d",
				       SPP_MAX_INSECURE);
		o->insecure[o->ninsecure] = strdup(value);
		if (!o->insecure[o->ninsecure])
			return sp_error(err, ENOMEM, "--insecure-registry");
		o->ninsecure++;
		return 0;
	}
	if (strcmp(name, "secret") == 0)
		return add_secret(o, value, err);
	if (strcmp(name, "initdata-settings") == 0)
		return load_settings(o, value, err);
	return 1;
}

/* One [secret.<name>] table of a settings file as a --secret value. */
static int settings_secret(struct spp_initdata_opts *o, const struct sp_toml *doc, const char *name,
			   struct sp_err *err)
{
	static const char *const keys[] = { "resource", "image", "path", "mode" };
	struct spp_buf b = { 0 };
	int ret;

	spp_buf_printf(&b, "name=%s", name);
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *v = NULL;

		if (sp_toml_string(doc, (const char *[]){ "secret", name, keys[k], NULL }, &v,
				   err) < 0) {
			spp_buf_free(&b);
			return sp_error_wrap(err, "secret.%s", name);
		}
		if (v)
			spp_buf_printf(&b, ",%s=%s", keys[k], v);
	}
	ret = b.oom ? sp_error(err, ENOMEM, "settings") : add_secret(o, b.p, err);
	spp_buf_free(&b);
	return ret;
}

/* One entry of a settings file: a flag's name as the key, its value as the value; arrays for the
 * flags that repeat; [secret.<name>] tables for --secret. */
static int settings_entry(struct spp_initdata_opts *o, const struct sp_toml *doc,
			  const struct sp_toml_ent *e, struct sp_err *err)
{
	const char *sep = strchr(e->path, SP_TOML_SEP);
	char num[24];
	int r;

	if (strncmp(e->path, "secret", 6) == 0 && (e->path[6] == SP_TOML_SEP || !e->path[6])) {
		const char *name = sep ? sep + 1 : NULL,
			   *more = name ? strchr(name, SP_TOML_SEP) : NULL;

		if (!name && e->type == SP_TOML_TABLE)
			return 0;
		if (name && !more && e->type == SP_TOML_TABLE)
			return settings_secret(o, doc, name, err);
		if (more && !strchr(more + 1, SP_TOML_SEP) && e->type == SP_TOML_STRING) {
			/* Read with its [secret.<name>] table, which must be there. */
			char tname[SP_SECRET_NAME_MAX + 1];
			const struct sp_toml_ent *t;

			(void)snprintf(tname, sizeof(tname), "%.*s", (int)(more - name), name);
			t = sp_toml_get(doc, (const char *[]){ "secret", tname, NULL });
			if (t && t->type == SP_TOML_TABLE)
				return 0;
		}
		return sp_fail(err, SP_E_INVALID, 0,
			       "secret: one [secret.<name>] table of strings per secret");
	}
	if (sep || strcmp(e->path, "initdata-settings") == 0)
		return sp_fail(err, SP_E_INVALID, 0, "unknown key '%.64s'", e->path);
	if (e->type == SP_TOML_ARRAY) {
		for (size_t i = 0; i < e->narr; i++)
			if ((r = spp_initdata_parse_flag(o, e->path, e->arr[i], err)) != 0)
				goto out;
		return 0;
	}
	if (e->type == SP_TOML_INT) {
		(void)snprintf(num, sizeof(num), "%lld", (long long)e->i);
		r = spp_initdata_parse_flag(o, e->path, num, err);
	} else if (e->type == SP_TOML_STRING) {
		r = spp_initdata_parse_flag(o, e->path, e->str, err);
	} else {
		return sp_fail(err, SP_E_INVALID, 0, "'%.64s' has the wrong type", e->path);
	}
out:
	return r > 0 ? sp_fail(err, SP_E_INVALID, 0, "unknown key '%.64s'", e->path) : r;
}

/* --initdata-settings FILE: the same settings as a small TOML file (README, "Policy tool"). */
static int load_settings(struct spp_initdata_opts *o, const char *path, struct sp_err *err)
{
	struct sp_toml doc = { 0 };
	char *text;
	size_t len;
	int ret = 0;

	if (spp_read_file(path, SP_TOML_MAX_DOC, &text, &len, err) < 0)
		return sp_error_wrap(err, "--initdata-settings");
	if (sp_toml_parse(text, len, &doc, err) < 0) {
		free(text);
		return sp_error_wrap(err, "--initdata-settings %s", path);
	}
	for (size_t i = 0; i < doc.n && ret == 0; i++)
		ret = settings_entry(o, &doc, &doc.ents[i], err);
	if (ret < 0)
		sp_error_wrap(err, "--initdata-settings %s", path);
	sp_toml_free(&doc);
	free(text);
	return ret < 0 ? -1 : 0;
}

/* --- writing ------------------------------------------------------------------------------------ */

/* A TOML basic string: quotes, backslashes and control characters escaped, UTF-8 kept. */
static void toml_basic(struct spp_buf *b, const char *s)
{
	spp_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			spp_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			spp_buf_add(b, "\\n", 2);
		else if (c == '\t')
			spp_buf_add(b, "\\t", 2);
		else if (c < 0x20 || c == 0x7f)
			spp_buf_printf(b, "\\u%04x", c);
		else
			spp_buf_add(b, s, 1);
	}
	spp_buf_add(b, "\"", 1);
}

/* A whole embedded document: a multi-line literal string, readable as the file itself, unless
 * its text cannot be one (''' inside, control characters); then a basic string. */
static void toml_doc(struct spp_buf *b, const char *s)
{
	bool literal = !strstr(s, "'''") && s[strlen(s) - (*s ? 1 : 0)] != '\'';

	for (const char *p = s; literal && *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			literal = false;
	if (!literal) {
		toml_basic(b, s);
		return;
	}
	spp_buf_add(b, "'''\n", 4);
	spp_buf_add(b, s, strlen(s));
	spp_buf_add(b, "'''", 3);
}

static void kv(struct spp_buf *b, const char *key, const char *value)
{
	if (!value)
		return;
	spp_buf_printf(b, "%s = ", key);
	toml_basic(b, value);
	spp_buf_add(b, "\n", 1);
}

static void write_aa(struct spp_buf *b, const struct spp_initdata_opts *o)
{
	if (o->kbs_url || o->kbs_cert || o->tee_key_algorithm) {
		spp_buf_printf(b, "[token_configs.kbs]\n");
		kv(b, "url", o->kbs_url);
		kv(b, "cert", o->kbs_cert);
		kv(b, "tee_key_algorithm", o->tee_key_algorithm);
	}
	if (o->evidence || o->attestation) {
		spp_buf_printf(b, "%s[sealpod]\n", b->len ? "\n" : "");
		kv(b, "evidence", o->evidence);
		kv(b, "attestation", o->attestation);
	}
}

static void write_cdh(struct spp_buf *b, const struct spp_initdata_opts *o)
{
	/* [kbc] for Kata's CDH, which reads its KBS there; the guest takes aa.toml's first. */
	if (o->kbs_url) {
		spp_buf_printf(b, "[kbc]\nname = \"cc_kbc\"\n");
		kv(b, "url", o->kbs_url);
		kv(b, "kbs_cert", o->kbs_cert);
	}
	if (o->registry_auth_uri || o->max_layers) {
		spp_buf_printf(b, "%s[image]\n", b->len ? "\n" : "");
		kv(b, "authenticated_registry_credentials_uri", o->registry_auth_uri);
		if (o->max_layers)
			spp_buf_printf(b, "max_concurrent_layer_downloads_per_image = %d\n",
				       o->max_layers);
	}
	if (o->ninsecure || o->registry_ca) {
		spp_buf_printf(b, "%s[sealpod]\n", b->len ? "\n" : "");
		if (o->ninsecure) {
			spp_buf_printf(b, "insecure_registries = [");
			for (size_t i = 0; i < o->ninsecure; i++) {
				spp_buf_printf(b, "%s", i ? ", " : "");
				toml_basic(b, o->insecure[i]);
			}
			spp_buf_printf(b, "]\n");
		}
		kv(b, "registry_ca", o->registry_ca);
	}
	for (size_t i = 0; i < o->nsecrets; i++) {
		const struct spp_secret *s = &o->secrets[i];

		spp_buf_printf(b, "%s[sealpod.secrets.", b->len ? "\n" : "");
		toml_basic(b, s->name);
		spp_buf_printf(b, "]\n");
		kv(b, "resource", s->resource);
		kv(b, "image", s->image);
		kv(b, "path", s->path);
		kv(b, "mode", s->mode);
	}
}

/* What the guest does with it: its initdata parser and its policy loader accept it. */
static int check_as_guest(const char *toml, size_t len, const char *policy_json, struct sp_err *err)
{
	struct sp_initdata d;
	struct sp_policy *p = NULL;
	char *copy = strdup(toml);

	if (!copy)
		return sp_error(err, ENOMEM, "initdata");
	if (sp_initdata_parse(copy, len, &d, err) < 0)
		return sp_fail_wrap(err, SP_E_INVALID, "the guest would refuse this initdata");
	sp_initdata_free(&d);
	if (policy_json && sp_policy_load(policy_json, strlen(policy_json), &p, err) < 0)
		return sp_fail_wrap(err, SP_E_INVALID, "the guest would refuse this policy");
	sp_policy_free(p);
	return 0;
}

int spp_initdata_build(const char *policy_json, const struct spp_initdata_opts *o, char **toml,
		       struct sp_err *err)
{
	struct spp_buf aa = { 0 }, cdh = { 0 }, b = { 0 };
	int ret = -1;

	write_aa(&aa, o);
	write_cdh(&cdh, o);
	spp_buf_printf(&b, "version = \"0.1.0\"\nalgorithm = ");
	toml_basic(&b, o->algorithm ? o->algorithm : "sha256");
	spp_buf_printf(&b, "\n\n[data]\n");
	if (aa.len) {
		spp_buf_printf(&b, "\"aa.toml\" = ");
		toml_doc(&b, aa.p);
		spp_buf_printf(&b, "\n");
	}
	if (cdh.len) {
		spp_buf_printf(&b, "\"cdh.toml\" = ");
		toml_doc(&b, cdh.p);
		spp_buf_printf(&b, "\n");
	}
	if (policy_json) {
		spp_buf_printf(&b, "\"policy.rego\" = ");
		toml_doc(&b, policy_json);
		spp_buf_printf(&b, "\n");
	}
	if (aa.oom || cdh.oom || b.oom) {
		sp_error(err, ENOMEM, "initdata");
		goto out;
	}
	if (check_as_guest(b.p, b.len, policy_json, err) < 0)
		goto out;
	*toml = b.p;
	b.p = NULL;
	ret = 0;
out:
	spp_buf_free(&aa);
	spp_buf_free(&cdh);
	spp_buf_free(&b);
	return ret;
}
