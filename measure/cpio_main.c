/* sealpod-cpio: writes a bit-reproducible newc cpio archive from one or more list files.
 *
 *   sealpod-cpio [-o FILE] [--mtime SECONDS] [--root DIR] [-D NAME=VALUE]... [--print|--deps]
 *                LIST...
 *
 * mtime comes from --mtime or SOURCE_DATE_EPOCH (one of them is required). Later lists
 * override entries of earlier ones with the same path. With -o the archive appears atomically
 * (a temporary file renamed into place) with mode 0644 whatever the umask. */
#define _GNU_SOURCE
#include "cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	(void)fputs("usage: sealpod-cpio [-o FILE] [--mtime SECONDS] [--root DIR] [-D "
		    "NAME=VALUE]...\n"
		    "                    [--print | --deps] LIST...\n"
		    "  -o, --output FILE  write the archive to FILE (default: stdout)\n"
		    "      --mtime N      mtime of every entry (default: $SOURCE_DATE_EPOCH, "
		    "required)\n"
		    "      --root DIR     directory relative SOURCE paths start from (default: .)\n"
		    "  -D NAME=VALUE      value for ${NAME} in SOURCE paths (before the "
		    "environment)\n"
		    "      --print        print the sorted, resolved entries instead of an "
		    "archive\n"
		    "      --deps         print the host files the archive reads, one a line\n",
		    f);
}

static int parse_mtime(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *s == '-' || errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void print_entries(const struct cpio_list *l, FILE *out)
{
	static const char *const names[] = { "dir", "file", "nod", "nod", "slink" };
	for (size_t i = 0; i < l->n; i++) {
		const struct cpio_entry *e = &l->v[i];
		(void)fprintf(out, "%-5s %s %04o", names[e->type], e->path, e->mode);
		if (e->type == CPIO_FILE || e->type == CPIO_SLINK)
			(void)fprintf(out, " %s", e->data);
		if (e->type == CPIO_NOD_CHR || e->type == CPIO_NOD_BLK)
			(void)fprintf(out, " %c %u %u", e->type == CPIO_NOD_CHR ? 'c' : 'b',
				      e->rmajor, e->rminor);
		(void)fputs(e->implicit ? " (implicit)\n" : "\n", out);
	}
}

static int write_output(struct cpio_list *l, uint32_t mtime, const char *path,
			struct cpio_error *err)
{
	if (!path)
		return cpio_write(l, mtime, stdout, err);

	char tmp[CPIO_PATH_MAX + 16];
	if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp) {
		cpio_fail(err, 0, "output path too long");
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		cpio_fail(err, errno, "create %s", tmp);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	int ret = f && fchmod(fd, 0644) == 0 ? 0 : -1;
	if (ret < 0)
		cpio_fail(err, errno, "open %s", tmp);
	if (ret == 0)
		ret = cpio_write(l, mtime, f, err);
	if (ret == 0 && fsync(fd) < 0) {
		cpio_fail(err, errno, "fsync %s", tmp);
		ret = -1;
	}
	if (f ? fclose(f) != 0 : close(fd) != 0) {
		if (ret == 0)
			cpio_fail(err, errno, "close %s", tmp);
		ret = -1;
	}
	if (ret == 0 && rename(tmp, path) < 0) {
		cpio_fail(err, errno, "rename to %s", path);
		ret = -1;
	}
	if (ret < 0)
		unlink(tmp);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "mtime", required_argument, NULL, 'm' },
		{ "root", required_argument, NULL, 'r' },
		{ "print", no_argument, NULL, 'p' },
		{ "deps", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cpio_parse_ctx ctx = { 0 };
	const char *output = NULL, *mtime_s = getenv("SOURCE_DATE_EPOCH");
	int print = 0, deps = 0, c;

	while ((c = getopt_long(argc, argv, "o:D:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'm':
			mtime_s = optarg;
			break;
		case 'r':
			ctx.root = optarg;
			break;
		case 'p':
			print = 1;
			break;
		case 'd':
			deps = 1;
			break;
		case 'D': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || ctx.nvars == CPIO_MAX_VARS) {
				(void)fprintf(stderr, "sealpod-cpio: bad or too many -D %s\n",
					      optarg);
				return 2;
			}
			*eq = '\0';
			ctx.vars[ctx.nvars].name = optarg;
			ctx.vars[ctx.nvars++].value = eq + 1;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}

	uint32_t mtime = 0;
	if (!print && !deps) {
		if (!mtime_s) {
			(void)fputs("sealpod-cpio: set SOURCE_DATE_EPOCH or pass --mtime\n",
				    stderr);
			return 2;
		}
		if (parse_mtime(mtime_s, &mtime) < 0) {
			(void)fprintf(stderr, "sealpod-cpio: bad mtime %s\n", mtime_s);
			return 2;
		}
	}

	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	int ret = 0;
	cpio_list_init(&l);
	for (int i = optind; i < argc && ret == 0; i++)
		ret = cpio_parse_file(&l, &ctx, argv[i], i - optind, &err);
	if (ret == 0 && (print || deps))
		ret = cpio_finalize(&l, &err);
	if (ret == 0 && print)
		print_entries(&l, stdout);
	else if (ret == 0 && deps)
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].type == CPIO_FILE)
				(void)printf("%s\n", l.v[i].data);
	if (ret == 0 && !print && !deps)
		ret = write_output(&l, mtime, output, &err);
	cpio_list_free(&l);
	if (ret < 0) {
		(void)fprintf(stderr, "sealpod-cpio: %s\n", err.msg);
		return 1;
	}
	return 0;
}
