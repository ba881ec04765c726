/* The Rego subset: a file of only `package agent_policy`, `default <Name> := true|false`,
 * comments and blank lines (what Kata's allow-all style files are). We embed no Rego engine, so
 * anything else would be a rule we cannot evaluate: the whole file is refused, naming the first
 * line outside the subset (fail closed). As in Kata, a request without a rule is denied. */
#define _GNU_SOURCE
#include "policy/policy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define SUBSET	"sealpod accepts only `package agent_policy` and `default <Name> := true|false`"
#define EXCERPT 48

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

/* Is s[0..n) the word w followed by a blank or the end? */
static bool word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && memcmp(s, w, k) == 0 && (n == k || blank(s[k]));
}

struct line {
	const char *s; /* trimmed, comment removed */
	size_t n;
	unsigned no;
};

static int refuse(const struct line *l, const char *what, struct sp_err *err)
{
	char ex[EXCERPT];

	sp_log_escape(ex, sizeof(ex), l->s, l->n);
	return sp_error(err, 0, "policy.rego line %u: '%s': %s; " SUBSET, l->no, ex, what);
}

/* Parses "default <Name> := true|false" (with optional blanks around ":="). */
static int parse_default(const struct line *l, char *name, size_t namelen, bool *value,
			 struct sp_err *err)
{
	const char *s = l->s, *end = l->s + l->n, *id;
	size_t idn;

	s += strlen("default");
	while (s < end && blank(*s))
		s++;
	id = s;
	if (s == end || !ident_start(*s))
		return refuse(l, "expected a rule name after `default`", err);
	while (s < end && ident_char(*s))
		s++;
	idn = (size_t)(s - id);
	if (idn >= namelen)
		return refuse(l, "rule name too long", err);
	memcpy(name, id, idn);
	name[idn] = '\0';
	while (s < end && blank(*s))
		s++;
	if (end - s < 2 || s[0] != ':' || s[1] != '=')
		return refuse(l,
			      "expected `:=` after the rule name (rules with arguments, bodies "
			      "or `=` are not supported)",
			      err);
	s += 2;
	while (s < end && blank(*s))
		s++;
	if ((size_t)(end - s) == 4 && memcmp(s, "true", 4) == 0)
		*value = true;
	else if ((size_t)(end - s) == 5 && memcmp(s, "false", 5) == 0)
		*value = false;
	else
		return refuse(l, "a default may only be `true` or `false`", err);
	return 0;
}

/* A default line's meaning; refusals quote the line as PID 1 rebuilt it from its fixed form. */
static int apply_default(struct sp_policy *p, const struct sp_rego_default *d, unsigned *first_line,
			 struct sp_err *err)
{
	char text[160];
	struct line l = { .s = text, .no = d->line };
	int idx;

	l.n = (size_t)snprintf(text, sizeof(text), "default %s := %s", d->name,
			       d->value ? "true" : "false");
	if (l.n >= sizeof(text))
		l.n = sizeof(text) - 1;
	if (strcmp(d->name, "AllowRequestsFailingPolicy") == 0) {
		if (d->value)
			return refuse(&l,
				      "log-only denials (AllowRequestsFailingPolicy) are "
				      "not supported",
				      err);
		return 0;
	}
	if (strcmp(d->name, "CheckRequest") == 0) {
		sp_policy_warn(p, "policy.rego line %u: CheckRequest is never gated; rule ignored",
			       d->line);
		return 0;
	}
	idx = sp_request_index(d->name);
	if (idx < 0) {
		/* Harmless either way: an unknown name is a request we never serve, and a request
		 * without a rule is denied, so a misspelt name cannot open anything. */
		sp_policy_warn(p, "policy.rego line %u: unknown request '%s' ignored", d->line,
			       d->name);
		return 0;
	}
	if (first_line[idx]) {
		char what[112];

		(void)snprintf(what, sizeof(what), "a second default for %.48s (first on line %u)",
			       d->name, first_line[idx]);
		return refuse(&l, what, err);
	}
	first_line[idx] = d->line;
	p->rules[idx] = d->value ? SP_RULE_ALLOW : SP_RULE_DENY;
	return 0;
}

struct scan {
	struct sp_rego_default *defs;
	size_t max, n;
	bool have_package;
};

static int parse_line(struct scan *sc, const struct line *l, struct sp_err *err)
{
	for (size_t i = 0; i < l->n; i++)
		if ((unsigned char)l->s[i] < 0x20 && l->s[i] != '\t')
			return refuse(l, "control character", err);
		else if ((unsigned char)l->s[i] >= 0x7f)
			return refuse(l, "non-ASCII byte", err);
	if (word(l->s, l->n, "package")) {
		const char *s = l->s + 7, *end = l->s + l->n;

		while (s < end && blank(*s))
			s++;
		if (sc->have_package)
			return refuse(l, "a second package line", err);
		if ((size_t)(end - s) != strlen("agent_policy") ||
		    memcmp(s, "agent_policy", (size_t)(end - s)) != 0)
			return refuse(l, "the package must be agent_policy", err);
		sc->have_package = true;
		return 0;
	}
	if (!sc->have_package)
		return refuse(l, "the first statement must be `package agent_policy`", err);
	if (word(l->s, l->n, "default")) {
		struct sp_rego_default *d = &sc->defs[sc->n];

		if (sc->n >= sc->max)
			return refuse(l, "more default rules than a policy may hold", err);
		if (parse_default(l, d->name, sizeof(d->name), &d->value, err) < 0)
			return -1;
		d->line = l->no;
		sc->n++;
		return 0;
	}
	if (word(l->s, l->n, "import"))
		return refuse(l, "imports are not supported", err);
	if (memchr(l->s, '{', l->n) || memchr(l->s, '}', l->n))
		return refuse(l, "rules with bodies (genpolicy-generated Rego) are not supported",
			      err);
	return refuse(l, "not a default rule", err);
}

int sp_policy_rego_scan(const char *doc, size_t len, struct sp_rego_default *defs, size_t max,
			size_t *n, struct sp_err *err)
{
	struct scan sc = { .defs = defs, .max = max };
	struct line l = { 0 };
	size_t pos = 0;
	int r = 0;

	*n = 0;
	if (sp_policy_doc_ok(doc, len, "policy.rego", err) < 0)
		return -1;
	while (pos < len && r == 0) {
		const char *nl = memchr(doc + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - doc) : len;
		const char *hash;

		l.no++;
		l.s = doc + pos;
		l.n = end - pos;
		pos = end + 1;
		hash = memchr(l.s, '#', l.n);
		if (hash)
			l.n = (size_t)(hash - l.s);
		while (l.n && blank(l.s[0])) {
			l.s++;
			l.n--;
		}
		while (l.n && blank(l.s[l.n - 1]))
			l.n--;
		if (l.n)
			r = parse_line(&sc, &l, err);
	}
	if (r == 0 && !sc.have_package)
		r = sp_error(err, 0, "policy.rego: no `package agent_policy` line (empty policy)");
	*n = sc.n;
	return r;
}

int sp_policy_load_rego_defaults(const struct sp_rego_default *defs, size_t n,
				 struct sp_policy **out, struct sp_err *err)
{
	struct sp_policy *p = sp_policy_new(SP_POLICY_REGO);
	unsigned *first_line = p ? sp_policy_alloc(p, sp_nrequests * sizeof(*first_line)) : NULL;

	if (!first_line) {
		sp_policy_free(p);
		return sp_error(err, ENOMEM, "policy.rego");
	}
	p->def = SP_RULE_DENY;
	for (size_t i = 0; i < n; i++)
		if (apply_default(p, &defs[i], first_line, err) < 0) {
			sp_policy_free(p);
			return -1;
		}
	*out = p;
	return 0;
}

int sp_policy_load_rego(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err)
{
	struct sp_rego_default *defs = calloc(SP_POLICY_MAX_REGO_DEFAULTS, sizeof(*defs));
	size_t n;
	int r;

	if (!defs)
		return sp_error(err, ENOMEM, "policy.rego");
	r = sp_policy_rego_scan(doc, len, defs, SP_POLICY_MAX_REGO_DEFAULTS, &n, err);
	if (r == 0)
		r = sp_policy_load_rego_defaults(defs, n, out, err);
	free(defs);
	return r;
}
