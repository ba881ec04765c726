/* References, manifests, indexes and configs (manifest.h). */
#define _GNU_SOURCE
#include "image/manifest.h"

#include "image/decrypt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/cleanup.h"
#include "lib/log.h"

/* --- references ------------------------------------------------------------------------------ */

/* distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
static bool name_ok(const char *s)
{
	size_t i = 0, n = strlen(s);

	if (n == 0 || n > 255)
		return false;
	while (i < n) {
		size_t start = i;

		/* one path component */
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
			return false;
		while (i < n && s[i] != '/') {
			if (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])) {
				i++;
				continue;
			}
			/* separator: '.', '_', '__' or '-'+, then an alphanumeric */
			if (s[i] == '.' || s[i] == '_') {
				i += (s[i] == '_' && i + 1 < n && s[i + 1] == '_') ? 2 : 1;
			} else if (s[i] == '-') {
				while (i < n && s[i] == '-')
					i++;
			} else {
				return false;
			}
			if (i >= n ||
			    !(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
				return false;
		}
		if (i == start)
			return false;
		if (i < n) /* '/' */
			i++;
		if (i == n && s[n - 1] == '/')
			return false;
	}
	return true;
}

static bool tag_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static bool host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-' || s[i] == ':' ||
		      s[i] == '[' || s[i] == ']'))
			return false;
	return true;
}

int sp_image_ref_parse(const char *s, struct sp_image_ref *r, struct sp_err *err)
{
	char buf[600], esc[96];
	char *at, *name, *slash, *colon;

	memset(r, 0, sizeof(*r));
	sp_log_escape(esc, sizeof(esc), s, strnlen(s, 512));
	if (strlen(s) >= sizeof(buf) - 20)
		return sp_error(err, 0, "image reference '%s' is too long", esc);
	(void)snprintf(buf, sizeof(buf), "%s", s);
	at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!sp_digest_valid(at + 1))
			return sp_error(err, 0,
					"image reference '%s': the digest is not sha256:<64 hex>",
					esc);
		(void)snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
	}
	name = buf;
	slash = strchr(buf, '/');
	/* The first component is a host when it has a '.' or ':' or is "localhost". */
	if (slash &&
	    (memchr(buf, '.', (size_t)(slash - buf)) || memchr(buf, ':', (size_t)(slash - buf)) ||
	     strncmp(buf, "localhost/", 10) == 0)) {
		*slash = '\0';
		if (strlen(buf) >= sizeof(r->host))
			return sp_error(err, 0, "image reference '%s': the host is too long", esc);
		memcpy(r->host, buf, strlen(buf) + 1);
		name = slash + 1;
	} else {
		(void)snprintf(r->host, sizeof(r->host), "docker.io");
	}
	colon = strrchr(name, ':');
	if (colon) {
		*colon = '\0';
		if (strlen(colon + 1) >= sizeof(r->tag) || !tag_ok(colon + 1))
			return sp_error(err, 0, "image reference '%s': the tag is not valid", esc);
		memcpy(r->tag, colon + 1, strlen(colon + 1) + 1);
		if (!tag_ok(r->tag))
			return sp_error(err, 0, "image reference '%s': the tag is not valid", esc);
	} else if (!r->digest[0]) {
		(void)snprintf(r->tag, sizeof(r->tag), "latest");
	}
	if (strlen(name) > 240)
		return sp_error(err, 0, "image reference '%s': the name is too long", esc);
	if (strcmp(r->host, "docker.io") == 0 && !strchr(name, '/'))
		(void)snprintf(r->repo, sizeof(r->repo), "library/%.240s", name);
	else
		(void)snprintf(r->repo, sizeof(r->repo), "%.240s", name);
	if (!host_ok(r->host) || !name_ok(r->repo))
		return sp_error(err, 0, "image reference '%s' is not valid", esc);
	(void)snprintf(r->api_host, sizeof(r->api_host), "%s",
		       strcmp(r->host, "docker.io") == 0 ? "registry-1.docker.io" : r->host);
	return 0;
}

/* --- JSON helpers ---------------------------------------------------------------------------- */

static json_object *parse_json(const char *body, size_t len, struct sp_err *err)
{
	json_tokener *tok;
	json_object *o;

	if (len > SP_IMG_MAX_JSON)
		return sp_error(err, 0, "the JSON document is larger than 4 MiB"), NULL;
	tok = json_tokener_new_ex(32);
	if (!tok)
		return sp_error(err, 0, "out of memory"), NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		json_tokener_free(tok);
		return sp_error(err, 0, "the JSON document is malformed"), NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return sp_error(err, 0, "the JSON document is not an object"), NULL;
	}
	return o;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	if (!src || strlen(src) >= cap)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* --- manifests ------------------------------------------------------------------------------- */

int sp_layer_compression(const char *mt)
{
	static const struct {
		const char *mt;
		enum sp_compress c;
	} t[] = {
		{ "application/vnd.oci.image.layer.v1.tar", SP_COMP_NONE },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", SP_COMP_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", SP_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", SP_COMP_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", SP_COMP_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", SP_COMP_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", SP_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", SP_COMP_GZIP },
	};

	size_t n = strlen(mt);
	static const char enc[] = "+encrypted";

	/* ocicrypt's types are the plain ones with +encrypted (decrypt.h). */
	if (n > sizeof(enc) - 1 && strcmp(mt + n - (sizeof(enc) - 1), enc) == 0)
		n -= sizeof(enc) - 1;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].mt) == n && strncmp(mt, t[i].mt, n) == 0)
			return (int)t[i].c;
	return -1;
}

bool sp_layer_encrypted(const char *mt)
{
	size_t n = strlen(mt);

	return n > 10 && strcmp(mt + n - 10, "+encrypted") == 0 && sp_layer_compression(mt) >= 0;
}

/* An encrypted layer's annotations (decrypt.h): pubopts and at least one key wrapper, each
 * a bounded string, kept (heap) for the parser worker that decrypts it. */
static int enc_annotations(json_object *d, struct sp_descriptor *out, struct sp_err *err)
{
	static const char *const keys[] = { SP_ENC_ANNOT_PUBOPTS, SP_ENC_ANNOT_JWE,
					    SP_ENC_ANNOT_AA };
	char **dst[] = { &out->enc_pub, &out->enc_jwe, &out->enc_aa };
	json_object *a = NULL, *v;

	if (!json_object_object_get_ex(d, "annotations", &a) ||
	    !json_object_is_type(a, json_type_object))
		return sp_error(err, 0, "an encrypted layer has no annotations");
	for (size_t k = 0; k < 3; k++) {
		if (!json_object_object_get_ex(a, keys[k], &v))
			continue;
		if (!json_object_is_type(v, json_type_string) ||
		    (size_t)json_object_get_string_len(v) > SP_ENC_ANNOT_MAX ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return sp_error(err, 0,
					"an encrypted layer's %s is not a string of at most "
					"64 KiB",
					keys[k]);
		*dst[k] = strdup(json_object_get_string(v));
		if (!*dst[k])
			return sp_error(err, 0, "out of memory");
	}
	if (!out->enc_pub || (!out->enc_jwe && !out->enc_aa))
		return sp_error(err, 0, "an encrypted layer lacks %s or a key annotation (%s, %s)",
				SP_ENC_ANNOT_PUBOPTS, SP_ENC_ANNOT_JWE, SP_ENC_ANNOT_AA);
	out->encrypted = true;
	return 0;
}

void sp_manifest_free(struct sp_manifest *m)
{
	for (size_t i = 0; i < SP_IMG_MAX_INDEX; i++) {
		struct sp_descriptor *d = &m->entries[i];

		free(d->enc_pub), free(d->enc_jwe), free(d->enc_aa);
		d->enc_pub = d->enc_jwe = d->enc_aa = NULL;
	}
}

static int parse_desc(json_object *d, struct sp_descriptor *out, struct sp_err *err)
{
	json_object *v, *p;
	int64_t size;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(d, json_type_object))
		return sp_error(err, 0, "a descriptor is not an object");
	if (copy_str(out->media_type, sizeof(out->media_type), jstr(d, "mediaType")) < 0)
		return sp_error(err, 0, "a descriptor has no valid mediaType");
	if (copy_str(out->digest, sizeof(out->digest), jstr(d, "digest")) < 0 ||
	    !sp_digest_valid(out->digest))
		return sp_error(err, 0, "a descriptor's digest is not sha256:<64 hex>");
	if (!json_object_object_get_ex(d, "size", &v) || !json_object_is_type(v, json_type_int) ||
	    (size = json_object_get_int64(v)) < 0)
		return sp_error(err, 0, "a descriptor has no valid size");
	out->size = (uint64_t)size;
	if (json_object_object_get_ex(d, "platform", &p) &&
	    json_object_is_type(p, json_type_object)) {
		if (copy_str(out->os, sizeof(out->os), jstr(p, "os")) < 0 ||
		    copy_str(out->arch, sizeof(out->arch), jstr(p, "architecture")) < 0)
			return sp_error(err, 0, "an index entry's platform is malformed");
		(void)copy_str(out->variant, sizeof(out->variant), jstr(p, "variant"));
		out->has_platform = true;
	}
	return 0;
}

static bool is_manifest_type(const char *t)
{
	return strcmp(t, SP_MT_OCI_MANIFEST) == 0 || strcmp(t, SP_MT_DOCKER_V2) == 0;
}

static bool is_index_type(const char *t)
{
	return strcmp(t, SP_MT_OCI_INDEX) == 0 || strcmp(t, SP_MT_DOCKER_LIST) == 0;
}

/* The Content-Type without parameters or surrounding space, cut to fit ct. */
static void bare_content_type(const char *content_type, char *ct, size_t size)
{
	size_t n;

	if (!content_type)
		content_type = "";
	n = strcspn(content_type, ";");
	while (n && content_type[n - 1] == ' ')
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(ct, content_type, n);
	ct[n] = '\0';
}

/* schemaVersion 2, and a mediaType (when the body has one) that agrees with the one served (ct,
 * escaped in esc). */
static int check_header(json_object *o, const char *ct, const char *esc, struct sp_err *err)
{
	const char *mt;
	json_object *v;

	if (!json_object_object_get_ex(o, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int(v) != 2)
		return sp_error(err, 0, "schemaVersion is not 2 (schema1 is refused)");
	mt = jstr(o, "mediaType");
	if (json_object_object_get_ex(o, "mediaType", &v) && !mt)
		return sp_error(err, 0, "mediaType is not a string");
	/* Media-type confusion (CVE-2021-41190): the body's own type must agree. */
	if (mt && strcmp(mt, ct) != 0) {
		char e2[96];

		sp_log_escape(e2, sizeof(e2), mt, strlen(mt));
		return sp_error(err, 0, "the manifest says mediaType '%s' but was served as '%s'",
				e2, esc);
	}
	return 0;
}

/* An index's manifests or a manifest's layers into m->entries (m->is_index says which). */
static int parse_entries(json_object *o, struct sp_manifest *m, struct sp_err *err)
{
	json_object *v, *arr;
	char esc[96];
	size_t n;

	/* A body that is both (manifests and layers, or config) is ambiguous: refused. */
	if ((json_object_object_get_ex(o, "manifests", &v) &&
	     (json_object_object_get_ex(o, "layers", &v) ||
	      json_object_object_get_ex(o, "config", &v))))
		return sp_error(err, 0, "the document has both manifests and layers/config");
	if (!json_object_object_get_ex(o, m->is_index ? "manifests" : "layers", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return sp_error(err, 0, "the %s has no %s array",
				m->is_index ? "index" : "manifest",
				m->is_index ? "manifests" : "layers");
	n = json_object_array_length(arr);
	if (n > (m->is_index ? SP_IMG_MAX_INDEX : SP_IMG_MAX_LAYERS))
		return sp_error(err, 0, "too many %s (%zu)",
				m->is_index ? "index entries" : "layers", n);
	for (size_t i = 0; i < n; i++) {
		struct sp_descriptor *d = &m->entries[i];

		if (parse_desc(json_object_array_get_idx(arr, i), d, err) < 0)
			return -1;
		if (!m->is_index && sp_layer_compression(d->media_type) < 0) {
			sp_log_escape(esc, sizeof(esc), d->media_type, strlen(d->media_type));
			return sp_error(err, 0, "layer %zu has an unsupported media type '%s'", i,
					esc);
		}
		if (!m->is_index && sp_layer_encrypted(d->media_type) &&
		    enc_annotations(json_object_array_get_idx(arr, i), d, err) < 0)
			return sp_error_wrap(err, "layer %zu", i);
	}
	m->n = n;
	return 0;
}

/* A manifest's config descriptor, which must name an image config. */
static int parse_config(json_object *o, struct sp_manifest *m, struct sp_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, "config", &v) || parse_desc(v, &m->config, err) < 0) {
		if (!err || !err->msg[0] || !strstr(err->msg, "descriptor"))
			(void)sp_error(err, 0, "the manifest has no valid config descriptor");
		return -1;
	}
	if (strcmp(m->config.media_type, "application/vnd.oci.image.config.v1+json") != 0 &&
	    strcmp(m->config.media_type, "application/vnd.docker.container.image.v1+json") != 0)
		return sp_error(err, 0, "the config media type is not an image config");
	return 0;
}

int sp_manifest_parse(const char *body, size_t len, const char *content_type, struct sp_manifest *m,
		      struct sp_err *err)
{
	cleanup_json json_object *o = NULL;
	char ct[128], esc[96];

	sp_manifest_free(m);
	memset(m, 0, offsetof(struct sp_manifest, entries));
	m->n = 0;
	bare_content_type(content_type, ct, sizeof(ct));
	sp_log_escape(esc, sizeof(esc), ct, strlen(ct));
	if (strcmp(ct, "application/vnd.docker.distribution.manifest.v1+json") == 0 ||
	    strcmp(ct, "application/vnd.docker.distribution.manifest.v1+prettyjws") == 0)
		return sp_error(err, 0, "schema1 manifests (%s) are refused", esc);
	if (!is_manifest_type(ct) && !is_index_type(ct))
		return sp_error(err, 0, "unexpected manifest media type '%s'", esc);
	o = parse_json(body, len, err);
	if (!o || check_header(o, ct, esc, err) < 0)
		return -1;
	m->is_index = is_index_type(ct);
	if (parse_entries(o, m, err) < 0)
		return -1;
	if (!m->is_index && parse_config(o, m, err) < 0)
		return -1;
	return 0;
}

int sp_index_select(const struct sp_manifest *m, const char *os, const char *arch)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct sp_descriptor *d = &m->entries[i];

		if (d->has_platform && strcmp(d->os, os) == 0 && strcmp(d->arch, arch) == 0 &&
		    is_manifest_type(d->media_type))
			return (int)i;
	}
	return -1;
}

/* --- configs --------------------------------------------------------------------------------- */

static int str_array(json_object *o, const char *key, size_t max, char ***out, size_t *n,
		     struct sp_err *err)
{
	json_object *a;
	size_t len;

	*out = NULL;
	*n = 0;
	if (!o || !json_object_object_get_ex(o, key, &a) || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return sp_error(err, 0, "config %s is not an array", key);
	len = json_object_array_length(a);
	if (len > max)
		return sp_error(err, 0, "config %s has too many entries", key);
	*out = calloc(len + 1, sizeof(char *));
	if (!*out)
		return sp_error(err, 0, "out of memory");
	for (size_t i = 0; i < len; i++) {
		json_object *s = json_object_array_get_idx(a, i);
		const char *v;

		if (!json_object_is_type(s, json_type_string))
			return sp_error(err, 0, "config %s has a non-string entry", key);
		v = json_object_get_string(s);
		if ((size_t)json_object_get_string_len(s) != strlen(v) ||
		    strlen(v) > SP_IMG_STR_MAX)
			return sp_error(err, 0, "config %s has an entry with a NUL or over 4 KiB",
					key);
		(*out)[i] = strdup(v);
		if (!(*out)[i])
			return sp_error(err, 0, "out of memory");
		(*n)++;
	}
	return 0;
}

static int opt_str(json_object *o, const char *key, char **out, struct sp_err *err)
{
	const char *v = jstr(o, key);

	if (v && strlen(v) > SP_IMG_STR_MAX)
		return sp_error(err, 0, "config %s is too long", key);
	*out = strdup(v ? v : "");
	return *out ? 0 : sp_error(err, 0, "out of memory");
}

int sp_config_parse(const char *body, size_t len, struct sp_image_config *c, struct sp_err *err)
{
	json_object *o, *rootfs, *ids, *cfg = NULL;
	int ret = -1;
	size_t n;

	memset(c, 0, sizeof(*c));
	o = parse_json(body, len, err);
	if (!o)
		return -1;
	if (copy_str(c->os, sizeof(c->os), jstr(o, "os")) < 0 ||
	    copy_str(c->arch, sizeof(c->arch), jstr(o, "architecture")) < 0) {
		(void)sp_error(err, 0, "the image config has no os/architecture");
		goto out;
	}
	if (!json_object_object_get_ex(o, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &ids) ||
	    !json_object_is_type(ids, json_type_array)) {
		(void)sp_error(err, 0, "the image config has no rootfs.diff_ids");
		goto out;
	}
	n = json_object_array_length(ids);
	if (n > SP_IMG_MAX_LAYERS) {
		(void)sp_error(err, 0, "the image config has too many diff_ids");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(ids, i);

		if (!json_object_is_type(s, json_type_string) ||
		    copy_str(c->diff_ids[i], sizeof(c->diff_ids[i]), json_object_get_string(s)) <
			    0 ||
		    !sp_digest_valid(c->diff_ids[i])) {
			(void)sp_error(err, 0, "diff_id %zu is not sha256:<64 hex>", i);
			goto out;
		}
	}
	c->n_diff_ids = n;
	(void)json_object_object_get_ex(o, "config", &cfg);
	if (cfg && !json_object_is_type(cfg, json_type_object))
		cfg = NULL;
	if (str_array(cfg, "Entrypoint", SP_IMG_MAX_ARGS, &c->entrypoint, &c->n_entrypoint, err) <
		    0 ||
	    str_array(cfg, "Cmd", SP_IMG_MAX_ARGS, &c->cmd, &c->n_cmd, err) < 0 ||
	    str_array(cfg, "Env", SP_IMG_MAX_ENV, &c->env, &c->n_env, err) < 0 ||
	    opt_str(cfg, "WorkingDir", &c->workdir, err) < 0 ||
	    opt_str(cfg, "User", &c->user, err) < 0)
		goto out;
	ret = 0;
out:
	json_object_put(o);
	if (ret < 0)
		sp_config_free(c);
	return ret;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void sp_config_free(struct sp_image_config *c)
{
	free_strv(c->entrypoint);
	free_strv(c->cmd);
	free_strv(c->env);
	free(c->workdir);
	free(c->user);
	c->entrypoint = c->cmd = c->env = NULL;
	c->workdir = c->user = NULL;
	c->n_entrypoint = c->n_cmd = c->n_env = 0;
}
