/* The settings of cdh.toml and aa.toml the guest implements, as tables. A key outside them (a CoCo
 * setting not done here, a typo) stops the boot naming it, so nobody believes a setting is in
 * force when it is not. README.md "Image trust" lists the same keys. */
#include <stdio.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/toml.h"
#include "lib/log.h"

#define S "\x1f"

enum rule {
	ANY,	     /* a value the parsers in initdata.c and secrets.c read and judge */
	SECTION,     /* a table */
	SUBTREE,     /* a key another parser judges whole, value and contents (secrets.c) */
	CC_KBC,	     /* "cc_kbc", the only KBC there is here */
	ONLY_FALSE,  /* a boolean whose true is not implemented */
	EMPTY_ARRAY, /* an empty array (what CoCo's default initdata writes) */
};

struct key_rule {
	const char *path; /* segments joined by SP_TOML_SEP */
	enum rule rule;
	const char *why; /* said when the value is refused */
};

/* cdh.toml, every key. socket, services_dir, aa_socket and log are CDH's own plumbing: there is
 * no CDH process here, so they change nothing and are accepted for CoCo's documents to boot. */
static const struct key_rule cdh_keys[] = {
	{ "socket", ANY, NULL },
	{ "services_dir", ANY, NULL },
	{ "aa", SECTION, NULL },
	{ "aa" S "aa_socket", ANY, NULL },
	{ "log", SECTION, NULL },
	{ "log" S "level", ANY, NULL },
	{ "credentials", EMPTY_ARRAY,
	  "CDH's credential files are not fetched; name KBS resources in [sealpod.secrets]" },
	{ "kbc", SECTION, NULL },
	{ "kbc" S "name", CC_KBC, "only \"cc_kbc\"" },
	{ "kbc" S "url", ANY, NULL },
	{ "kbc" S "kbs_cert", ANY, NULL },
	{ "image", SECTION, NULL },
	{ "image" S "authenticated_registry_credentials_uri", ANY, NULL },
	{ "image" S "max_concurrent_layer_downloads_per_image", ANY, NULL },
	{ "image" S "image_security_policy", ANY, NULL },
	{ "image" S "image_security_policy_uri", ANY, NULL },
	{ "image" S "anonymous_fallback_on_unauthorized", ONLY_FALSE,
	  "only false: an image that needs credentials is never pulled without them" },
	{ "sealpod", SECTION, NULL },
	{ "sealpod" S "insecure_registries", ANY, NULL },
	{ "sealpod" S "registry_ca", ANY, NULL },
	{ "sealpod" S "decryption_keys", ANY, NULL },
	{ "sealpod" S "secrets", SUBTREE, NULL },
};

/* aa.toml's security sections ([token_configs], [sealpod]); the rest of aa.toml is judged where
 * it is read. token_configs.coco_as names the AS that hands workloads tokens through AA's API,
 * which this guest does not serve: accepted so Kata's default initdata boots, used for nothing. */
static const struct key_rule aa_keys[] = {
	{ "token_configs", SECTION, NULL },
	{ "token_configs" S "kbs", SECTION, NULL },
	{ "token_configs" S "kbs" S "url", ANY, NULL },
	{ "token_configs" S "kbs" S "cert", ANY, NULL },
	{ "token_configs" S "kbs" S "tee_key_algorithm", ANY, NULL },
	{ "token_configs" S "coco_as", SECTION, NULL },
	{ "token_configs" S "coco_as" S "url", ANY, NULL },
	{ "sealpod", SECTION, NULL },
	{ "sealpod" S "evidence", ANY, NULL },
	{ "sealpod" S "attestation", ANY, NULL },
};

/* The path as a reader writes it: a.b, elements as [N]; escaped (it came from the host). */
static void key_name(const char *path, char *out, size_t cap)
{
	char plain[256];
	size_t n = 0;

	for (const char *p = path; *p && n + 2 < sizeof(plain); p++) {
		if (*p == SP_TOML_SEP && p[1] == SP_TOML_ELEM)
			continue;
		if (*p == SP_TOML_ELEM) {
			plain[n++] = '[';
			while (p[1] >= '0' && p[1] <= '9' && n + 2 < sizeof(plain))
				plain[n++] = *++p;
			plain[n++] = ']';
			continue;
		}
		plain[n++] = *p == SP_TOML_SEP ? '.' : *p;
	}
	plain[n] = '\0';
	sp_log_escape(out, cap, plain, n);
}

static bool under(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	return strncmp(prefix, path, n) == 0 && path[n] == SP_TOML_SEP;
}

/* The rule the entry falls under, or NULL. */
static const struct key_rule *rule_for(const struct key_rule *rules, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rules[i].path, path) == 0 ||
		    (rules[i].rule == SUBTREE && under(rules[i].path, path)))
			return &rules[i];
	return NULL;
}

static bool value_ok(const struct key_rule *r, const struct sp_toml_ent *e)
{
	switch (r->rule) {
	case SECTION:
		return e->type == SP_TOML_TABLE || strcmp(r->path, e->path) != 0;
	case SUBTREE: /* its parser judges the value too, with its own message */
		return true;
	case CC_KBC:
		return e->type == SP_TOML_STRING && strcmp(e->str, "cc_kbc") == 0;
	case ONLY_FALSE:
		return e->type == SP_TOML_BOOL && !e->b;
	case EMPTY_ARRAY:
		return e->type == SP_TOML_ARRAY && e->narr == 0;
	case ANY:
		break;
	}
	return true;
}

static int check_doc(const struct sp_toml *doc, const char *name, const struct key_rule *rules,
		     size_t nrules, bool only_listed_sections, struct sp_err *err)
{
	for (size_t i = 0; doc && i < doc->n; i++) {
		const struct sp_toml_ent *e = &doc->ents[i];
		const struct key_rule *r = rule_for(rules, nrules, e->path);
		char key[160];

		if (!r && only_listed_sections) {
			const char *sep = strchr(e->path, SP_TOML_SEP);
			size_t n = sep ? (size_t)(sep - e->path) : strlen(e->path);
			bool listed = false;

			for (size_t k = 0; k < nrules && !listed; k++)
				listed = strlen(rules[k].path) == n &&
					 strncmp(rules[k].path, e->path, n) == 0;
			if (!listed)
				continue;
		}
		if (r && value_ok(r, e))
			continue;
		key_name(e->path, key, sizeof(key));
		if (r && r->why)
			return sp_error(err, 0, "initdata.unsupported: %s (%s: %s)", key, name,
					r->why);
		return sp_error(err, 0,
				"initdata.unsupported: %s (%s: not implemented here; README.md "
				"\"Image trust\" lists the supported settings)",
				key, name);
	}
	return 0;
}

int sp_initdata_check_keys(const void *aa, const void *cdh, struct sp_err *err)
{
	if (check_doc(cdh, "cdh.toml", cdh_keys, sizeof(cdh_keys) / sizeof(cdh_keys[0]), false,
		      err) < 0)
		return -1;
	return check_doc(aa, "aa.toml", aa_keys, sizeof(aa_keys) / sizeof(aa_keys[0]), true, err);
}
