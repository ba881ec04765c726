/* Kata initdata: the disk (magic, u64 LE length, gzip of a TOML document), the document's digest
 * and the settings it carries. Every byte here comes from the host until the digest has been
 * compared with the launch binding (attest.c does that). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "attest/attest_int.h"
#include "attest/toml.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

enum { DOC_INITDATA, DOC_AA, DOC_CDH, NDOCS };

const char *sp_hash_name(enum sp_hash h)
{
	return h == SP_HASH_SHA256 ? "sha256" : h == SP_HASH_SHA384 ? "sha384" : "sha512";
}

int sp_hash_digest(enum sp_hash h, const void *data, size_t len, uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = h == SP_HASH_SHA256	 ? EVP_sha256()
			   : h == SP_HASH_SHA384 ? EVP_sha384()
						 : EVP_sha512();
	unsigned n = 0;

	if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
		return -1;
	*out_len = n;
	return 0;
}

void sp_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

bool sp_initdata_matches(const uint8_t *digest, size_t dlen, const uint8_t *binding, size_t blen)
{
	for (size_t i = 0; i < blen; i++)
		if (binding[i] != (i < dlen ? digest[i] : 0))
			return false;
	return true;
}

int sp_initdata_unpack(const uint8_t *disk, size_t len, char **toml, size_t *toml_len,
		       struct sp_err *err)
{
	uint64_t glen = 0;
	z_stream zs = { 0 };
	cleanup_free char *out = NULL;
	size_t cap = (size_t)64 * 1024;
	int zr;

	*toml = NULL;
	if (len < 16 || memcmp(disk, SP_INITDATA_MAGIC, 8) != 0)
		return sp_error(err, 0, "no initdata magic");
	for (int i = 7; i >= 0; i--)
		glen = glen << 8 | disk[8 + i];
	if (glen == 0 || glen > SP_INITDATA_MAX_GZ || glen > len - 16)
		return sp_error(err, 0, "initdata length %llu is out of range (disk holds %zu)",
				(unsigned long long)glen, len - 16);
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return sp_error(err, 0, "zlib init failed");
	zs.next_in = (Bytef *)(disk + 16);
	zs.avail_in = (uInt)glen;
	out = malloc(cap + 1);
	if (!out) {
		inflateEnd(&zs);
		return sp_error(err, 0, "out of memory");
	}
	for (;;) {
		zs.next_out = (Bytef *)out + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			inflateEnd(&zs);
			return sp_error(err, 0, "initdata gzip: %s", zs.msg ? zs.msg : "corrupt");
		}
		if (zs.avail_out == 0) {
			char *t;
			if (cap >= SP_INITDATA_MAX_TOML) {
				inflateEnd(&zs);
				return sp_error(err, 0, "initdata document is over %zu bytes",
						SP_INITDATA_MAX_TOML);
			}
			cap *= 2;
			t = realloc(out, cap + 1);
			if (!t) {
				inflateEnd(&zs);
				return sp_error(err, 0, "out of memory");
			}
			out = t;
		} else if (zs.avail_in == 0) {
			inflateEnd(&zs);
			return sp_error(err, 0, "initdata gzip stream is truncated");
		}
	}
	if (zs.avail_in != 0) {
		inflateEnd(&zs);
		return sp_error(err, 0, "initdata: %u bytes after the gzip stream", zs.avail_in);
	}
	*toml_len = zs.total_out;
	inflateEnd(&zs);
	out[*toml_len] = '\0';
	*toml = steal_ptr(&out);
	return 0;
}

static int get_str(const struct sp_toml *doc, const char *what, const char *const *segs,
		   const char **out, struct sp_err *err)
{
	if (sp_toml_string(doc, segs, out, err) < 0)
		return sp_error(err, 0, "%s: %s is not a string", what, segs[segs[1] ? 1 : 0]);
	return 0;
}

/* Registry credentials come only from a KBS resource (DESIGN.md, Trust rules): initdata is
 * integrity-bound, not confidential, so anything in it that looks like a literal credential (a
 * containers-auth.json among the [data] files, a user name, password, token or auths table in
 * cdh.toml) refuses the whole initdata, saying where to put it instead. */
static int refuse_literal_credentials(const struct sp_toml *initdata, const struct sp_toml *cdh,
				      struct sp_err *err)
{
	static const char *const keys[] = { "auth",	     "auths",
					    "username",	     "password",
					    "registry_auth", "identitytoken",
					    "registrytoken", "authenticated_registry_credentials" };
	static const char hint[] = "initdata is not confidential: put registry credentials in a "
				   "KBS resource named by cdh.toml [image] "
				   "authenticated_registry_credentials_uri";

	for (size_t i = 0; i < initdata->n; i++) {
		const char *p = initdata->ents[i].path, *name;
		size_t n;

		if (strncmp(p, "data\x1f", 5) != 0)
			continue;
		name = p + 5;
		n = strlen(name);
		if (n >= 5 && strcmp(name + n - 5, ".json") == 0 && strcasestr(name, "auth"))
			return sp_error(err, 0, "initdata: [data] \"%.64s\" refused: %s", name,
					hint);
	}
	for (size_t i = 0; cdh && i < cdh->n; i++) {
		const char *last = strrchr(cdh->ents[i].path, SP_TOML_SEP);

		last = last ? last + 1 : cdh->ents[i].path;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strcasecmp(last, keys[k]) == 0)
				return sp_error(err, 0, "cdh.toml: key \"%s\" refused: %s", keys[k],
						hint);
	}
	return 0;
}

static int parse_sub(struct sp_toml *doc, const char *name, const char *text, struct sp_err *err)
{
	if (!text)
		return 0;
	if (sp_toml_parse(text, strlen(text), doc, err) < 0)
		return sp_error_wrap(err, "initdata %s", name);
	return 0;
}

/* One string setting of a document: where it is and where it goes. */
struct str_key {
	const char *const segs[4];
	const char **out;
};

static int get_strs(const struct sp_toml *doc, const char *what, const struct str_key *keys,
		    size_t n, struct sp_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (get_str(doc, what, keys[i].segs, keys[i].out, err) < 0)
			return -1;
	return 0;
}

/* [initdata] version and algorithm, and the document's digest under that algorithm. */
static int parse_header(struct sp_initdata *d, const struct sp_toml *doc, struct sp_err *err)
{
	const char *version = NULL, *alg = NULL;
	const struct str_key keys[] = {
		{ { "version" }, &version },
		{ { "algorithm" }, &alg },
	};
	char esc[64];

	if (get_strs(doc, "initdata", keys, sizeof(keys) / sizeof(keys[0]), err) < 0)
		return -1;
	if (!version || !alg)
		return sp_error(err, 0, "initdata: version and algorithm are required");
	if (strcmp(version, "0.1.0") != 0) {
		sp_log_escape(esc, sizeof(esc), version, strlen(version));
		return sp_error(err, 0, "initdata: unsupported version \"%s\" (0.1.0 is)", esc);
	}
	if (strcmp(alg, "sha256") == 0) {
		d->alg = SP_HASH_SHA256;
	} else if (strcmp(alg, "sha384") == 0) {
		d->alg = SP_HASH_SHA384;
	} else if (strcmp(alg, "sha512") == 0) {
		d->alg = SP_HASH_SHA512;
	} else {
		sp_log_escape(esc, sizeof(esc), alg, strlen(alg));
		return sp_error(err, 0, "initdata: unsupported algorithm \"%s\"", esc);
	}
	if (sp_hash_digest(d->alg, d->toml, d->toml_len, d->digest, &d->digest_len) < 0)
		return sp_error(err, 0, "initdata: digest failed");
	return 0;
}

/* The [data] files: aa.toml and cdh.toml are parsed in turn, policy.rego is kept as text. */
static int parse_data(struct sp_initdata *d, struct sp_toml *docs, struct sp_err *err)
{
	const char *aa = NULL, *cdh = NULL;
	const struct str_key keys[] = {
		{ { "data", "aa.toml" }, &aa },
		{ { "data", "cdh.toml" }, &cdh },
		{ { "data", "policy.rego" }, &d->policy },
	};

	for (size_t i = 0; i < docs[DOC_INITDATA].n; i++) {
		const struct sp_toml_ent *x = &docs[DOC_INITDATA].ents[i];
		if (strncmp(x->path, "data\x1f", 5) == 0 && x->type != SP_TOML_STRING)
			return sp_error(err, 0, "initdata: every [data] entry must be a string");
	}
	if (get_strs(&docs[DOC_INITDATA], "initdata", keys, sizeof(keys) / sizeof(keys[0]), err) <
		    0 ||
	    parse_sub(&docs[DOC_AA], "aa.toml", aa, err) < 0 ||
	    parse_sub(&docs[DOC_CDH], "cdh.toml", cdh, err) < 0 ||
	    refuse_literal_credentials(&docs[DOC_INITDATA], &docs[DOC_CDH], err) < 0 ||
	    sp_initdata_check_keys(&docs[DOC_AA], &docs[DOC_CDH], err) < 0)
		return -1;
	return 0;
}

/* aa.toml: the KBS (Kata/CoCo's keys), and ours under [sealpod]. */
static int parse_aa(struct sp_initdata *d, const struct sp_toml *aa, struct sp_err *err)
{
	const char *s = NULL;
	const struct str_key keys[] = {
		{ { "token_configs", "kbs", "url" }, &d->kbs_url },
		{ { "token_configs", "kbs", "cert" }, &d->kbs_cert },
		{ { "token_configs", "kbs", "tee_key_algorithm" }, &d->tee_key_alg },
		{ { "sealpod", "evidence" }, &d->evidence },
		{ { "sealpod", "attestation" }, &s },
	};

	if (get_strs(aa, "aa.toml", keys, sizeof(keys) / sizeof(keys[0]), err) < 0)
		return -1;
	if (s && strcmp(s, "required") != 0 && strcmp(s, "auto") != 0)
		return sp_error(err, 0,
				"aa.toml: [sealpod] attestation must be \"required\" or \"auto\"");
	d->require_attestation = s && strcmp(s, "required") == 0;
	return 0;
}

/* cdh.toml: [kbc] names the same KBS in CDH's own words; aa.toml wins when both do. */
static int parse_cdh_kbc(struct sp_initdata *d, const struct sp_toml *cdh, struct sp_err *err)
{
	const char *curl = NULL, *ccert = NULL;
	const struct str_key keys[] = {
		{ { "kbc", "url" }, &curl },
		{ { "kbc", "kbs_cert" }, &ccert },
	};

	if (get_strs(cdh, "cdh.toml", keys, sizeof(keys) / sizeof(keys[0]), err) < 0)
		return -1;
	if (!d->kbs_url) {
		d->kbs_url = curl;
		if (!d->kbs_cert)
			d->kbs_cert = ccert;
	}
	if (d->kbs_url && *d->kbs_url)
		d->require_attestation = true;
	else
		d->kbs_url = NULL;
	return 0;
}

/* cdh.toml [sealpod] decryption_keys: the KBS resources the guest may fetch to decrypt image
 * layers (JWE private keys; key-provider KEKs, by the packets' kid). None: encrypted layers
 * fail, naming the key they need. */
static int parse_dec_keys(struct sp_initdata *d, const struct sp_toml *cdh, struct sp_err *err)
{
	const struct sp_toml_ent *e =
		sp_toml_get(cdh, (const char *[]){ "sealpod", "decryption_keys", NULL });
	char path[512];

	if (!e)
		return 0;
	if (e->type != SP_TOML_ARRAY || e->narr > sizeof(d->dec_keys) / sizeof(d->dec_keys[0]))
		return sp_error(err, 0, "cdh.toml: decryption_keys must be at most 16 strings");
	for (size_t i = 0; i < e->narr; i++) {
		if (sp_kbs_parse_uri(e->arr[i], path, sizeof(path), err) < 0)
			return sp_error_wrap(err, "cdh.toml decryption_keys");
		d->dec_keys[i] = e->arr[i];
	}
	d->image.decryption_keys = d->dec_keys;
	d->image.n_decryption_keys = e->narr;
	return 0;
}

/* image_security_policy_uri: a KBS resource, so a KBS to fetch it from, and not besides an
 * inline policy (CoCo would silently prefer the URI). */
static int check_sig_policy_uri(struct sp_initdata *d, struct sp_err *err)
{
	char path[512];

	if (!d->image.sig_policy_uri)
		return 0;
	if (d->image.sig_policy)
		return sp_error(err, 0,
				"cdh.toml: image_security_policy and image_security_policy_uri are "
				"both set (set one)");
	if (sp_kbs_parse_uri(d->image.sig_policy_uri, path, sizeof(path), err) < 0)
		return sp_error_wrap(err, "cdh.toml image_security_policy_uri");
	if (!d->kbs_url)
		return sp_error(err, 0,
				"cdh.toml names image_security_policy_uri but no KBS to fetch it "
				"from");
	return 0;
}

/* cdh.toml [image] and our [sealpod] registry settings. */
static int parse_cdh_image(struct sp_initdata *d, const struct sp_toml *cdh, struct sp_err *err)
{
	const struct sp_toml_ent *e;

	if (get_str(cdh, "cdh.toml",
		    (const char *[]){ "image", "authenticated_registry_credentials_uri", NULL },
		    &d->image.auth_uri, err) < 0)
		return -1;
	if (d->image.auth_uri && !*d->image.auth_uri)
		d->image.auth_uri = NULL;
	if (get_str(cdh, "cdh.toml", (const char *[]){ "image", "image_security_policy", NULL },
		    &d->image.sig_policy, err) < 0 ||
	    get_str(cdh, "cdh.toml", (const char *[]){ "image", "image_security_policy_uri", NULL },
		    &d->image.sig_policy_uri, err) < 0 ||
	    check_sig_policy_uri(d, err) < 0)
		return -1;
	if (d->image.auth_uri) {
		char path[512];
		if (sp_kbs_parse_uri(d->image.auth_uri, path, sizeof(path), err) < 0)
			return sp_error_wrap(err, "cdh.toml "
						  "authenticated_registry_credentials_uri");
	}
	e = sp_toml_get(cdh, (const char *[]){ "image", "max_concurrent_layer_downloads_per_image",
					       NULL });
	if (e) {
		if (e->type != SP_TOML_INT || e->i < 1 || e->i > 64)
			return sp_error(err, 0,
					"cdh.toml: max_concurrent_layer_downloads_per_image must "
					"be "
					"1..64");
		d->image.max_parallel_layers = (unsigned)e->i;
	}
	e = sp_toml_get(cdh, (const char *[]){ "sealpod", "insecure_registries", NULL });
	if (e) {
		if (e->type != SP_TOML_ARRAY ||
		    e->narr > sizeof(d->insecure) / sizeof(d->insecure[0]))
			return sp_error(err, 0,
					"cdh.toml: insecure_registries must be at most 16 strings");
		for (size_t i = 0; i < e->narr; i++)
			d->insecure[i] = e->arr[i];
		d->image.insecure_registries = d->insecure;
		d->image.n_insecure_registries = e->narr;
	}
	if (parse_dec_keys(d, cdh, err) < 0)
		return -1;
	return get_str(cdh, "cdh.toml", (const char *[]){ "sealpod", "registry_ca", NULL },
		       &d->image.extra_ca_pem, err);
}

int sp_initdata_parse(char *toml, size_t len, struct sp_initdata *d, struct sp_err *err)
{
	struct sp_toml *docs;

	memset(d, 0, sizeof(*d));
	d->toml = toml;
	d->toml_len = len;
	d->image.max_parallel_layers = 3;
	docs = calloc(NDOCS, sizeof(*docs));
	if (!docs) {
		free(toml);
		d->toml = NULL;
		return sp_error(err, 0, "out of memory");
	}
	d->docs = docs;
	if (memchr(toml, 0, len)) {
		sp_error(err, 0, "initdata: the document holds a NUL byte");
		goto fail;
	}
	if (sp_toml_parse(toml, len, &docs[DOC_INITDATA], err) < 0) {
		sp_error_wrap(err, "initdata");
		goto fail;
	}
	if (parse_header(d, &docs[DOC_INITDATA], err) < 0 || parse_data(d, docs, err) < 0 ||
	    parse_aa(d, &docs[DOC_AA], err) < 0 || parse_cdh_kbc(d, &docs[DOC_CDH], err) < 0 ||
	    parse_cdh_image(d, &docs[DOC_CDH], err) < 0 ||
	    sp_initdata_parse_secrets(&docs[DOC_CDH], d, err) < 0)
		goto fail;
	if (d->nsecrets && !d->kbs_url) {
		sp_error(err, 0,
			 "cdh.toml declares secrets but no KBS is named to fetch them from");
		goto fail;
	}
	return 0;
fail:
	sp_initdata_free(d);
	return -1;
}

void sp_initdata_free(struct sp_initdata *d)
{
	struct sp_toml *docs = d->docs;

	if (docs)
		for (int i = 0; i < NDOCS; i++)
			sp_toml_free(&docs[i]);
	free(docs);
	free(d->toml);
	memset(d, 0, sizeof(*d));
}

static bool serial_is(const char *sysblock, const char *name, const char *want)
{
	char path[512], buf[64];
	size_t n;
	bool trunc;
	struct sp_err e;

	(void)snprintf(path, sizeof(path), "%s/%s/serial", sysblock, name);
	if (sp_read_file(path, buf, sizeof(buf) - 1, &n, &trunc, &e) < 0)
		return false;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static int read_disk(const char *dev, char **toml, size_t *toml_len, bool *magic,
		     struct sp_err *err)
{
	cleanup_close int fd = open(dev, O_RDONLY | O_CLOEXEC);
	cleanup_free uint8_t *buf = NULL;
	uint8_t hdr[16];
	uint64_t glen = 0;
	ssize_t r;

	*magic = false;
	if (fd < 0)
		return sp_error(err, errno, "open %s", dev);
	r = pread(fd, hdr, sizeof(hdr), 0);
	if (r != (ssize_t)sizeof(hdr) || memcmp(hdr, SP_INITDATA_MAGIC, 8) != 0)
		return 0;
	*magic = true;
	for (int i = 7; i >= 0; i--)
		glen = glen << 8 | hdr[8 + i];
	if (glen == 0 || glen > SP_INITDATA_MAX_GZ)
		return sp_error(err, 0, "%s: initdata length %llu is out of range", dev,
				(unsigned long long)glen);
	buf = malloc(16 + glen);
	if (!buf)
		return sp_error(err, 0, "out of memory");
	memcpy(buf, hdr, 16);
	for (size_t off = 0; off < glen;) {
		r = pread(fd, buf + 16 + off, glen - off, (off_t)(16 + off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return sp_error(err, r < 0 ? errno : 0, "read %s", dev);
		off += (size_t)r;
	}
	if (sp_initdata_unpack(buf, 16 + glen, toml, toml_len, err) < 0)
		return sp_error_wrap(err, "%s", dev);
	return 0;
}

int sp_initdata_read_disk(const char *sysblock, const char *devdir, char **toml, size_t *toml_len,
			  bool *found, struct sp_err *err)
{
	DIR *dir = opendir(sysblock);
	struct dirent *de;
	char names[32][32];
	size_t n = 0;
	int pick = -1;

	*found = false;
	if (!dir)
		return 0;
	while ((de = readdir(dir)) != NULL && n < 32) {
		if (strncmp(de->d_name, "vd", 2) != 0 || strlen(de->d_name) >= sizeof(names[0]))
			continue;
		(void)snprintf(names[n++], sizeof(names[0]), "%.31s", de->d_name);
	}
	closedir(dir);
	for (size_t i = 0; i < n && pick < 0; i++)
		if (serial_is(sysblock, names[i], SP_INITDATA_SERIAL))
			pick = (int)i;
	for (size_t i = 0; i < n; i++) {
		char dev[128];
		bool magic;

		if (pick >= 0 && (size_t)pick != i)
			continue;
		if (pick < 0 && serial_is(sysblock, names[i], "sealpod-ephemeral"))
			continue;
		(void)snprintf(dev, sizeof(dev), "%.64s/%.31s", devdir, names[i]);
		if (read_disk(dev, toml, toml_len, &magic, err) < 0)
			return -1;
		if (magic) {
			*found = true;
			return 0;
		}
		if (pick >= 0)
			return sp_error(err, 0,
					"%s (serial %s) does not start with the initdata magic",
					dev, SP_INITDATA_SERIAL);
	}
	return 0;
}
