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

static int apply_default(struct sp_policy *p, const struct line *l, unsigned *first_line,
			 struct sp_err *err)
{
	char name[128] = "";
	bool value = false;
	int idx;

	if (parse_default(l, name, sizeof(name), &value, err) < 0)
		return -1;
	if (strcmp(name, "AllowRequestsFailingPolicy") == 0) {
		if (value)
			return refuse(l,
				      "log-only denials (AllowRequestsFailingPolicy) are "
				      "not supported",
				      err);
		return 0;
	}
	if (strcmp(name, "CheckRequest") == 0) {
		sp_policy_warn(p, "policy.rego line %u: CheckRequest is never gated; rule ignored",
			       l->no);
		return 0;
	}
	idx = sp_request_index(name);
	if (idx < 0) {
		/* Harmless either way: an unknown name is a request we never serve, and a request
		 * without a rule is denied, so a misspelt name cannot open anything. */
		sp_policy_warn(p, "policy.rego line %u: unknown request '%s' ignored", l->no, name);
		return 0;
	}
	if (first_line[idx]) {
		char what[112];

		(void)snprintf(what, sizeof(what), "a second default for %.48s (first on line %u)",
			       name, first_line[idx]);
		return refuse(l, what, err);
	}
	first_line[idx] = l->no;
	p->rules[idx] = value ? SP_RULE_ALLOW : SP_RULE_DENY;
	return 0;
}

static int parse_line(struct sp_policy *p, const struct line *l, bool *have_package,
		      unsigned *first_line, struct sp_err *err)
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
		if (*have_package)
			return refuse(l, "a second package line", err);
		if ((size_t)(end - s) != strlen("agent_policy") ||
		    memcmp(s, "agent_policy", (size_t)(end - s)) != 0)
			return refuse(l, "the package must be agent_policy", err);
		*have_package = true;
		return 0;
	}
	if (!*have_package)
		return refuse(l, "the first statement must be `package agent_policy`", err);
	if (word(l->s, l->n, "default"))
		return apply_default(p, l, first_line, err);
	if (word(l->s, l->n, "import"))
		return refuse(l, "imports are not supported", err);
	if (memchr(l->s, '{', l->n) || memchr(l->s, '}', l->n))
		return refuse(l, "rules with bodies (genpolicy-generated Rego) are not supported",
			      err);
	return refuse(l, "not a default rule", err);
}

int sp_policy_load_rego(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err)
{
	struct sp_policy *p;
	unsigned *first_line;
	bool have_package = false;
	struct line l = { 0 };
	size_t pos = 0;
	int r = 0;

	if (sp_policy_doc_ok(doc, len, "policy.rego", err) < 0)
		return -1;
	p = sp_policy_new(SP_POLICY_REGO);
	first_line = p ? sp_policy_alloc(p, sp_nrequests * sizeof(*first_line)) : NULL;
	if (!first_line) {
		sp_policy_free(p);
		return sp_error(err, ENOMEM, "policy.rego");
	}
	p->def = SP_RULE_DENY;
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
			r = parse_line(p, &l, &have_package, first_line, err);
	}
	if (r == 0 && !have_package)
		r = sp_error(err, 0, "policy.rego: no `package agent_policy` line (empty policy)");
	if (r < 0) {
		sp_policy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}
