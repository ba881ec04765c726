/* cdh.toml's [sealpod.secrets.<name>] tables: which KBS resource goes to which container image, at
 * which path (attest.h has the format and the rules). Parsed once, from initdata whose digest
 * matched the launch binding; anything unexpected refuses the whole initdata, naming the secret
 * (initdata holds no secret value, only where one comes from and where it goes). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/toml.h"
#include "lib/log.h"
#include "lib/validate.h"

#define SECRET_PATH_MAX 1024

/* "sealpod" SEP "secrets": the key path every entry of ours starts with. */
static const char PFX[] = "sealpod\x1fsecrets";

static bool is_sha256_digest(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return false;
	for (s += 7; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* A destination in the container: absolute and normalised, not the root, and not in the
 * kernel's filesystems (which the runtime mounts over anyway). */
static bool dest_ok(const char *p)
{
	static const char *const kernel_fs[] = { "/proc", "/sys", "/dev" };

	if (strnlen(p, SECRET_PATH_MAX + 1) > SECRET_PATH_MAX || !sp_abs_path_ok(p) ||
	    strcmp(p, "/") == 0)
		return false;
	for (size_t i = 0; i < sizeof(kernel_fs) / sizeof(kernel_fs[0]); i++) {
		size_t n = strlen(kernel_fs[i]);

		if (strncmp(p, kernel_fs[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return false;
	}
	return true;
}

/* "0400", "440", ...: three or four octal digits, no bit beyond 0444, and the owner may read. */
static bool parse_mode(const char *s, unsigned *out)
{
	size_t n = strlen(s);
	unsigned v = 0;

	if (n < 3 || n > 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	if ((v & ~0444u) || !(v & 0400u))
		return false;
	*out = v;
	return true;
}

static struct sp_secret_decl *decl_for(struct sp_initdata *d, const char *name, size_t len,
				       struct sp_err *err)
{
	char b[80];

	for (size_t i = 0; i < d->nsecrets; i++)
		if (strlen(d->secrets[i].name) == len && memcmp(d->secrets[i].name, name, len) == 0)
			return &d->secrets[i];
	if (len > SP_SECRET_NAME_MAX || !sp_valid_idn(name, len)) {
		sp_log_escape(b, sizeof(b), name, len < 64 ? len : 64);
		sp_error(err, 0,
			 "cdh.toml: secret name '%s' is not valid ([A-Za-z0-9][A-Za-z0-9_.-], at "
			 "most %d bytes)",
			 b, SP_SECRET_NAME_MAX);
		return NULL;
	}
	if (d->nsecrets >= SP_SECRETS_MAX) {
		sp_error(err, 0, "cdh.toml: more than %d secrets", SP_SECRETS_MAX);
		return NULL;
	}
	struct sp_secret_decl *s = &d->secrets[d->nsecrets++];

	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	s->mode = 0400;
	return s;
}

static int check_decl(const struct sp_initdata *d, size_t i, struct sp_err *err)
{
	const struct sp_secret_decl *s = &d->secrets[i];
	char path[512];

	if (!s->resource || !s->image || !s->path)
		return sp_error(err, 0, "cdh.toml: secret %s needs resource, image and path",
				s->name);
	if (sp_kbs_parse_uri(s->resource, path, sizeof(path), err) < 0)
		return sp_error_wrap(err, "cdh.toml: secret %s", s->name);
	if (!is_sha256_digest(s->image))
		return sp_error(err, 0,
				"cdh.toml: secret %s: image must be a digest, sha256:<64 lowercase "
				"hex>",
				s->name);
	if (!dest_ok(s->path))
		return sp_error(err, 0,
				"cdh.toml: secret %s: path must be absolute and normalised, at "
				"most "
				"%d bytes, and not /, /proc, /sys or /dev",
				s->name, SECRET_PATH_MAX);
	for (size_t j = 0; j < i; j++)
		if (strcmp(d->secrets[j].image, s->image) == 0 &&
		    strcmp(d->secrets[j].path, s->path) == 0)
			return sp_error(err, 0,
					"cdh.toml: secrets %s and %s go to the same path of the "
					"same image",
					d->secrets[j].name, s->name);
	return 0;
}

int sp_initdata_parse_secrets(const void *cdh_, struct sp_initdata *d, struct sp_err *err)
{
	const struct sp_toml *cdh = cdh_;
	const size_t pl = sizeof(PFX) - 1;

	d->nsecrets = 0;
	for (size_t i = 0; cdh && i < cdh->n; i++) {
		const struct sp_toml_ent *e = &cdh->ents[i];
		const char *name, *key, *sep;
		struct sp_secret_decl *s;
		char b[80];

		if (strncmp(e->path, PFX, pl) != 0 ||
		    (e->path[pl] != '\0' && e->path[pl] != SP_TOML_SEP))
			continue;
		if (e->path[pl] == '\0') {
			if (e->type != SP_TOML_TABLE)
				goto bad_shape;
			continue;
		}
		name = e->path + pl + 1;
		sep = strchr(name, SP_TOML_SEP);
		s = decl_for(d, name, sep ? (size_t)(sep - name) : strlen(name), err);
		if (!s)
			goto fail;
		if (!sep) {
			if (e->type != SP_TOML_TABLE)
				goto bad_shape;
			continue;
		}
		key = sep + 1;
		if (e->type != SP_TOML_STRING || strchr(key, SP_TOML_SEP)) {
			sp_log_escape(b, sizeof(b), key, strnlen(key, 64));
			sp_error(err, 0, "cdh.toml: secret %s: %s must be a string", s->name, b);
			goto fail;
		}
		if (strcmp(key, "resource") == 0) {
			s->resource = e->str;
		} else if (strcmp(key, "image") == 0) {
			s->image = e->str;
		} else if (strcmp(key, "path") == 0) {
			s->path = e->str;
		} else if (strcmp(key, "mode") == 0) {
			if (!parse_mode(e->str, &s->mode)) {
				sp_error(err, 0,
					 "cdh.toml: secret %s: mode must be octal such as "
					 "\"0400\", "
					 "readable by the owner, at most 0444",
					 s->name);
				goto fail;
			}
		} else {
			sp_log_escape(b, sizeof(b), key, strnlen(key, 64));
			sp_error(err, 0, "cdh.toml: secret %s: unknown key '%s'", s->name, b);
			goto fail;
		}
	}
	for (size_t i = 0; i < d->nsecrets; i++)
		if (check_decl(d, i, err) < 0)
			goto fail;
	return 0;
bad_shape:
	sp_error(err, 0, "cdh.toml: sealpod.secrets holds one table per secret");
fail:
	d->nsecrets = 0;
	return -1;
}
