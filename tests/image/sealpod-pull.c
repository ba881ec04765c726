/* sealpod-pull: the guest's image pull as a command, the same code as /init's image_guest_pull
 * driver (init/image/). Two builds: build/host/sealpod-pull-asan (tests/image/build-cli --asan,
 * host libraries, ASan/UBSan) for the image tests, and build/bench/sealpod-pull (the Makefile:
 * linked with the static musl, hardened objects /init is built from) for tests/bench/bench-image.
 *
 *   sealpod-pull [--ca FILE] [--insecure HOST[:PORT]]... [--auth FILE] [--parallel N]
 *                [--max-layer BYTES] [--no-chown] [--no-sandbox] [--quiet]
 *                [--mount TARGET --upper DIR] [--decryption-key URI=FILE]...
 *                [--require-encrypted] REF STORE
 *
 * --decryption-key: a key for encrypted layers as the guest gets it from the KBS (a PEM private
 * key for JWE recipients, or a 32-byte KEK for the key-provider packets whose kid is URI).
 *
 * Prints `key: value` lines (digest, layers, fetched, reused, bytes, entrypoint, cmd, env,
 * workdir, user, seconds); on failure `error: <stage>: <reason>` and exit status 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/decrypt.h"
#include "image/image.h"
#include "lib/fileio.h"
#include "lib/pathat.h"
#include "lib/worker.h"

/* The pull's workers are this binary, exec'd in their mode. */
static const struct sp_worker_def *const workers[] = {
	&sp_pull_meta_worker,
	&sp_pull_layer_worker,
	&sp_layer_fetch_worker,
	&sp_layer_read_worker,
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len + 65536 > cap) {
			cap = (*len + 65536) * 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				exit(2);
		}
		n = fread(buf + *len, 1, 65536, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static void print_strv(const char *key, char **v)
{
	printf("%s:", key);
	for (size_t i = 0; v && v[i]; i++)
		printf(" %s", v[i]);
	printf("\n");
}

/* --mount: the overlay on mnt (an absolute path, created when missing, no symlink on the way). */
static int mount_at(const char *store, const struct sp_pull_result *res, const char *upper,
		    const char *mnt, struct sp_err *err)
{
	char dir[4096];
	const char *base;
	int root, parent, r;
	uint64_t id;

	if (mnt[0] != '/' || snprintf(dir, sizeof(dir), "%s", mnt) >= (int)sizeof(dir) ||
	    !strrchr(dir, '/')[1])
		return sp_error(err, 0, "--mount: an absolute path, please");
	*strrchr(dir, '/') = '\0';
	base = mnt + strlen(dir) + 1;
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	parent = dir[0] ? sp_mkdirs_at(root, dir + 1, 0755, O_PATH, SP_RESOLVE_STRICT, err)
			: fcntl(root, F_DUPFD_CLOEXEC, 0);
	close(root);
	if (parent < 0)
		return -1;
	if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST)
		r = sp_error(err, errno, "mkdir %s", mnt);
	else
		r = sp_image_mount_overlay(store, res, upper, parent, base, &id, err);
	close(parent);
	return r;
}

/* URI=FILE into ks. */
static int add_key(struct sp_dec_keys *ks, char *arg)
{
	char *eq = strchr(arg, '=');
	size_t n = 0;
	char *data;
	int r;

	if (!eq) {
		fprintf(stderr, "--decryption-key: URI=FILE\n");
		return -1;
	}
	*eq = '\0';
	data = slurp(eq + 1, &n);
	r = data ? sp_dec_keys_add(ks, arg, (const uint8_t *)data, n) : -1;
	if (r < 0)
		fprintf(stderr, "--decryption-key: cannot use %s\n", eq + 1);
	free(data);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", 1, 0, 'c' },
		{ "insecure", 1, 0, 'i' },
		{ "auth", 1, 0, 'a' },
		{ "parallel", 1, 0, 'p' },
		{ "max-layer", 1, 0, 'm' },
		{ "no-chown", 0, 0, 'n' },
		{ "no-sandbox", 0, 0, 's' },
		{ "quiet", 0, 0, 'q' },
		{ "mount", 1, 0, 'M' },
		{ "upper", 1, 0, 'u' },
		{ "decryption-key", 1, 0, 'k' },
		{ "require-encrypted", 0, 0, 'E' },
		{ 0, 0, 0, 0 },
	};
	struct sp_pull_opts o = { .chown = true, .sandbox = true };
	static struct sp_dec_keys keys;
	const char *insecure[16];
	const char *ca = SP_IMAGE_CA_BUNDLE, *auth = NULL, *mnt = NULL, *upper = NULL;
	struct sp_pull_result res;
	struct sp_err err = { 0 };
	char *ca_buf, *auth_buf = NULL;
	int c, rc = 0;

	sp_worker_main(argc, argv, workers, sizeof(workers) / sizeof(workers[0]));
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			ca = optarg;
			break;
		case 'i':
			if (o.n_insecure < 16)
				insecure[o.n_insecure++] = optarg;
			break;
		case 'a':
			auth = optarg;
			break;
		case 'p':
			o.parallel = (unsigned)atoi(optarg);
			break;
		case 'm':
			o.max_layer_size = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.chown = false;
			break;
		case 's':
			o.sandbox = false;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'M':
			mnt = optarg;
			break;
		case 'u':
			upper = optarg;
			break;
		case 'E':
			o.require_encrypted = true;
			break;
		case 'k':
			if (add_key(&keys, optarg) < 0)
				return 2;
			o.keys = &keys;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 2 || (mnt && !upper)) {
		fprintf(stderr, "usage: sealpod-pull [options] REF STORE\n");
		return 2;
	}
	o.ref = argv[optind];
	o.store = argv[optind + 1];
	o.insecure = insecure;
	o.ca_pem = ca_buf = slurp(ca, &o.ca_len);
	if (!o.ca_pem) {
		fprintf(stderr, "error: cannot read %s\n", ca);
		return 1;
	}
	if (auth && !(o.auth_json = auth_buf = slurp(auth, &o.auth_json_len))) {
		fprintf(stderr, "error: cannot read %s\n", auth);
		return 1;
	}
	if (sp_image_pull(&o, &res, &err) < 0) {
		printf("error: %s\n", err.msg);
		free(ca_buf);
		free(auth_buf);
		return 1;
	}
	printf("digest: %s\nconfig: %s\nlayers: %zu\nfetched: %u\nreused: %u\nbytes: %llu\n"
	       "unpacked: %llu\nseconds: %.3f\n",
	       res.digest, res.config_digest, res.n_layers, res.layers_fetched, res.layers_reused,
	       (unsigned long long)res.bytes_fetched, (unsigned long long)res.bytes_unpacked,
	       res.seconds);
	for (size_t i = 0; i < res.n_layers; i++)
		printf("diff_id: %s\n", res.diff_ids[i]);
	print_strv("entrypoint", res.entrypoint);
	print_strv("cmd", res.cmd);
	print_strv("env", res.env);
	printf("workdir: %s\nuser: %s\n", res.workdir, res.user);
	if (mnt && mount_at(o.store, &res, upper, mnt, &err) < 0) {
		printf("error: %s\n", err.msg);
		rc = 1;
	}
	sp_pull_result_free(&res);
	free(ca_buf);
	free(auth_buf);
	return rc;
}
