/* Our declarative policy document (format in init/policy/POLICY.md), parsed with json-c. Strict:
 * an unknown key, an unknown request name, a wrong type or a value out of range refuses the
 * whole document, because a misspelt key would otherwise drop a constraint silently. */
#define _GNU_SOURCE
#include "lib/caps.h"
#include "policy/policy_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/validate.h"

#define DOC "policy.json"

static void put_json(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

static void free_tokener(struct json_tokener **t)
{
	if (*t)
		json_tokener_free(*t);
}

static const char *esc(char buf[64], const char *s)
{
	sp_log_escape(buf, 64, s, strnlen(s, SP_POLICY_MAX_STR));
	return buf;
}

/* A bounded string without NUL; where names the value in errors ("allowed_images[2].digest"). */
static int get_str(struct sp_policy *p, struct json_object *o, const char *where, char **out,
		   struct sp_err *err)
{
	const char *s;
	int n;

	if (!json_object_is_type(o, json_type_string))
		return sp_error(err, 0, DOC ": %s: expected a string", where);
	s = json_object_get_string(o);
	n = json_object_get_string_len(o);
	if (n < 0 || n > SP_POLICY_MAX_STR)
		return sp_error(err, 0, DOC ": %s: string longer than %d bytes", where,
				SP_POLICY_MAX_STR);
	if (memchr(s, '\0', (size_t)n))
		return sp_error(err, 0, DOC ": %s: string contains a NUL character", where);
	*out = sp_policy_strndup(p, s, (size_t)n);
	if (!*out)
		return sp_error(err, ENOMEM, DOC ": %s", where);
	return 0;
}

static int get_bool(struct json_object *o, const char *where, bool *out, struct sp_err *err)
{
	if (!json_object_is_type(o, json_type_boolean))
		return sp_error(err, 0, DOC ": %s: expected true or false", where);
	*out = json_object_get_boolean(o);
	return 0;
}

static int get_strv(struct sp_policy *p, struct json_object *o, const char *where,
		    struct sp_strv *out, struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": %s: expected an array of strings", where);
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_ARGS)
		return sp_error(err, 0, DOC ": %s: %zu entries, over the limit of %d", where, n,
				SP_POLICY_MAX_ARGS);
	out->n = n;
	out->v = sp_policy_alloc(p, (n ? n : 1) * sizeof(char *));
	if (!out->v)
		return sp_error(err, ENOMEM, DOC ": %s", where);
	for (size_t i = 0; i < n; i++) {
		char w[96];

		(void)snprintf(w, sizeof(w), "%.64s[%zu]", where, i);
		if (get_str(p, json_object_array_get_idx(o, i), w, &out->v[i], err) < 0)
			return -1;
	}
	return 0;
}

static int get_u32(struct json_object *o, const char *where, uint32_t *out, struct sp_err *err)
{
	int64_t v;

	if (!json_object_is_type(o, json_type_int))
		return sp_error(err, 0, DOC ": %s: expected an integer", where);
	errno = 0;
	v = json_object_get_int64(o);
	if (errno || v < 0 || v > UINT32_MAX)
		return sp_error(err, 0, DOC ": %s: out of range 0..4294967295", where);
	*out = (uint32_t)v;
	return 0;
}

static int get_gids(struct json_object *o, const char *where, struct sp_gidv *out,
		    struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": %s: expected an array of gids", where);
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_GIDS)
		return sp_error(err, 0, DOC ": %s: %zu entries, over the limit of %d", where, n,
				SP_POLICY_MAX_GIDS);
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		char w[96];

		(void)snprintf(w, sizeof(w), "%.64s[%zu]", where, i);
		if (get_u32(json_object_array_get_idx(o, i), w, &out->v[i], err) < 0)
			return -1;
	}
	return 0;
}

static int unknown_key(const char *where, const char *key, struct sp_err *err)
{
	char b[64];

	return sp_error(err, 0, DOC ": %s: unknown key '%s'", where, esc(b, key));
}

static bool valid_digest(const char *d)
{
	static const struct {
		const char *alg;
		size_t hex;
	} algs[] = { { "sha256:", 64 }, { "sha384:", 96 }, { "sha512:", 128 } };

	for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		size_t k = strlen(algs[a].alg);

		if (strncmp(d, algs[a].alg, k) != 0 || strlen(d + k) != algs[a].hex)
			continue;
		for (const char *c = d + k; *c; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
				return false;
		return true;
	}
	return false;
}

static int parse_process(struct sp_policy *p, struct json_object *o, const char *where,
			 struct sp_policy_image *im, struct sp_err *err)
{
	char w[112];

	if (!json_object_is_type(o, json_type_object))
		return sp_error(err, 0, DOC ": %s: expected an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)snprintf(w, sizeof(w), "%.64s.%.32s", where, key);
		if (strcmp(key, "args") == 0) {
			im->pin_args = true;
			if (get_strv(p, val, w, &im->args, err) < 0)
				return -1;
		} else if (strcmp(key, "env") == 0) {
			im->pin_env = true;
			if (get_strv(p, val, w, &im->env, err) < 0)
				return -1;
			for (size_t i = 0; i < im->env.n; i++) {
				const char *eq = strchr(im->env.v[i], '=');

				if (!eq || eq == im->env.v[i])
					return sp_error(err, 0,
							DOC ": %s[%zu]: expected NAME=value "
							    "or NAME=*",
							w, i);
			}
		} else if (strcmp(key, "user") == 0) {
			im->pin_user = true;
			if (!json_object_is_type(val, json_type_object))
				return sp_error(err, 0,
						DOC ": %s: expected {\"uid\": N, \"gid\": N}", w);
			json_object_object_foreach(val, ukey, uval)
			{
				char u[112];

				(void)snprintf(u, sizeof(u), "%.80s.%.16s", w, ukey);
				if (strcmp(ukey, "uid") == 0) {
					if (get_u32(uval, u, &im->uid, err) < 0)
						return -1;
				} else if (strcmp(ukey, "gid") == 0) {
					if (get_u32(uval, u, &im->gid, err) < 0)
						return -1;
				} else if (strcmp(ukey, "additional_gids") == 0) {
					im->pin_gids = true;
					if (get_gids(uval, u, &im->gids, err) < 0)
						return -1;
				} else {
					return unknown_key(w, ukey, err);
				}
			}
			if (!json_object_object_get_ex(val, "uid", NULL) ||
			    !json_object_object_get_ex(val, "gid", NULL))
				return sp_error(err, 0, DOC ": %s: needs both uid and gid", w);
		} else if (strcmp(key, "cwd") == 0) {
			if (get_str(p, val, w, &im->cwd, err) < 0)
				return -1;
			if (im->cwd[0] != '/')
				return sp_error(err, 0, DOC ": %s: must be an absolute path", w);
		} else if (strcmp(key, "no_new_privileges") == 0) {
			im->pin_nnp = true;
			if (get_bool(val, w, &im->nnp, err) < 0)
				return -1;
		} else {
			return unknown_key(where, key, err);
		}
	}
	return 0;
}

static int parse_images(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": allowed_images: expected an array of objects");
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_IMAGES)
		return sp_error(err, 0, DOC ": allowed_images: %zu entries, over the limit of %d",
				n, SP_POLICY_MAX_IMAGES);
	p->has_images = true;
	p->nimages = n;
	p->images = sp_policy_alloc(p, (n ? n : 1) * sizeof(*p->images));
	if (!p->images)
		return sp_error(err, ENOMEM, DOC ": allowed_images");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);
		struct sp_policy_image *im = &p->images[i];
		char where[48], w[96];

		(void)snprintf(where, sizeof(where), "allowed_images[%zu]", i);
		if (!json_object_is_type(e, json_type_object))
			return sp_error(err, 0, DOC ": %s: expected an object", where);
		json_object_object_foreach(e, key, val)
		{
			(void)snprintf(w, sizeof(w), "%.64s.%.16s", where, key);
			if (strcmp(key, "reference") == 0) {
				if (get_str(p, val, w, &im->reference, err) < 0)
					return -1;
				if (!im->reference[0])
					return sp_error(err, 0, DOC ": %s: empty", w);
			} else if (strcmp(key, "digest") == 0) {
				if (get_str(p, val, w, &im->digest, err) < 0)
					return -1;
				if (!valid_digest(im->digest))
					return sp_error(err, 0,
							DOC ": %s: expected sha256:<64 hex>, "
							    "sha384:<96 hex> or sha512:<128 hex> "
							    "(lowercase)",
							w);
			} else if (strcmp(key, "process") == 0) {
				if (parse_process(p, val, w, im, err) < 0)
					return -1;
			} else if (strcmp(key, "read_only_root") == 0) {
				im->pin_ro_root = true;
				if (get_bool(val, w, &im->ro_root, err) < 0)
					return -1;
			} else {
				return unknown_key(where, key, err);
			}
		}
		if (!im->reference && !im->digest)
			return sp_error(err, 0, DOC ": %s: needs a reference, a digest or both",
					where);
	}
	return 0;
}

/* One allowed_exec entry: an argv array, or {"args": [...], "env": [...], "user": {"uid": N,
 * "gid": N}, "cwd": "/x", "terminal": bool} of which only args is required. */
static int parse_exec_entry(struct sp_policy *p, struct json_object *o, const char *where,
			    struct sp_policy_exec *e, struct sp_err *err)
{
	bool have_args = false;
	char w[96];

	e->terminal = -1;
	if (json_object_is_type(o, json_type_array))
		return get_strv(p, o, where, &e->args, err);
	if (!json_object_is_type(o, json_type_object))
		return sp_error(err, 0, DOC ": %s: expected an argv array or an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)snprintf(w, sizeof(w), "%.64s.%.16s", where, key);
		if (strcmp(key, "args") == 0) {
			have_args = true;
			if (get_strv(p, val, w, &e->args, err) < 0)
				return -1;
		} else if (strcmp(key, "env") == 0) {
			e->pin_env = true;
			if (get_strv(p, val, w, &e->env, err) < 0)
				return -1;
			for (size_t i = 0; i < e->env.n; i++) {
				const char *eq = strchr(e->env.v[i], '=');

				if (!eq || eq == e->env.v[i])
					return sp_error(err, 0,
							DOC ": %s[%zu]: expected NAME=value "
							    "or NAME=*",
							w, i);
			}
		} else if (strcmp(key, "user") == 0) {
			struct json_object *uid, *gid;

			e->pin_user = true;
			if (!json_object_is_type(val, json_type_object) ||
			    json_object_object_length(val) != 2 ||
			    !json_object_object_get_ex(val, "uid", &uid) ||
			    !json_object_object_get_ex(val, "gid", &gid))
				return sp_error(err, 0,
						DOC ": %s: expected {\"uid\": N, \"gid\": N}", w);
			if (get_u32(uid, w, &e->uid, err) < 0 || get_u32(gid, w, &e->gid, err) < 0)
				return -1;
		} else if (strcmp(key, "cwd") == 0) {
			if (get_str(p, val, w, &e->cwd, err) < 0)
				return -1;
			if (!sp_abs_path_ok(e->cwd))
				return sp_error(err, 0,
						DOC ": %s: must be an absolute normalised path", w);
		} else if (strcmp(key, "terminal") == 0) {
			bool t = false;

			if (get_bool(val, w, &t, err) < 0)
				return -1;
			e->terminal = t;
		} else {
			return unknown_key(where, key, err);
		}
	}
	if (!have_args)
		return sp_error(err, 0, DOC ": %s: needs args", where);
	return 0;
}

static int parse_exec(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": allowed_exec: expected an array of argv arrays");
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_EXEC)
		return sp_error(err, 0, DOC ": allowed_exec: %zu entries, over the limit of %d", n,
				SP_POLICY_MAX_EXEC);
	p->has_exec = true;
	p->nexec = n;
	p->exec = sp_policy_alloc(p, (n ? n : 1) * sizeof(*p->exec));
	if (!p->exec)
		return sp_error(err, ENOMEM, DOC ": allowed_exec");
	for (size_t i = 0; i < n; i++) {
		char w[48];

		(void)snprintf(w, sizeof(w), "allowed_exec[%zu]", i);
		if (parse_exec_entry(p, json_object_array_get_idx(o, i), w, &p->exec[i], err) < 0)
			return -1;
		if (p->exec[i].args.n == 0)
			return sp_error(err, 0, DOC ": %s: an empty argv", w);
	}
	return 0;
}

/* One allowed_mounts entry: {"destination": "/abs", "type": "bind", "source": "pattern",
 * "options": [...], "exec": bool}; destination and type are required. */
static int parse_mount_entry(struct sp_policy *p, struct json_object *o, const char *where,
			     struct sp_policy_mount_rule *m, struct sp_err *err)
{
	char w[96];

	if (!json_object_is_type(o, json_type_object))
		return sp_error(err, 0, DOC ": %s: expected an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)snprintf(w, sizeof(w), "%.64s.%.16s", where, key);
		if (strcmp(key, "destination") == 0) {
			if (get_str(p, val, w, &m->destination, err) < 0)
				return -1;
			if (!sp_abs_path_ok(m->destination) || strcmp(m->destination, "/") == 0)
				return sp_error(err, 0,
						DOC ": %s: must be an absolute normalised path, "
						    "not /",
						w);
		} else if (strcmp(key, "type") == 0) {
			if (get_str(p, val, w, &m->type, err) < 0)
				return -1;
			if (!m->type[0])
				return sp_error(err, 0, DOC ": %s: empty", w);
		} else if (strcmp(key, "source") == 0) {
			if (get_str(p, val, w, &m->source, err) < 0)
				return -1;
			if (!m->source[0] || strlen(m->source) > SP_PATH_MAX)
				return sp_error(err, 0, DOC ": %s: empty or too long", w);
		} else if (strcmp(key, "options") == 0) {
			m->has_options = true;
			if (get_strv(p, val, w, &m->options, err) < 0)
				return -1;
		} else if (strcmp(key, "exec") == 0) {
			if (get_bool(val, w, &m->exec, err) < 0)
				return -1;
		} else {
			return unknown_key(where, key, err);
		}
	}
	if (!m->destination || !m->type)
		return sp_error(err, 0, DOC ": %s: needs a destination and a type", where);
	return 0;
}

static int parse_mounts(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": allowed_mounts: expected an array of objects");
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_MOUNTS)
		return sp_error(err, 0, DOC ": allowed_mounts: %zu entries, over the limit of %d",
				n, SP_POLICY_MAX_MOUNTS);
	p->has_mounts = true;
	p->nmounts = n;
	p->mounts = sp_policy_alloc(p, (n ? n : 1) * sizeof(*p->mounts));
	if (!p->mounts)
		return sp_error(err, ENOMEM, DOC ": allowed_mounts");
	for (size_t i = 0; i < n; i++) {
		char w[48];

		(void)snprintf(w, sizeof(w), "allowed_mounts[%zu]", i);
		if (parse_mount_entry(p, json_object_array_get_idx(o, i), w, &p->mounts[i], err) <
		    0)
			return -1;
	}
	return 0;
}

/* One allowed_sysctls entry: {"key": "<safe sysctl>", "value": "<exact value>"}; key required. A
 * key outside the safe list is refused: no policy can make it safe in a shared-kernel pod. */
static int parse_sysctl_entry(struct sp_policy *p, struct json_object *o, const char *where,
			      struct sp_policy_sysctl_rule *r, struct sp_err *err)
{
	char w[96], b[64];

	if (!json_object_is_type(o, json_type_object))
		return sp_error(err, 0, DOC ": %s: expected an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)snprintf(w, sizeof(w), "%.64s.%.16s", where, key);
		if (strcmp(key, "key") == 0) {
			if (get_str(p, val, w, &r->key, err) < 0)
				return -1;
			if (!sp_sysctl_safe(r->key))
				return sp_error(err, 0,
						DOC ": %s: '%s' is not one of the namespaced safe "
						    "sysctls, which no policy can widen",
						w, esc(b, r->key));
		} else if (strcmp(key, "value") == 0) {
			if (get_str(p, val, w, &r->value, err) < 0)
				return -1;
			if (strlen(r->value) > 256 || !sp_sysctl_value_ok(r->value))
				return sp_error(err, 0,
						DOC ": %s: expected a number, range or list of "
						    "them",
						w);
		} else {
			return unknown_key(where, key, err);
		}
	}
	if (!r->key)
		return sp_error(err, 0, DOC ": %s: needs a key", where);
	return 0;
}

static int parse_sysctls(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array))
		return sp_error(err, 0, DOC ": allowed_sysctls: expected an array of objects");
	n = json_object_array_length(o);
	if (n > SP_POLICY_MAX_SYSCTLS)
		return sp_error(err, 0, DOC ": allowed_sysctls: %zu entries, over the limit of %d",
				n, SP_POLICY_MAX_SYSCTLS);
	p->has_sysctls = true;
	p->nsysctls = n;
	p->sysctls = sp_policy_alloc(p, (n ? n : 1) * sizeof(*p->sysctls));
	if (!p->sysctls)
		return sp_error(err, ENOMEM, DOC ": allowed_sysctls");
	for (size_t i = 0; i < n; i++) {
		char w[48];

		(void)snprintf(w, sizeof(w), "allowed_sysctls[%zu]", i);
		if (parse_sysctl_entry(p, json_object_array_get_idx(o, i), w, &p->sysctls[i], err) <
		    0)
			return -1;
	}
	return 0;
}

static int parse_caps(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	struct sp_strv v = { 0 };

	if (get_strv(p, o, "allow_privileged_capabilities", &v, err) < 0)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		int c = sp_cap_from_name(v.v[i]);
		char b[64];

		if (c < 0)
			return sp_error(err, 0,
					DOC ": allow_privileged_capabilities[%zu]: unknown "
					    "capability '%s' (use the CAP_* name)",
					i, esc(b, v.v[i]));
		p->extra_caps |= 1ULL << c;
	}
	return 0;
}

static int parse_rule(struct json_object *o, const char *where, enum sp_rule *out,
		      struct sp_err *err)
{
	const char *s;

	if (json_object_is_type(o, json_type_string)) {
		s = json_object_get_string(o);
		if (strcmp(s, "allow") == 0) {
			*out = SP_RULE_ALLOW;
			return 0;
		}
		if (strcmp(s, "deny") == 0) {
			*out = SP_RULE_DENY;
			return 0;
		}
	}
	return sp_error(err, 0, DOC ": %s: expected \"allow\" or \"deny\"", where);
}

static int parse_requests(struct sp_policy *p, struct json_object *o, struct sp_err *err)
{
	char b[64], w[96];

	if (!json_object_is_type(o, json_type_object))
		return sp_error(err, 0,
				DOC ": requests: expected an object of "
				    "\"<RequestName>\": \"allow\"|\"deny\"");
	json_object_object_foreach(o, key, val)
	{
		int idx = sp_request_index(key);

		if (idx < 0 && strcmp(key, "CheckRequest") == 0)
			return sp_error(err, 0,
					DOC ": requests: CheckRequest (health) is never "
					    "gated and cannot have a rule");
		/* Refused rather than ignored: with "default": "allow", a misspelt deny rule would
		 * silently leave the request open. */
		if (idx < 0)
			return sp_error(err, 0,
					DOC ": requests: unknown request name '%s' (Kata "
					    "request message names, e.g. ExecProcessRequest)",
					esc(b, key));
		(void)snprintf(w, sizeof(w), "requests.%s", key);
		if (parse_rule(val, w, &p->rules[idx], err) < 0)
			return -1;
	}
	return 0;
}

static bool allowed(const struct sp_policy *p, const char *request)
{
	enum sp_rule r = p->rules[sp_request_index(request)];

	return r == SP_RULE_ALLOW || (r == SP_RULE_UNSET && p->def == SP_RULE_ALLOW);
}

static int parse_version(struct sp_policy *p, struct json_object *val, struct sp_err *err)
{
	if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) != 1)
		return sp_error(err, 0, DOC ": version: only version 1 is supported");
	p->version = 1;
	return 0;
}

static int parse_default(struct sp_policy *p, struct json_object *val, struct sp_err *err)
{
	return parse_rule(val, "default", &p->def, err);
}

static int parse_copy_prefix(struct sp_policy *p, struct json_object *val, struct sp_err *err)
{
	char *prefix = NULL;

	if (get_str(p, val, "copy_file_prefix", &prefix, err) < 0 || !prefix)
		return -1;
	if (strlen(prefix) >= sizeof(p->copy_prefix) || !sp_valid_prefix(prefix) ||
	    strncmp(prefix, SP_SHARED_PREFIX, strlen(SP_SHARED_PREFIX)) != 0)
		return sp_error(err, 0,
				DOC ": copy_file_prefix: must be " SP_SHARED_PREFIX
				    " or a normalised directory beneath it ending in '/'");
	(void)snprintf(p->copy_prefix, sizeof(p->copy_prefix), "%s", prefix);
	return 0;
}

static int parse_extra_gids(struct sp_policy *p, struct json_object *val, struct sp_err *err)
{
	return get_gids(val, "pin_allow_additional_gids", &p->pin_extra_gids, err);
}

/* What the checks after the keys need to know was given. */
enum { SEEN_VERSION = 1, SEEN_DEFAULT = 2, SEEN_EXTRA_GIDS = 4 };

/* The top-level keys: a parser, or (parse NULL) a bool of struct sp_policy at offset flag. */
static const struct top_key {
	const char *name;
	int (*parse)(struct sp_policy *p, struct json_object *val, struct sp_err *err);
	size_t flag;
	unsigned seen;
} top_keys[] = {
	{ "version", parse_version, 0, SEEN_VERSION },
	{ "default", parse_default, 0, SEEN_DEFAULT },
	{ "requests", parse_requests, 0, 0 },
	{ "allowed_images", parse_images, 0, 0 },
	{ "allowed_exec", parse_exec, 0, 0 },
	{ "copy_file_prefix", parse_copy_prefix, 0, 0 },
	{ "allow_privileged_capabilities", parse_caps, 0, 0 },
	{ "require_encrypted_storage", NULL, offsetof(struct sp_policy, require_encrypted_storage),
	  0 },
	{ "require_attestation", NULL, offsetof(struct sp_policy, require_attestation), 0 },
	{ "require_encrypted_layers", NULL, offsetof(struct sp_policy, require_encrypted_layers),
	  0 },
	{ "pin_process_to_image", NULL, offsetof(struct sp_policy, pin_process), 0 },
	{ "pin_allow_args_override", NULL, offsetof(struct sp_policy, pin_args_override), 0 },
	{ "pin_allow_extra_env", NULL, offsetof(struct sp_policy, pin_extra_env), 0 },
	{ "pin_allow_workdir_override", NULL, offsetof(struct sp_policy, pin_workdir_override), 0 },
	{ "pin_allow_additional_gids", parse_extra_gids, 0, SEEN_EXTRA_GIDS },
	{ "allowed_mounts", parse_mounts, 0, 0 },
	{ "allowed_sysctls", parse_sysctls, 0, 0 },
	{ "allow_sandbox_pidns", NULL, offsetof(struct sp_policy, allow_sandbox_pidns), 0 },
};

static int parse_top_key(struct sp_policy *p, const char *key, struct json_object *val,
			 unsigned *seen, struct sp_err *err)
{
	for (size_t i = 0; i < sizeof(top_keys) / sizeof(top_keys[0]); i++) {
		const struct top_key *k = &top_keys[i];

		if (strcmp(key, k->name) != 0)
			continue;
		if (k->parse ? k->parse(p, val, err) < 0
			     : get_bool(val, key, (bool *)((char *)p + k->flag), err) < 0)
			return -1;
		*seen |= k->seen;
		return 0;
	}
	return unknown_key("top level", key, err);
}

static int parse_top(struct sp_policy *p, struct json_object *root, struct sp_err *err)
{
	unsigned seen = 0;

	if (!json_object_is_type(root, json_type_object))
		return sp_error(err, 0, DOC ": the document must be a JSON object");
	json_object_object_foreach(root, key, val)
	{
		if (parse_top_key(p, key, val, &seen, err) < 0)
			return -1;
	}
	if (!(seen & SEEN_VERSION))
		return sp_error(err, 0, DOC ": missing \"version\": 1");
	if (!(seen & SEEN_DEFAULT))
		return sp_error(err, 0, DOC ": missing \"default\": \"allow\" or \"deny\"");
	/* Constraints narrow a request the rules allow; on a denied request they are a mistake. */
	if (p->has_exec && !allowed(p, "ExecProcessRequest"))
		return sp_error(err, 0,
				DOC ": allowed_exec is set but ExecProcessRequest is denied "
				    "(add \"ExecProcessRequest\": \"allow\" to requests)");
	if ((p->pin_args_override || p->pin_extra_env || p->pin_workdir_override ||
	     (seen & SEEN_EXTRA_GIDS)) &&
	    !p->pin_process)
		return sp_error(err, 0,
				DOC ": pin_allow_args_override, pin_allow_extra_env, "
				    "pin_allow_workdir_override and pin_allow_additional_gids "
				    "relax "
				    "pin_process_to_image, which is not set");
	if ((p->has_images || p->has_mounts || p->has_sysctls) && !allowed(p, "CreateContainerReque"
									      "st"))
		return sp_error(err, 0,
				DOC ": allowed_images, allowed_mounts or allowed_sysctls is set "
				    "but "
				    "CreateContainerRequest is denied (add "
				    "\"CreateContainerRequest\": \"allow\" to requests)");
	return 0;
}

int sp_policy_json_parse(const char *doc, size_t len, struct json_object **out, struct sp_err *err)
{
	__attribute__((cleanup(free_tokener))) struct json_tokener *tok = NULL;
	__attribute__((cleanup(put_json))) struct json_object *root = NULL;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (sp_policy_doc_ok(doc, len, DOC, err) < 0)
		return -1;
	if (len == 0)
		return sp_error(err, 0, DOC ": empty document");
	tok = json_tokener_new_ex(16);
	if (!tok)
		return sp_error(err, ENOMEM, DOC);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, doc, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue)
		return sp_error(err, 0, DOC ": truncated document (ends inside a value)");
	if (!root || jerr != json_tokener_success)
		return sp_error(err, 0, DOC ": invalid JSON at byte %zu: %s", end,
				json_tokener_error_desc(jerr));
	while (end < len &&
	       (doc[end] == ' ' || doc[end] == '\t' || doc[end] == '\r' || doc[end] == '\n'))
		end++;
	if (end != len)
		return sp_error(err, 0, DOC ": trailing bytes after the document at byte %zu", end);
	*out = root;
	root = NULL;
	return 0;
}

int sp_policy_load_json_tree(struct json_object *root, struct sp_policy **out, struct sp_err *err)
{
	struct sp_policy *p = sp_policy_new(SP_POLICY_JSON);

	if (!p)
		return sp_error(err, ENOMEM, DOC);
	if (parse_top(p, root, err) < 0) {
		sp_policy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int sp_policy_load_json(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err)
{
	__attribute__((cleanup(put_json))) struct json_object *root = NULL;

	if (sp_policy_json_parse(doc, len, &root, err) < 0)
		return -1;
	return sp_policy_load_json_tree(root, out, err);
}
