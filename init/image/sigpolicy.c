/* containers-policy.json(5), the docker transport (sigpolicy.h). Strict: a member, requirement or
 * identity this guest does not implement is refused naming it, never skipped, so nobody believes
 * a requirement is enforced when it is not. */
#define _GNU_SOURCE
#include "image/sigpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "lib/log.h"

static int bad(struct sp_err *err, const char *where, const char *what)
{
	char w[96];

	sp_log_escape(w, sizeof(w), where, strnlen(where, 80));
	return sp_error(err, 0, "signature policy: %s: %s", w, what);
}

/* Only the listed members. */
static int only_members(json_object *o, const char *where, const char *const *allowed,
			struct sp_err *err)
{
	json_object_object_foreach(o, key, val)
	{
		bool ok = false;
		char k[64], msg[128];

		(void)val;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(allowed[i], key) == 0;
		if (ok)
			continue;
		sp_log_escape(k, sizeof(k), key, strnlen(key, 48));
		(void)snprintf(msg, sizeof(msg), "\"%s\" is not supported here", k);
		return bad(err, where, msg);
	}
	return 0;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int parse_identity(json_object *o, const char *where, struct sp_sigreq *rq,
			  struct sp_err *err)
{
	static const char *const names[] = { "matchRepoDigestOrExact", "matchExact",
					     "matchRepository", "exactReference",
					     "exactRepository" };
	const char *type = member_str(o, "type");
	const char *field = NULL;

	if (!json_object_is_type(o, json_type_object) || !type)
		return bad(err, where, "signedIdentity must be an object with a type");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(type, names[i]) == 0) {
			rq->id = (enum sp_sigid_type)i;
			field = i == SP_SIGID_EXACT_REFERENCE	 ? "dockerReference"
				: i == SP_SIGID_EXACT_REPOSITORY ? "dockerRepository"
								 : "";
		}
	if (!field)
		return bad(err, where,
			   strcmp(type, "remapIdentity") == 0 ? "signedIdentity remapIdentity is "
								"not supported"
							      : "signedIdentity has an unknown "
								"type");
	if (only_members(o, where, (const char *const[]){ "type", field[0] ? field : NULL, NULL },
			 err) < 0)
		return -1;
	if (field[0]) {
		const char *v = member_str(o, field);
		if (!v || !*v || strlen(v) >= sizeof(rq->id_ref))
			return bad(err, where, "signedIdentity needs its reference");
		memcpy(rq->id_ref, v, strlen(v) + 1);
	}
	return 0;
}

/* keyData: the base64 of a PEM public key. */
static int parse_key_data(const char *b64, const char *where, struct sp_sigreq *rq,
			  struct sp_err *err)
{
	size_t n = strlen(b64), pad = 0;
	int got;

	if (n == 0 || n % 4 || n / 4 * 3 >= sizeof(rq->key_pem))
		return bad(err, where, "keyData is not base64 of a key");
	got = EVP_DecodeBlock((unsigned char *)rq->key_pem, (const unsigned char *)b64, (int)n);
	if (got < 0)
		return bad(err, where, "keyData is not base64 of a key");
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	got -= (int)pad;
	rq->key_pem[got] = '\0';
	if (strlen(rq->key_pem) != (size_t)got || !strstr(rq->key_pem, "-----BEGIN PUBLIC "
								       "KEY-----"))
		return bad(err, where, "keyData is not a PEM public key");
	return 0;
}

/* The keys given to the parse (resolve false: list the keyPaths only). */
struct keyset {
	const struct sp_sigkey *keys;
	size_t n;
	bool resolve;
};

/* keyPath: a KBS resource (there are no key files in the guest), listed in p->key_uris and
 * taken from the keys PID 1 fetched. */
static int parse_key_path(const char *kp, const char *where, const struct keyset *ks,
			  struct sp_sigpolicy *p, struct sp_sigreq *rq, struct sp_err *err)
{
	size_t i;

	if (strncmp(kp, "kbs:///", 7) != 0 || strlen(kp) >= SP_SIGKEY_URI_MAX)
		return bad(err, where, "keyPath must name a KBS resource, kbs:///...");
	for (i = 0; i < p->nkey_uris && strcmp(p->key_uris[i], kp) != 0; i++)
		;
	if (i == p->nkey_uris) {
		if (p->nkey_uris == SP_SIGPOLICY_KEYS)
			return bad(err, where, "more than 8 keyPaths");
		memcpy(p->key_uris[p->nkey_uris++], kp, strlen(kp) + 1);
	}
	for (i = 0; ks->resolve && i < ks->n; i++)
		if (strcmp(ks->keys[i].uri, kp) == 0) {
			(void)snprintf(rq->key_pem, sizeof(rq->key_pem), "%s", ks->keys[i].pem);
			return 0;
		}
	return ks->resolve ? bad(err, where, "the keyPath's key was not fetched from the KBS") : 0;
}

static int parse_sigstore(json_object *o, const char *where, const struct keyset *ks,
			  struct sp_sigpolicy *p, struct sp_sigreq *rq, struct sp_err *err)
{
	json_object *id;
	const char *kd = member_str(o, "keyData"), *kp = member_str(o, "keyPath");

	if (json_object_object_get_ex(o, "fulcio", NULL))
		return bad(err, where, "sigstoreSigned keyless (fulcio) is not supported");
	if (json_object_object_get_ex(o, "keyPaths", NULL) ||
	    json_object_object_get_ex(o, "keyDatas", NULL))
		return bad(err, where, "sigstoreSigned keyPaths/keyDatas are not supported");
	if (only_members(o, where,
			 (const char *const[]){ "type", "keyData", "keyPath", "signedIdentity",
						NULL },
			 err) < 0)
		return -1;
	if (!kd == !kp)
		return bad(err, where, "sigstoreSigned needs one of keyData and keyPath");
	rq->type = SP_SIGREQ_SIGSTORE;
	rq->id = SP_SIGID_MATCH_REPO_DIGEST_OR_EXACT;
	if ((kd && parse_key_data(kd, where, rq, err) < 0) ||
	    (kp && parse_key_path(kp, where, ks, p, rq, err) < 0))
		return -1;
	if (json_object_object_get_ex(o, "signedIdentity", &id))
		return parse_identity(id, where, rq, err);
	return 0;
}

static int parse_req(json_object *o, const char *where, const struct keyset *ks,
		     struct sp_sigpolicy *p, struct sp_sigreq *rq, struct sp_err *err)
{
	const char *type = json_object_is_type(o, json_type_object) ? member_str(o, "type") : NULL;

	memset(rq, 0, sizeof(*rq));
	if (!type)
		return bad(err, where, "a requirement must be an object with a type");
	if (strcmp(type, "reject") == 0 || strcmp(type, "insecureAcceptAnything") == 0) {
		rq->type = type[0] == 'r' ? SP_SIGREQ_REJECT : SP_SIGREQ_ACCEPT;
		return only_members(o, where, (const char *const[]){ "type", NULL }, err);
	}
	if (strcmp(type, "sigstoreSigned") == 0)
		return parse_sigstore(o, where, ks, p, rq, err);
	if (strcmp(type, "signedBy") == 0)
		return bad(err, where, "signedBy (simple signing) is not supported");
	return bad(err, where, "unknown requirement type");
}

static int parse_reqs(json_object *a, const char *scope, const struct keyset *ks,
		      struct sp_sigpolicy *p, struct sp_sigreqs *out, struct sp_err *err)
{
	size_t n;

	if (strlen(scope) >= sizeof(out->scope))
		return bad(err, "scope", "too long");
	memcpy(out->scope, scope, strlen(scope) + 1);
	if (!json_object_is_type(a, json_type_array))
		return bad(err, scope, "requirements must be an array");
	n = json_object_array_length(a);
	if (n == 0 || n > SP_SIGPOLICY_REQS)
		return bad(err, scope, "needs 1 to 8 requirements");
	for (size_t i = 0; i < n; i++)
		if (parse_req(json_object_array_get_idx(a, i), scope, ks, p, &out->req[i], err) < 0)
			return -1;
	out->n = n;
	return 0;
}

static int parse_docker(json_object *d, const struct keyset *ks, struct sp_sigpolicy *p,
			struct sp_err *err)
{
	if (!json_object_is_type(d, json_type_object))
		return bad(err, "transports.docker", "must be an object");
	json_object_object_foreach(d, scope, reqs)
	{
		if (p->nscopes == SP_SIGPOLICY_SCOPES)
			return bad(err, "transports.docker", "more than 64 scopes");
		if (parse_reqs(reqs, scope, ks, p, &p->scopes[p->nscopes], err) < 0)
			return -1;
		p->nscopes++;
	}
	return 0;
}

static int parse_policy(const char *json, size_t len, const struct keyset *ks,
			struct sp_sigpolicy *p, struct sp_err *err);

int sp_sigpolicy_parse(const char *json, size_t len, struct sp_sigpolicy *p, struct sp_err *err)
{
	const struct keyset ks = { NULL, 0, false };

	return parse_policy(json, len, &ks, p, err);
}

int sp_sigpolicy_parse_keys(const char *json, size_t len, const struct sp_sigkey *keys,
			    size_t nkeys, struct sp_sigpolicy *p, struct sp_err *err)
{
	const struct keyset ks = { keys, keys ? nkeys : 0, true };

	return parse_policy(json, len, &ks, p, err);
}

static int parse_policy(const char *json, size_t len, const struct keyset *ks,
			struct sp_sigpolicy *p, struct sp_err *err)
{
	json_tokener *tok;
	json_object *o, *v;
	int r = -1;

	memset(p, 0, sizeof(*p));
	if (len > SP_SIGPOLICY_MAX || memchr(json, 0, len))
		return bad(err, "policy", "over 64 KiB or holds a NUL byte");
	tok = json_tokener_new_ex(16);
	if (!tok)
		return sp_error(err, 0, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		bad(err, "policy", "not a JSON object");
		goto out;
	}
	if (only_members(o, "policy", (const char *const[]){ "default", "transports", NULL }, err) <
	    0)
		goto out;
	if (!json_object_object_get_ex(o, "default", &v)) {
		bad(err, "policy", "\"default\" is required");
		goto out;
	}
	if (parse_reqs(v, "default", ks, p, &p->def, err) < 0)
		goto out;
	if (json_object_object_get_ex(o, "transports", &v)) {
		json_object *d;

		if (!json_object_is_type(v, json_type_object) ||
		    only_members(v, "transports", (const char *const[]){ "docker", NULL }, err) <
			    0) {
			if (!json_object_is_type(v, json_type_object))
				bad(err, "transports", "must be an object");
			goto out;
		}
		if (json_object_object_get_ex(v, "docker", &d) && parse_docker(d, ks, p, err) < 0)
			goto out;
	}
	r = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static const struct sp_sigreqs *scope_is(const struct sp_sigpolicy *p, const char *s)
{
	for (size_t i = 0; i < p->nscopes; i++)
		if (strcmp(p->scopes[i].scope, s) == 0)
			return &p->scopes[i];
	return NULL;
}

const struct sp_sigreqs *sp_sigpolicy_select(const struct sp_sigpolicy *p,
					     const struct sp_image_ref *ref)
{
	char name[600], s[800];
	const struct sp_sigreqs *r;
	const char *dot;

	(void)snprintf(name, sizeof(name), "%s/%s", ref->host, ref->repo);
	if (ref->digest[0]) {
		(void)snprintf(s, sizeof(s), "%s@%s", name, ref->digest);
		if ((r = scope_is(p, s)))
			return r;
	}
	if (ref->tag[0]) {
		(void)snprintf(s, sizeof(s), "%s:%s", name, ref->tag);
		if ((r = scope_is(p, s)))
			return r;
	}
	/* The repository, then each namespace above it, down to the host. */
	for (char *slash;;) {
		if ((r = scope_is(p, name)))
			return r;
		slash = strrchr(name, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	/* *.example.com for a.example.com (a host without a port) and every domain above it. */
	for (dot = strchr(ref->host, ':') ? NULL : strchr(ref->host, '.'); dot;
	     dot = strchr(dot + 1, '.')) {
		(void)snprintf(s, sizeof(s), "*%s", dot);
		if ((r = scope_is(p, s)))
			return r;
	}
	if ((r = scope_is(p, "")))
		return r;
	return &p->def;
}

/* A signed reference split: name (host/repo, normalised like a pull's), tag, digest. */
static bool split_signed(const char *signed_ref, struct sp_image_ref *out, bool *has_tag)
{
	struct sp_err e;
	char name[600];
	const char *last;

	if (sp_image_ref_parse(signed_ref, out, &e) < 0)
		return false;
	(void)snprintf(name, sizeof(name), "%.*s", (int)strcspn(signed_ref, "@"), signed_ref);
	last = strrchr(name, '/');
	*has_tag = strchr(last ? last : name, ':') != NULL;
	return true;
}

static bool same_repo(const struct sp_image_ref *a, const struct sp_image_ref *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->repo, b->repo) == 0;
}

/* The pulled reference and the signed one name the same image: same repository, and the same
 * tag (a tagged pull) or digest (a pull by digest). */
static bool exact(const struct sp_image_ref *ref, const struct sp_image_ref *s, bool s_tag)
{
	if (!same_repo(ref, s))
		return false;
	if (ref->digest[0])
		return strcmp(ref->digest, s->digest) == 0 && !s_tag;
	return s_tag && !s->digest[0] && strcmp(ref->tag, s->tag) == 0;
}

bool sp_sigpolicy_identity_ok(const struct sp_sigreq *rq, const struct sp_image_ref *ref,
			      const char *signed_ref)
{
	struct sp_image_ref s, want;
	bool s_tag, w_tag;

	if (!split_signed(signed_ref, &s, &s_tag))
		return false;
	switch (rq->id) {
	case SP_SIGID_MATCH_EXACT:
		return exact(ref, &s, s_tag);
	case SP_SIGID_MATCH_REPO_DIGEST_OR_EXACT:
		return ref->digest[0] ? same_repo(ref, &s) : exact(ref, &s, s_tag);
	case SP_SIGID_MATCH_REPOSITORY:
		return same_repo(ref, &s);
	case SP_SIGID_EXACT_REFERENCE:
		return split_signed(rq->id_ref, &want, &w_tag) && exact(&want, &s, s_tag) &&
		       w_tag == s_tag;
	case SP_SIGID_EXACT_REPOSITORY:
		return split_signed(rq->id_ref, &want, &w_tag) && same_repo(&want, &s);
	}
	return false;
}

/* One sigstoreSigned requirement: some signature verifies with its key, names this digest, and
 * its identity matches. */
static int judge_sigstore(const struct sp_sigreq *rq, const struct sp_image_ref *ref,
			  const char *digest, const struct sp_cosign_sig *sigs, size_t nsigs,
			  struct sp_err *err)
{
	const char *why = "no signature (nothing under the image's .sig tag)";

	for (size_t i = 0; i < nsigs; i++) {
		char sref[300], sdigest[SP_DIGEST_LEN + 1];
		struct sp_err e;

		if (sp_cosign_verify(rq->key_pem, sigs[i].payload, sigs[i].len, sigs[i].sig_b64,
				     &e) < 0) {
			why = "no signature verifies with the policy's key";
			continue;
		}
		if (sp_cosign_payload(sigs[i].payload, sigs[i].len, sref, sdigest, &e) < 0) {
			why = "a signed payload is malformed";
			continue;
		}
		if (strcmp(sdigest, digest) != 0) {
			why = "the signature is for another manifest digest";
			continue;
		}
		if (!sp_sigpolicy_identity_ok(rq, ref, sref)) {
			why = "the signed identity does not match the reference";
			continue;
		}
		return 0;
	}
	return sp_error(err, 0, "%s", why);
}

int sp_sigpolicy_judge(const struct sp_sigreqs *reqs, const struct sp_image_ref *ref,
		       const char *digest, const struct sp_cosign_sig *sigs, size_t nsigs,
		       struct sp_err *err)
{
	char scope[96];

	sp_log_escape(scope, sizeof(scope), reqs->scope, strnlen(reqs->scope, 80));
	for (size_t i = 0; i < reqs->n; i++) {
		const struct sp_sigreq *rq = &reqs->req[i];
		struct sp_err e;

		if (rq->type == SP_SIGREQ_ACCEPT)
			continue;
		if (rq->type == SP_SIGREQ_REJECT)
			return sp_error(err, 0,
					"policy.signature: scope \"%s\" requirement %zu (reject) "
					"refuses %s",
					scope, i, digest);
		if (judge_sigstore(rq, ref, digest, sigs, nsigs, &e) < 0)
			return sp_error(err, 0,
					"policy.signature: scope \"%s\" requirement %zu "
					"(sigstoreSigned) refuses %s: %s",
					scope, i, digest, e.msg);
	}
	return 0;
}
