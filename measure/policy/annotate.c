/* The cc_init_data annotation (spp.h): gzip + standard base64 of the initdata document, which is
 * what both Kata runtimes decode (the Go runtime and runtime-rs: base64, then gunzip), and its
 * insertion into a pod's YAML on the pod template's metadata.
 *
 * The YAML is edited by lines, not re-emitted, so comments, key order, quoting and every other
 * byte of the user's file stay as they were. Only block-style mappings are walked (what kubectl
 * and every generator write); a path through a flow mapping ("metadata: {}") is refused with the
 * line named rather than guessed at. */
#define _GNU_SOURCE
#include "spp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define YAML_MAX_LINES 200000

int spp_annotation_encode(const char *toml, size_t len, char **out, struct sp_err *err)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
				  "/";
	z_stream zs = { 0 };
	uLong cap = compressBound((uLong)len) + 64;
	unsigned char *gz = malloc(cap);
	size_t n, k = 0;
	char *b64;

	/* windowBits 15 + 16: a gzip wrapper, which Kata's decoders require. */
	if (!gz || deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
				Z_DEFAULT_STRATEGY) != Z_OK) {
		free(gz);
		return sp_error(err, ENOMEM, "gzip");
	}
	zs.next_in = (unsigned char *)(uintptr_t)toml;
	zs.avail_in = (uInt)len;
	zs.next_out = gz;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		free(gz);
		return sp_error(err, 0, "gzip: the initdata did not compress");
	}
	n = zs.total_out;
	deflateEnd(&zs);
	b64 = malloc((n + 2) / 3 * 4 + 1);
	if (!b64) {
		free(gz);
		return sp_error(err, ENOMEM, "base64");
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)gz[i] << 16 | (i + 1 < n ? (uint32_t)gz[i + 1] << 8 : 0) |
			     (i + 2 < n ? gz[i + 2] : 0);

		b64[k++] = tab[v >> 18 & 63];
		b64[k++] = tab[v >> 12 & 63];
		b64[k++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		b64[k++] = i + 2 < n ? tab[v & 63] : '=';
	}
	b64[k] = '\0';
	free(gz);
	*out = b64;
	return 0;
}

/* --- the YAML, by lines -------------------------------------------------------------------------- */

struct line {
	size_t off, len; /* without the line break */
	int indent;	 /* -1: blank or a comment */
};

struct doc {
	const char *text;
	struct line *lines;
	size_t first, end; /* the document's lines [first, end) */
	const char *eol;   /* "\n" or "\r\n", as the file writes them */
};

static int line_indent(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len || s[i] == '#' || (s[i] == '\r' && i + 1 == len))
		return -1;
	return (int)i;
}

/* Whether line l is `key:` (block value) or `key: value`; *rest gets what follows the colon. */
static bool is_key(const struct doc *d, size_t l, const char *key, const char **rest, size_t *rlen)
{
	const struct line *ln = &d->lines[l];
	const char *s = d->text + ln->off + ln->indent;
	size_t n = ln->len - (size_t)ln->indent, k = strlen(key);

	if (ln->indent < 0 || n <= k || strncmp(s, key, k) != 0 || s[k] != ':' ||
	    (n > k + 1 && s[k + 1] != ' ' && s[k + 1] != '\r'))
		return false;
	*rest = s + k + 1;
	*rlen = n - k - 1;
	while (*rlen &&
	       (**rest == ' ' || (*rest)[*rlen - 1] == '\r' || (*rest)[*rlen - 1] == ' ')) {
		if (**rest == ' ')
			(*rest)++;
		(*rlen)--;
	}
	if (*rlen && **rest == '#')
		*rlen = 0;
	return true;
}

/* The end of the block under line l: the first later content line indented no deeper. */
static size_t block_end(const struct doc *d, size_t l)
{
	size_t i = l + 1;

	while (i < d->end && (d->lines[i].indent < 0 || d->lines[i].indent > d->lines[l].indent))
		i++;
	return i;
}

/* The children's indentation of the block [from, to) (its first content line), or -1. */
static int child_indent(const struct doc *d, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (d->lines[i].indent >= 0)
			return d->lines[i].indent;
	return -1;
}

/* Finds key among the children of block [from, to) at indentation ind: its line, or `to`. */
static size_t find_child(const struct doc *d, size_t from, size_t to, int ind, const char *key,
			 const char **rest, size_t *rlen)
{
	for (size_t i = from; i < to; i++)
		if (d->lines[i].indent == ind && is_key(d, i, key, rest, rlen))
			return i;
	return to;
}

/* The annotation key as a line may write it: plain, double- or single-quoted. */
static size_t find_annotation(const struct doc *d, size_t from, size_t to, int ind,
			      const char **rest, size_t *rlen)
{
	static const char *const forms[] = { SPP_ANNOTATION, "\"" SPP_ANNOTATION "\"",
					     "'" SPP_ANNOTATION "'" };

	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		size_t l = find_child(d, from, to, ind, forms[f], rest, rlen);

		if (l < to)
			return l;
	}
	return to;
}

/* One change to the text: lines [at, upto) replaced by text. */
struct edit {
	size_t at, upto;
	char *text;
};

static const char *const workload_path[][6] = {
	{ "Pod", "metadata" },
	{ "Deployment", "spec", "template", "metadata" },
	{ "StatefulSet", "spec", "template", "metadata" },
	{ "DaemonSet", "spec", "template", "metadata" },
	{ "ReplicaSet", "spec", "template", "metadata" },
	{ "Job", "spec", "template", "metadata" },
	{ "CronJob", "spec", "jobTemplate", "spec", "template", "metadata" },
};

/* The text of the lines that put the annotation under a new or existing node: `levels` of
 * "metadata:", "annotations:" to open (2, 1 or 0) at indentation ind, then the entry. */
static char *entry_text(const struct doc *d, int ind, int levels, const char *value)
{
	static const char *const open[] = { "metadata", "annotations" };
	struct spp_buf b = { 0 };

	for (int i = 2 - levels; i < 2; i++, ind += 2)
		spp_buf_printf(&b, "%*s%s:%s", ind, "", open[i], d->eol);
	spp_buf_printf(&b, "%*s%s: \"%s\"%s", ind, "", SPP_ANNOTATION, value, d->eol);
	if (b.oom) {
		spp_buf_free(&b);
		return NULL;
	}
	return b.p;
}

static int flow_refused(const struct doc *d, size_t l, struct sp_err *err)
{
	return sp_fail(err, SP_E_UNSUPPORTED, 0,
		       "line %zu: a flow-style or inline value here (write it as a block mapping "
		       "to annotate it)",
		       l + 1);
}

/* Walks from the document root to the node above the template's metadata (path[1..n-2]). */
static int walk(const struct doc *d, const char *const *path, size_t n, size_t *from, size_t *to,
		int *ind, struct sp_err *err)
{
	for (size_t p = 1; p + 1 < n; p++) {
		const char *rest;
		size_t rlen, l = find_child(d, *from, *to, *ind, path[p], &rest, &rlen);

		if (l == *to)
			return sp_fail(err, SP_E_INVALID, 0,
				       "%s: no %s on the way to the pod template", path[0],
				       path[p]);
		if (rlen)
			return flow_refused(d, l, err);
		*from = l + 1;
		*to = block_end(d, l);
		*ind = child_indent(d, *from, *to);
		if (*ind < 0)
			return sp_fail(err, SP_E_INVALID, 0, "%s: %s is empty (line %zu)", path[0],
				       path[p], l + 1);
	}
	return 0;
}

/* The edit that sets the annotation on the pod template of the workload doc (kind path[0]). */
static int plan(const struct doc *d, const char *const *path, size_t n, const char *value,
		struct edit *e, struct sp_err *err)
{
	size_t from = d->first, to = d->end, l, rlen;
	int ind = child_indent(d, from, to), levels = 2;
	const char *rest;

	if (walk(d, path, n, &from, &to, &ind, err) < 0)
		return -1;
	e->at = e->upto = from;
	l = find_child(d, from, to, ind, "metadata", &rest, &rlen);
	if (l < to) {
		if (rlen)
			return flow_refused(d, l, err);
		levels = 1;
		from = l + 1;
		to = block_end(d, l);
		ind = child_indent(d, from, to) < 0 ? ind + 2 : child_indent(d, from, to);
		e->at = e->upto = from;
		l = find_child(d, from, to, ind, "annotations", &rest, &rlen);
		if (l < to) {
			if (rlen)
				return flow_refused(d, l, err);
			levels = 0;
			from = l + 1;
			to = block_end(d, l);
			ind = child_indent(d, from, to) < 0 ? ind + 2 : child_indent(d, from, to);
			e->at = e->upto = from;
			l = find_annotation(d, from, to, ind, &rest, &rlen);
			if (l < to) { /* replaced, with any continuation lines of its old value */
				e->at = l;
				e->upto = block_end(d, l);
			}
		}
	}
	e->text = entry_text(d, ind, levels, value);
	return e->text ? 0 : sp_error(err, ENOMEM, "annotate");
}

/* The document's kind (unquoted), in buf; "" when it has none. */
static void doc_kind(const struct doc *d, char *buf, size_t n)
{
	const char *rest;
	size_t rlen, l = find_child(d, d->first, d->end, 0, "kind", &rest, &rlen);

	buf[0] = '\0';
	if (l == d->end)
		return;
	if (rlen >= 2 && (rest[0] == '"' || rest[0] == '\'') && rest[rlen - 1] == rest[0]) {
		rest++;
		rlen -= 2;
	}
	(void)snprintf(buf, n, "%.*s", (int)rlen, rest);
}

static bool separator(const char *s, size_t len)
{
	return len >= 3 && (strncmp(s, "---", 3) == 0 || strncmp(s, "...", 3) == 0) &&
	       (len == 3 || s[3] == ' ' || s[3] == '\r' || s[3] == '\t');
}

static int split_lines(const char *yaml, size_t len, struct line **out, size_t *nout,
		       struct sp_err *err)
{
	size_t n = 0, cap = 64;
	struct line *v = malloc(cap * sizeof(*v));

	if (!v)
		return sp_error(err, ENOMEM, "annotate");
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(yaml + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - yaml) - off : len - off;

		if (n == cap) {
			struct line *nv = cap < YAML_MAX_LINES ? realloc(v, (cap *= 2) * sizeof(*v))
							       : NULL;
			if (!nv) {
				free(v);
				return sp_fail(err, SP_E_EXHAUSTED, 0,
					       "the YAML has too many lines");
			}
			v = nv;
		}
		v[n++] = (struct line){ off, l, line_indent(yaml + off, l) };
		off += l + (nl ? 1 : 0);
	}
	*out = v;
	*nout = n;
	return 0;
}

/* The edits of every workload document; *nedits 0 is an error (nothing to annotate). */
static int plan_all(struct doc *d, size_t nlines, const char *value, struct edit **edits,
		    size_t *nedits, struct sp_err *err)
{
	size_t ne = 0, start = 0;
	struct edit *v = NULL;

	for (size_t i = 0; i <= nlines; i++) {
		const struct line *ln = i < nlines ? &d->lines[i] : NULL;
		char kind[64];

		if (ln && !separator(d->text + ln->off, ln->len))
			continue;
		d->first = start;
		d->end = i;
		start = i + 1;
		doc_kind(d, kind, sizeof(kind));
		for (size_t k = 0; k < sizeof(workload_path) / sizeof(workload_path[0]); k++) {
			const char *const *path = workload_path[k];
			size_t n = 0;
			struct edit *nv;

			if (strcmp(kind, path[0]) != 0)
				continue;
			while (n < 6 && path[n])
				n++;
			nv = realloc(v, (ne + 1) * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
			if (plan(d, path, n, value, &v[ne], err) < 0)
				goto fail;
			ne++;
		}
	}
	if (!ne) {
		sp_fail(err, SP_E_INVALID, 0,
			"no Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob "
			"document to annotate");
		goto fail;
	}
	*edits = v;
	*nedits = ne;
	return 0;
nomem:
	sp_error(err, ENOMEM, "annotate");
fail:
	for (size_t k = 0; k < ne; k++)
		free(v[k].text);
	free(v);
	return -1;
}

int spp_annotate_yaml(const char *yaml, size_t len, const char *value, char **out, size_t *outlen,
		      struct sp_err *err)
{
	struct doc d = { .text = yaml, .eol = "\n" };
	struct spp_buf b = { 0 };
	struct edit *edits = NULL;
	size_t nlines = 0, ne = 0, pos = 0;
	int ret = -1;

	if (memchr(yaml, '\0', len))
		return sp_fail(err, SP_E_INVALID, 0, "the YAML holds a NUL byte");
	if (split_lines(yaml, len, &d.lines, &nlines, err) < 0)
		return -1;
	if (nlines && d.lines[0].len && yaml[d.lines[0].off + d.lines[0].len - 1] == '\r')
		d.eol = "\r\n";
	if (plan_all(&d, nlines, value, &edits, &ne, err) < 0)
		goto out;
	for (size_t k = 0; k < ne; k++) {
		size_t at = edits[k].at < nlines ? d.lines[edits[k].at].off : len;
		size_t upto = edits[k].upto < nlines ? d.lines[edits[k].upto].off : len;

		spp_buf_add(&b, yaml + pos, at - pos);
		if (at == len && len && yaml[len - 1] != '\n')
			spp_buf_add(&b, d.eol, strlen(d.eol));
		spp_buf_add(&b, edits[k].text, strlen(edits[k].text));
		pos = upto;
	}
	spp_buf_add(&b, yaml + pos, len - pos);
	if (b.oom) {
		sp_error(err, ENOMEM, "annotate");
		goto out;
	}
	*out = b.p;
	*outlen = b.len;
	b.p = NULL;
	ret = 0;
out:
	for (size_t k = 0; k < ne; k++)
		free(edits[k].text);
	free(edits);
	free(d.lines);
	spp_buf_free(&b);
	return ret;
}
