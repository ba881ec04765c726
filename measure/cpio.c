/* Reproducible newc cpio writer; see cpio.h for the list format and the guarantees. */
#include "cpio.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NEWC_HDR_LEN 110
#define MAX_FIELDS   8

static void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}
#define cleanup_fclose __attribute__((cleanup(fclosep)))

int cpio_fail(struct cpio_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (errnum && n >= 0 && (size_t)n < sizeof err->msg)
		(void)snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
	return -1;
}

void cpio_list_init(struct cpio_list *l)
{
	memset(l, 0, sizeof *l);
}

void cpio_list_free(struct cpio_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].data);
	}
	free(l->v);
	cpio_list_init(l);
}

int cpio_check_path(const char *path, struct cpio_error *err)
{
	size_t len = strlen(path);

	if (path[0] != '/')
		return cpio_fail(err, 0, "path %s is not absolute", path);
	if (len == 1)
		return cpio_fail(err, 0, "path / is the archive root and cannot be listed");
	if (len >= CPIO_PATH_MAX)
		return cpio_fail(err, 0, "path %.64s... is longer than %d bytes", path,
				 CPIO_PATH_MAX - 1);
	for (const char *p = path; *p; p++)
		if (!isgraph((unsigned char)*p))
			return cpio_fail(err, 0, "path %s has a space or control character", path);
	for (const char *c = path + 1;;) {
		const char *end = strchr(c, '/');
		size_t clen = end ? (size_t)(end - c) : strlen(c);
		if (clen == 0)
			return cpio_fail(err, 0, "path %s has an empty component", path);
		if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
			return cpio_fail(err, 0, "path %s has a '.' or '..' component", path);
		if (!end)
			break;
		c = end + 1;
	}
	return 0;
}

static struct cpio_entry *find(struct cpio_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

int cpio_list_add(struct cpio_list *l, enum cpio_type type, const char *path, const char *data,
		  unsigned mode, unsigned rmajor, unsigned rminor, int layer,
		  struct cpio_error *err)
{
	if (cpio_check_path(path, err) < 0)
		return -1;
	if (mode > 07777)
		return cpio_fail(err, 0, "%s: mode %o has bits beyond 07777", path, mode);
	if ((type == CPIO_FILE || type == CPIO_SLINK) && (!data || !*data))
		return cpio_fail(err, 0, "%s: empty source or target", path);
	if (type == CPIO_SLINK && strlen(data) >= CPIO_PATH_MAX)
		return cpio_fail(err, 0, "%s: link target longer than %d bytes", path,
				 CPIO_PATH_MAX - 1);

	int has_data = type == CPIO_FILE || type == CPIO_SLINK;
	struct cpio_entry *e = find(l, path);
	if (e && e->layer == layer && !e->implicit)
		return cpio_fail(err, 0, "%s is listed twice", path);
	if (!e && l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct cpio_entry *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return cpio_fail(err, ENOMEM, "%s", path);
		l->v = v;
		l->cap = cap;
	}

	char *p = strdup(path);
	char *d = has_data ? strdup(data) : NULL;
	if (!p || (has_data && !d)) {
		free(p);
		free(d);
		return cpio_fail(err, ENOMEM, "%s", path);
	}
	if (e) {
		free(e->path);
		free(e->data);
	} else {
		e = &l->v[l->n++];
	}
	*e = (struct cpio_entry){ .path = p,
				  .data = d,
				  .type = type,
				  .mode = mode,
				  .rmajor = rmajor,
				  .rminor = rminor,
				  .layer = layer };
	return 0;
}

static int parse_uint(const char *s, int base, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static const char *lookup_var(const struct cpio_parse_ctx *ctx, const char *name)
{
	for (size_t i = 0; ctx && i < ctx->nvars; i++)
		if (strcmp(ctx->vars[i].name, name) == 0)
			return ctx->vars[i].value;
	return getenv(name);
}

/* Expands ${NAME} in src and makes a relative result relative to ctx->root. */
static int expand_source(const struct cpio_parse_ctx *ctx, const char *src, char *out,
			 size_t outlen, const char *where, struct cpio_error *err)
{
	char buf[CPIO_PATH_MAX * 2];
	size_t n = 0;

	for (const char *s = src; *s;) {
		const char *piece = s;
		size_t plen = 1;
		char name[128];
		if (s[0] == '$' && s[1] == '{') {
			const char *close = strchr(s + 2, '}');
			size_t nlen = close ? (size_t)(close - s - 2) : 0;
			if (!close || nlen == 0 || nlen >= sizeof name)
				return cpio_fail(err, 0, "%s: bad variable reference in %s", where,
						 src);
			memcpy(name, s + 2, nlen);
			name[nlen] = '\0';
			piece = lookup_var(ctx, name);
			if (!piece || !*piece)
				return cpio_fail(err, 0, "%s: ${%s} is not set (in %s)", where,
						 name, src);
			plen = strlen(piece);
			s = close + 1;
		} else {
			s++;
		}
		if (n + plen >= sizeof buf)
			return cpio_fail(err, 0, "%s: source path %s is too long", where, src);
		memcpy(buf + n, piece, plen);
		n += plen;
	}
	buf[n] = '\0';

	int len;
	if (buf[0] == '/' || !ctx || !ctx->root)
		len = snprintf(out, outlen, "%s", buf);
	else
		len = snprintf(out, outlen, "%s/%s", ctx->root, buf);
	if (len < 0 || (size_t)len >= outlen)
		return cpio_fail(err, 0, "%s: source path %s is too long", where, src);
	return 0;
}

/* cpio_list_add with the list file and line in front of its message. */
static int add_at(struct cpio_list *l, enum cpio_type type, const char *path, const char *data,
		  unsigned mode, unsigned rmajor, unsigned rminor, int layer, const char *where,
		  struct cpio_error *err)
{
	struct cpio_error inner;
	if (cpio_list_add(l, type, path, data, mode, rmajor, rminor, layer, &inner) < 0)
		return cpio_fail(err, 0, "%s: %s", where, inner.msg);
	return 0;
}

int cpio_parse_line(struct cpio_list *l, const struct cpio_parse_ctx *ctx, const char *line,
		    int layer, const char *where, struct cpio_error *err)
{
	char copy[CPIO_PATH_MAX * 3];
	char *f[MAX_FIELDS + 1];
	size_t nf = 0;

	if (strlen(line) >= sizeof copy)
		return cpio_fail(err, 0, "%s: line too long", where);
	memcpy(copy, line, strlen(line) + 1);
	for (char *save = NULL, *t = strtok_r(copy, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (t[0] == '#')
			break;
		if (nf == MAX_FIELDS)
			return cpio_fail(err, 0, "%s: too many fields", where);
		f[nf++] = t;
	}
	if (nf == 0)
		return 0;

	unsigned mode, maj, min;
	const char *kw = f[0];
	if (strcmp(kw, "dir") == 0) {
		if (nf != 3)
			return cpio_fail(err, 0, "%s: expected 'dir PATH MODE'", where);
		if (parse_uint(f[2], 8, 07777, &mode) < 0)
			return cpio_fail(err, 0, "%s: bad mode %s", where, f[2]);
		return add_at(l, CPIO_DIR, f[1], NULL, mode, 0, 0, layer, where, err);
	}
	if (strcmp(kw, "file") == 0) {
		char src[CPIO_PATH_MAX * 2];
		if (nf != 4)
			return cpio_fail(err, 0, "%s: expected 'file PATH SOURCE MODE'", where);
		if (parse_uint(f[3], 8, 07777, &mode) < 0)
			return cpio_fail(err, 0, "%s: bad mode %s", where, f[3]);
		if (expand_source(ctx, f[2], src, sizeof src, where, err) < 0)
			return -1;
		return add_at(l, CPIO_FILE, f[1], src, mode, 0, 0, layer, where, err);
	}
	if (strcmp(kw, "nod") == 0) {
		if (nf != 6)
			return cpio_fail(err, 0, "%s: expected 'nod PATH MODE c|b MAJOR MINOR'",
					 where);
		if (parse_uint(f[2], 8, 07777, &mode) < 0)
			return cpio_fail(err, 0, "%s: bad mode %s", where, f[2]);
		if (strcmp(f[3], "c") != 0 && strcmp(f[3], "b") != 0)
			return cpio_fail(err, 0, "%s: device type %s is not c or b", where, f[3]);
		if (parse_uint(f[4], 10, 0xfff, &maj) < 0 ||
		    parse_uint(f[5], 10, 0xfffff, &min) < 0)
			return cpio_fail(err, 0, "%s: bad device number %s %s", where, f[4], f[5]);
		enum cpio_type t = f[3][0] == 'c' ? CPIO_NOD_CHR : CPIO_NOD_BLK;
		return add_at(l, t, f[1], NULL, mode, maj, min, layer, where, err);
	}
	if (strcmp(kw, "slink") == 0) {
		if (nf != 4)
			return cpio_fail(err, 0, "%s: expected 'slink PATH TARGET MODE'", where);
		if (parse_uint(f[3], 8, 07777, &mode) < 0)
			return cpio_fail(err, 0, "%s: bad mode %s", where, f[3]);
		return add_at(l, CPIO_SLINK, f[1], f[2], mode, 0, 0, layer, where, err);
	}
	return cpio_fail(err, 0, "%s: unknown entry type '%s'", where, kw);
}

int cpio_parse_stream(struct cpio_list *l, const struct cpio_parse_ctx *ctx, FILE *in,
		      const char *name, int layer, struct cpio_error *err)
{
	char line[CPIO_PATH_MAX * 3];
	char where[CPIO_PATH_MAX];
	unsigned lineno = 0;

	while (fgets(line, sizeof line, in)) {
		lineno++;
		(void)snprintf(where, sizeof where, "%s:%u", name, lineno);
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n')
			return cpio_fail(err, 0, "%s: line too long", where);
		if (cpio_parse_line(l, ctx, line, layer, where, err) < 0)
			return -1;
	}
	if (ferror(in))
		return cpio_fail(err, errno, "read %s", name);
	return 0;
}

int cpio_parse_file(struct cpio_list *l, const struct cpio_parse_ctx *ctx, const char *path,
		    int layer, struct cpio_error *err)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return cpio_fail(err, errno, "open %s", path);
	return cpio_parse_stream(l, ctx, f, path, layer, err);
}

/* Path order with '/' below every other byte: a directory's whole subtree directly follows
 * it, and a parent always sorts before its children. */
static int path_cmp(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct cpio_entry *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct cpio_entry *)b)->path;
	while (*x && *x == *y) {
		x++;
		y++;
	}
	int cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
	return cx - cy;
}

int cpio_finalize(struct cpio_list *l, struct cpio_error *err)
{
	/* Add missing parents; entries appended here are themselves scanned by the loop. */
	for (size_t i = 0; i < l->n; i++) {
		char parent[CPIO_PATH_MAX];
		(void)snprintf(parent, sizeof parent, "%s", l->v[i].path);
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			continue;
		*slash = '\0';
		struct cpio_entry *p = find(l, parent);
		if (!p) {
			if (cpio_list_add(l, CPIO_DIR, parent, NULL, 0755, 0, 0, -1, err) < 0)
				return -1;
			l->v[l->n - 1].implicit = 1;
		} else if (p->type != CPIO_DIR) {
			return cpio_fail(err, 0, "%s: parent %s is not a directory", l->v[i].path,
					 parent);
		}
	}
	qsort(l->v, l->n, sizeof *l->v, path_cmp);
	return 0;
}

static int put_header(FILE *out, uint32_t ino, uint32_t mode, uint32_t nlink, uint32_t mtime,
		      uint32_t size, uint32_t rmaj, uint32_t rmin, const char *name,
		      struct cpio_error *err)
{
	static const char zeros[4];
	size_t namesize = strlen(name) + 1;
	int n = fprintf(out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s%c", ino,
			mode, 0u, 0u, nlink, mtime, size, 0u, 0u, rmaj, rmin, (uint32_t)namesize,
			0u, name, '\0');
	if (n < 0)
		return cpio_fail(err, errno, "write header of %s", name);
	size_t pad = (4 - (NEWC_HDR_LEN + namesize) % 4) % 4;
	if (pad && fwrite(zeros, 1, pad, out) != pad)
		return cpio_fail(err, errno, "write header of %s", name);
	return 0;
}

static int put_pad(FILE *out, uint64_t size, struct cpio_error *err)
{
	static const char zeros[4];
	size_t pad = (size_t)((4 - size % 4) % 4);
	if (pad && fwrite(zeros, 1, pad, out) != pad)
		return cpio_fail(err, errno, "write padding");
	return 0;
}

static int copy_file(FILE *out, const struct cpio_entry *e, uint32_t size, struct cpio_error *err)
{
	char buf[65536];
	uint64_t done = 0;
	cleanup_fclose FILE *in = fopen(e->data, "re");
	if (!in)
		return cpio_fail(err, errno, "open %s (for %s)", e->data, e->path);
	for (;;) {
		size_t n = fread(buf, 1, sizeof buf, in);
		if (n == 0)
			break;
		if (done + n > size)
			return cpio_fail(err, 0, "%s grew while being archived", e->data);
		if (fwrite(buf, 1, n, out) != n)
			return cpio_fail(err, errno, "write %s", e->path);
		done += n;
	}
	if (ferror(in))
		return cpio_fail(err, errno, "read %s", e->data);
	if (done != size)
		return cpio_fail(err, 0, "%s shrank while being archived", e->data);
	return put_pad(out, size, err);
}

int cpio_write(struct cpio_list *l, uint32_t mtime, FILE *out, struct cpio_error *err)
{
	if (cpio_finalize(l, err) < 0)
		return -1;

	/* Check every source first, so a bad list writes nothing. */
	for (size_t i = 0; i < l->n; i++) {
		struct cpio_entry *e = &l->v[i];
		struct stat st;
		if (e->type != CPIO_FILE)
			continue;
		if (stat(e->data, &st) < 0)
			return cpio_fail(err, errno, "source of %s: %s", e->path, e->data);
		if (!S_ISREG(st.st_mode))
			return cpio_fail(err, 0, "source of %s: %s is not a regular file", e->path,
					 e->data);
		if ((uint64_t)st.st_size > UINT32_MAX)
			return cpio_fail(err, 0, "source of %s: %s is 4 GiB or larger", e->path,
					 e->data);
		e->size = (uint32_t)st.st_size;
	}

	uint32_t ino = 1;
	for (size_t i = 0; i < l->n; i++, ino++) {
		const struct cpio_entry *e = &l->v[i];
		const char *name =
			e->path + 1; /* the kernel and cpio(1) expect names without '/' */
		uint32_t type, nlink = 1, size = 0, rmaj = 0, rmin = 0;
		switch (e->type) {
		case CPIO_DIR:
			type = S_IFDIR;
			nlink = 2;
			break;
		case CPIO_FILE:
			type = S_IFREG;
			size = e->size;
			break;
		case CPIO_NOD_CHR:
		case CPIO_NOD_BLK:
			type = e->type == CPIO_NOD_CHR ? S_IFCHR : S_IFBLK;
			rmaj = e->rmajor;
			rmin = e->rminor;
			break;
		case CPIO_SLINK:
			type = S_IFLNK;
			size = (uint32_t)strlen(e->data);
			break;
		default:
			return cpio_fail(err, 0, "%s: bad entry type", e->path);
		}
		if (put_header(out, ino, type | e->mode, nlink, mtime, size, rmaj, rmin, name,
			       err) < 0)
			return -1;
		if (e->type == CPIO_FILE && copy_file(out, e, size, err) < 0)
			return -1;
		if (e->type == CPIO_SLINK &&
		    (fwrite(e->data, 1, size, out) != size || put_pad(out, size, err) < 0))
			return cpio_fail(err, errno, "write %s", e->path);
	}
	if (put_header(out, 0, 0, 1, 0, 0, 0, 0, "TRAILER!!!", err) < 0)
		return -1;
	if (fflush(out) != 0)
		return cpio_fail(err, errno, "flush archive");
	return 0;
}
