/* The cluster settings file (settings.h, settings.json). */
#include "settings.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *const default_env[] = {
	"KUBERNETES_SERVICE_HOST",	 "KUBERNETES_SERVICE_PORT",
	"KUBERNETES_SERVICE_PORT_HTTPS", "KUBERNETES_PORT",
	"KUBERNETES_PORT_443_TCP",	 "KUBERNETES_PORT_443_TCP_PROTO",
	"KUBERNETES_PORT_443_TCP_PORT",	 "KUBERNETES_PORT_443_TCP_ADDR",
};

void sps_defaults(struct sps_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->containerd = SPS_CONTAINERD_2;
	s->shims = SPS_SHIM_GO | SPS_SHIM_RS;
	s->emptydir = SPS_EMPTYDIR_BLOCK;
	(void)snprintf(s->sa_path, sizeof(s->sa_path), "%s",
		       "/var/run/secrets/kubernetes.io/serviceaccount");
	for (size_t i = 0; i < sizeof(default_env) / sizeof(default_env[0]); i++)
		(void)snprintf(s->service_env[s->nservice_env++], SPS_MAX_STR, "%s",
			       default_env[i]);
	(void)snprintf(s->namespace_default, sizeof(s->namespace_default), "default");
	s->require_attestation = true;
}

/* The index of v in choices, or -1 with err naming key. */
static int choice(json_object *v, const char *key, const char *const *choices, size_t n,
		  struct sp_err *err)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";

	for (size_t i = 0; i < n; i++)
		if (strcmp(s, choices[i]) == 0)
			return (int)i;
	return sp_fail(err, SP_E_INVALID, 0, "settings: %s: not one of the allowed values", key);
}

static int str_into(json_object *v, const char *key, char *out, size_t size, struct sp_err *err)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

	if (!s || !s[0] || strlen(s) >= size)
		return sp_fail(err, SP_E_INVALID, 0, "settings: %s: not a string of 1..%zu bytes",
			       key, size - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int bool_into(json_object *v, const char *key, bool *out, struct sp_err *err)
{
	if (!json_object_is_type(v, json_type_boolean))
		return sp_fail(err, SP_E_INVALID, 0, "settings: %s: not true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

static int env_into(json_object *v, struct sps_settings *s, struct sp_err *err)
{
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > SPS_MAX_ENV)
		return sp_fail(err, SP_E_INVALID, 0,
			       "settings: service_env: not a list of up to %d "
			       "names",
			       SPS_MAX_ENV);
	s->nservice_env = 0;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (str_into(json_object_array_get_idx(v, i), "service_env",
			     s->service_env[s->nservice_env++], SPS_MAX_STR, err) < 0)
			return -1;
	return 0;
}

static int one_key(const char *key, json_object *v, struct sps_settings *s, struct sp_err *err)
{
	static const char *const cd[] = { "1.7", "2.x" }, *const ed[] = { "block-encrypted", "share"
											     "d-"
											     "fs" };
	static const char *const shims[] = { "", "go", "runtime-rs", "both" };
	int i;

	if (strcmp(key, "_doc") == 0)
		return 0;
	if (strcmp(key, "containerd") == 0) {
		if ((i = choice(v, key, cd, 2, err)) < 0)
			return -1;
		s->containerd = i ? SPS_CONTAINERD_2 : SPS_CONTAINERD_17;
	} else if (strcmp(key, "shims") == 0) {
		if ((i = choice(v, key, shims + 1, 3, err)) < 0)
			return -1;
		s->shims = (unsigned)i + 1;
	} else if (strcmp(key, "emptydir_mode") == 0) {
		if ((i = choice(v, key, ed, 2, err)) < 0)
			return -1;
		s->emptydir = i ? SPS_EMPTYDIR_SHARED_FS : SPS_EMPTYDIR_BLOCK;
	} else if (strcmp(key, "service_account_path") == 0) {
		return str_into(v, key, s->sa_path, sizeof(s->sa_path), err);
	} else if (strcmp(key, "service_env") == 0) {
		return env_into(v, s, err);
	} else if (strcmp(key, "namespace") == 0) {
		return str_into(v, key, s->namespace_default, sizeof(s->namespace_default), err);
	} else if (strcmp(key, "require_attestation") == 0) {
		return bool_into(v, key, &s->require_attestation, err);
	} else if (strcmp(key, "require_encrypted_storage") == 0) {
		return bool_into(v, key, &s->require_encrypted_storage, err);
	} else {
		return sp_fail(err, SP_E_INVALID, 0, "settings: unknown key '%.64s'", key);
	}
	return 0;
}

int sps_load(const char *text, size_t len, struct sps_settings *s, struct sp_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *root;
	int ret = 0;

	if (!tok)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object))
		ret = sp_fail(err, SP_E_INVALID, 0, "settings: not a JSON object");
	json_tokener_free(tok);
	if (ret == 0) {
		json_object_object_foreach(root, key, v)
		{
			if (one_key(key, v, s, err) < 0) {
				ret = -1;
				break;
			}
		}
	}
	json_object_put(root);
	return ret;
}
