/* The online path of generate (--resolve): an image the lock file does not name is resolved
 * with skopeo, as the lock file documents (GENERATE.md): the digest of the manifest the
 * reference names, `skopeo inspect --raw`, hashed here; the configuration of the platform's
 * image, `skopeo inspect --config`. */
#define _GNU_SOURCE
#include "gen_int.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/stream.h"

#define MAX_OUTPUT ((size_t)8 * 1024 * 1024)

extern char **environ;

static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap + 1);
	ssize_t r;

	if (!b)
		return -1;
	while ((r = read(fd, b + n, cap - n)) > 0 || (r < 0 && errno == EINTR)) {
		if (r < 0)
			continue;
		n += (size_t)r;
		if (n == cap) {
			char *nb = cap < MAX_OUTPUT ? realloc(b, cap * 2 + 1) : NULL;

			if (!nb) {
				free(b);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

/* Runs skopeo with argv (found in PATH), its stdout into *out; 0 only when it exited 0. */
static int skopeo(char *const argv[], char **out, size_t *len, struct sp_err *err)
{
	posix_spawn_file_actions_t fa;
	int fds[2], status = 0, rc;
	pid_t pid;

	*out = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sp_error(err, errno, "pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		return sp_error(err, rc, "run skopeo (--resolve needs it in PATH)");
	}
	rc = read_all(fds[0], out, len);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(*out);
		*out = NULL;
		return sp_fail(err, SP_E_UNAVAILABLE, 0,
			       "skopeo %s %s failed (its message is above)", argv[2], argv[3]);
	}
	return 0;
}

int spg_resolve(const char *image, json_object **entry, struct sp_err *err)
{
	char ref[1024], digest[SP_DIGEST_LEN + 1];
	char *raw_argv[] = { "skopeo", "inspect", "--raw", ref, NULL };
	char *cfg_argv[] = { "skopeo", "inspect", "--config", ref, NULL };
	char *text = NULL;
	size_t len = 0;
	json_object *cfg, *c;

	/* "docker://" first: an image named like an option is never read as one */
	if ((size_t)snprintf(ref, sizeof(ref), "docker://%s", image) >= sizeof(ref))
		return sp_fail(err, SP_E_INVALID, 0, "image '%.64s...' is too long", image);
	if (skopeo(raw_argv, &text, &len, err) < 0)
		return -1;
	sp_sha256_digest(text, len, digest);
	free(text);
	if (skopeo(cfg_argv, &text, &len, err) < 0)
		return -1;
	cfg = json_tokener_parse(text);
	free(text);
	c = json_object_object_get(cfg, "config");
	if (!cfg || (c && !json_object_is_type(c, json_type_object))) {
		json_object_put(cfg);
		return sp_fail(err, SP_E_INVALID, 0,
			       "skopeo inspect --config %s: not an image "
			       "configuration",
			       ref);
	}
	*entry = json_object_new_object();
	json_object_object_add(*entry, "digest", json_object_new_string(digest));
	json_object_object_add(*entry, "config", c ? json_object_get(c) : json_object_new_object());
	json_object_put(cfg);
	return 0;
}
