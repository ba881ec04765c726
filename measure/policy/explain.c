/* sealpod-policy explain, its input: the policy (a policy document, an initdata document, or
 * the built-in default) and the calls (one call, or a whole Kata request fixture with its
 * ${NAME} placeholders filled in, tests/data/kata-requests/README.md), each call's request
 * decoded into the agent's own protobuf message through the descriptors (init/agent/ctl/pbjson.c).
 * explain_run.c judges them with the guest's gate. */
#define _GNU_SOURCE
#include "explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctl/pbjson.h"
#include "attest/attest_int.h"
#include "agent.pb-c.h"
#include "health.pb-c.h"

#define REQUEST_FILE_MAX ((size_t)64 << 20)

/* Every request message of the agent's .proto files (generated from agent.pb-c.h, health.pb-c.h
 * by the Makefile), to find a call's message by its full name. */
static const ProtobufCMessageDescriptor *const request_descs[] = {
#include "spp-requests.h"
};

/* --- the policy --------------------------------------------------------------------------------- */

static int load_initdata(char *text, size_t len, struct spp_explain *x, struct sp_err *err)
{
	struct sp_initdata d;
	char hex[129];
	int ret;

	if (sp_initdata_parse(text, len, &d, err) < 0) /* takes text */
		return sp_error_wrap(err, "initdata");
	sp_hex(d.digest, d.digest_len, hex);
	x->st.initdata = true;
	x->st.from_initdata = d.policy != NULL;
	x->st.attestation_configured = x->st.attestation_coming = d.require_attestation;
	/* The digest as the guest computes it: what the launch must bind. */
	(void)snprintf(x->source, sizeof(x->source), "initdata %s:%s (%s)", sp_hash_name(d.alg),
		       hex, d.policy ? "its policy" : "no policy: the built-in default");
	x->text = d.policy ? strdup(d.policy) : NULL;
	ret = d.policy ? sp_policy_load(d.policy, strlen(d.policy), &x->policy, err)
		       : sp_policy_builtin(&x->policy, err);
	sp_initdata_free(&d);
	return ret;
}

int spp_explain_load_policy(const char *path, struct spp_explain *x, struct sp_err *err)
{
	char *text;
	size_t len;
	const char *p;

	if (strcmp(path, "builtin") == 0) {
		(void)snprintf(x->source, sizeof(x->source), "the built-in default");
		return sp_policy_builtin(&x->policy, err);
	}
	if (spp_read_file(path, SP_INITDATA_MAX_TOML, &text, &len, err) < 0)
		return -1;
	/* initdata is TOML whose first key is version; a policy is JSON or Rego lines. */
	p = text + strspn(text, " \t\r\n");
	if (strncmp(p, "version", 7) == 0 && strstr(text, "[data]"))
		return load_initdata(text, len, x, err) < 0 ? sp_error_wrap(err, "%s", path) : 0;
	/* A policy document alone reaches a guest in initdata: the guest then attests when the
	 * policy says so, and SetPolicy is closed (--state changes what is assumed). */
	x->st.initdata = x->st.from_initdata = true;
	(void)snprintf(x->source, sizeof(x->source), "%s", path);
	if (sp_policy_load(text, len, &x->policy, err) < 0) {
		free(text);
		return sp_error_wrap(err, "%s", path);
	}
	x->text = text;
	if (sp_policy_requires_attestation(x->policy))
		x->st.attestation_configured = x->st.attestation_coming = true;
	return 0;
}

/* How many leading arguments of argv the entry (a list, or an object with "args") shares. */
static size_t shared_prefix(json_object *entry, char *const *argv, size_t argc, json_object **args)
{
	size_t k = 0;

	*args = entry;
	if (json_object_is_type(entry, json_type_object) &&
	    !json_object_object_get_ex(entry, "args", args))
		return 0;
	if (!json_object_is_type(*args, json_type_array))
		return 0;
	while (k < argc && k < json_object_array_length(*args) &&
	       strcmp(json_object_get_string(json_object_array_get_idx(*args, k)), argv[k]) == 0)
		k++;
	return k;
}

void spp_explain_nearest_exec(const struct spp_explain *x, char *const *argv, size_t argc,
			      char *buf, size_t len)
{
	json_object *doc = x->text ? json_tokener_parse(x->text) : NULL, *list, *best = NULL;
	size_t best_k = 0, best_i = 0, n;

	buf[0] = '\0';
	if (!doc || !json_object_object_get_ex(doc, "allowed_exec", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		json_object_put(doc);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *args;
		size_t k = shared_prefix(json_object_array_get_idx(list, i), argv, argc, &args);

		if (json_object_is_type(args, json_type_array) && (!best || k > best_k)) {
			best = args;
			best_k = k;
			best_i = i;
		}
	}
	if (!best) {
		json_object_put(doc);
		return;
	}
	n = json_object_array_length(best);
	if (best_k < argc && best_k < n)
		(void)snprintf(buf, len,
			       "nearest: allowed_exec[%zu], which has argv[%zu] '%.80s' where the "
			       "request has '%.80s'",
			       best_i, best_k,
			       json_object_get_string(json_object_array_get_idx(best, best_k)),
			       argv[best_k]);
	else
		(void)snprintf(buf, len,
			       "nearest: allowed_exec[%zu], which has %zu arguments where the "
			       "request "
			       "has %zu",
			       best_i, n, argc);
	json_object_put(doc);
}

/* --- placeholders ------------------------------------------------------------------------------- */

static json_object *value_of(const struct spp_explain *x, const char *name, size_t n)
{
	json_object *v;
	char key[64];

	if (n >= sizeof(key))
		return NULL;
	memcpy(key, name, n);
	key[n] = '\0';
	if (x->overrides && json_object_object_get_ex(x->overrides, key, &v))
		return v;
	if (x->defaults && json_object_object_get_ex(x->defaults, key, &v))
		return v;
	return NULL;
}

static void b64url(struct spp_buf *b, const char *s)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
				  "_";
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16 |
			     (i + 1 < n ? (uint32_t)(unsigned char)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
		char q[4] = { tab[v >> 18 & 63], tab[v >> 12 & 63],
			      i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '=' };

		spp_buf_add(b, q, 4);
	}
}

static const char *text_of(json_object *v)
{
	return json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* A string with its placeholders: exactly "${NAME}" is the value itself (*whole), else text. */
static int sub_str(const struct spp_explain *x, const char *s, json_object **out,
		   struct sp_err *err)
{
	struct spp_buf b = { 0 };
	const char *p = s;

	while (*p) {
		const char *open = strstr(p, "${"), *close, *name;
		bool url;
		json_object *v;

		if (!open) {
			spp_buf_add(&b, p, strlen(p));
			break;
		}
		close = strchr(open, '}');
		if (!close) {
			spp_buf_add(&b, p, strlen(p));
			break;
		}
		spp_buf_add(&b, p, (size_t)(open - p));
		name = open + 2;
		url = strncmp(name, "b64url:", 7) == 0;
		name += url ? 7 : 0;
		v = value_of(x, name, (size_t)(close - name));
		if (!v) {
			spp_buf_free(&b);
			return sp_fail(err, SP_E_INVALID, 0, "no value for %.*s (--set NAME=VALUE)",
				       (int)(close - open + 1), open);
		}
		if (!url && open == s && !close[1]) {
			spp_buf_free(&b);
			*out = json_object_get(v);
			return 0;
		}
		if (url)
			b64url(&b, text_of(v));
		else
			spp_buf_add(&b, text_of(v), strlen(text_of(v)));
		p = close + 1;
	}
	*out = json_object_new_string(b.p ? b.p : "");
	spp_buf_free(&b);
	return *out && !b.oom ? 0 : sp_error(err, ENOMEM, "placeholders");
}

/* obj with every placeholder filled in (a new reference in *out). */
int spp_explain_substitute(const struct spp_explain *x, json_object *obj, json_object **out,
			   struct sp_err *err)
{
	if (json_object_is_type(obj, json_type_string))
		return sub_str(x, json_object_get_string(obj), out, err);
	if (json_object_is_type(obj, json_type_object)) {
		*out = json_object_new_object();
		json_object_object_foreach(obj, k, v)
		{
			json_object *nv = NULL;

			if (spp_explain_substitute(x, v, &nv, err) < 0) {
				json_object_put(*out);
				return -1;
			}
			json_object_object_add(*out, k, nv);
		}
		return 0;
	}
	if (json_object_is_type(obj, json_type_array)) {
		*out = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(obj); i++) {
			json_object *nv = NULL;

			if (spp_explain_substitute(x, json_object_array_get_idx(obj, i), &nv, err) <
			    0) {
				json_object_put(*out);
				return -1;
			}
			/* "${LIST}" as an item of a list stands for the list's items. */
			if (json_object_is_type(nv, json_type_array) &&
			    json_object_is_type(json_object_array_get_idx(obj, i),
						json_type_string)) {
				for (size_t j = 0; j < json_object_array_length(nv); j++)
					json_object_array_add(
						*out,
						json_object_get(json_object_array_get_idx(nv, j)));
				json_object_put(nv);
			} else {
				json_object_array_add(*out, nv);
			}
		}
		return 0;
	}
	*out = json_object_get(obj);
	return 0;
}

/* --- one call ----------------------------------------------------------------------------------- */

static void b64std(struct spp_buf *b, const char *s, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
				  "/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16 |
			     (i + 1 < n ? (uint32_t)(unsigned char)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
		char q[4] = { tab[v >> 18 & 63], tab[v >> 12 & 63],
			      i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '=' };

		spp_buf_add(b, q, 4);
	}
	if (!n)
		spp_buf_add(b, "", 0);
}

/* The fixture's "bytes" (text for a bytes field) and "size_of" (its length) into req. */
static int add_bytes(json_object *call, json_object *req, struct sp_err *err)
{
	json_object *bytes = NULL, *size_of = NULL;

	if (json_object_object_get_ex(call, "bytes", &bytes)) {
		json_object_object_foreach(bytes, field, text)
		{
			struct spp_buf b = { 0 };

			b64std(&b, json_object_get_string(text),
			       (size_t)json_object_get_string_len(text));
			if (b.oom)
				return sp_error(err, ENOMEM, "bytes");
			json_object_object_add(req, field, json_object_new_string(b.p));
			spp_buf_free(&b);
		}
	}
	if (json_object_object_get_ex(call, "size_of", &size_of)) {
		json_object_object_foreach(size_of, field, of)
		{
			json_object *text;

			if (!bytes ||
			    !json_object_object_get_ex(bytes, json_object_get_string(of), &text))
				return sp_fail(err, SP_E_INVALID, 0, "size_of %s: no such bytes",
					       field);
			json_object_object_add(
				req, field,
				json_object_new_int64(json_object_get_string_len(text)));
		}
	}
	return 0;
}

int spp_explain_decode(json_object *call, ProtobufCMessage **msg, const char **request,
		       struct sp_err *err)
{
	json_object *method, *message, *req;
	const ProtobufCMessageDescriptor *desc = NULL;
	char full[160], why[256];

	if (!json_object_object_get_ex(call, "method", &method) ||
	    !json_object_is_type(method, json_type_string))
		return sp_fail(err, SP_E_INVALID, 0, "a call without a \"method\"");
	*request = sp_policy_request_name(json_object_get_string(method));
	if (!*request)
		return sp_fail(err, SP_E_INVALID, 0, "method %.64s: not one of Kata's agent API",
			       json_object_get_string(method));
	if (json_object_object_get_ex(call, "message", &message))
		(void)snprintf(full, sizeof(full), "%s", json_object_get_string(message));
	else
		(void)snprintf(full, sizeof(full), "grpc.%s", *request);
	for (size_t i = 0; i < sizeof(request_descs) / sizeof(request_descs[0]); i++)
		if (strcmp(request_descs[i]->name, full) == 0)
			desc = request_descs[i];
	if (!desc)
		return sp_fail(err, SP_E_INVALID, 0, "message %.64s: not one of the agent's", full);
	req = json_object_new_object();
	if (!req)
		return sp_error(err, ENOMEM, "request");
	if (json_object_object_get_ex(call, "request", &message)) {
		json_object_object_foreach(message, k, v)
		{
			json_object_object_add(req, k, json_object_get(v));
		}
	}
	if (add_bytes(call, req, err) < 0) {
		json_object_put(req);
		return -1;
	}
	*msg = pbjson_to_message(desc, req, why, sizeof(why));
	json_object_put(req);
	if (!*msg)
		return sp_fail(err, SP_E_INVALID, 0, "%s: %s", full, why);
	return 0;
}
