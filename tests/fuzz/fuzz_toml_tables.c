/* Arbitrary bytes as a TOML document, checked for what the reader promises about tables: every
 * entry found again by its own segments, every element of an array of tables inside its array's
 * count and under an entry of that array, nothing under a value. cdh.toml and a registries.conf
 * come from initdata or a KBS resource: untrusted until their digest is checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"

/* The entry's path split into segments in buf; segs NULL-terminated. */
static size_t split(const char *path, char *buf, size_t cap, const char **segs, size_t nsegs)
{
	size_t n = 0, len = strlen(path);

	if (len >= cap)
		abort();
	memcpy(buf, path, len + 1);
	segs[n++] = buf;
	for (char *p = buf; *p; p++)
		if (*p == SP_TOML_SEP) {
			*p = '\0';
			if (n + 1 >= nsegs)
				return 0;
			segs[n++] = p + 1;
		}
	segs[n] = NULL;
	return n;
}

static void check_entry(const struct sp_toml *d, const struct sp_toml_ent *e)
{
	static char buf[1 << 16];
	const char *segs[4 * SP_TOML_MAX_DEPTH + 8];
	size_t n = split(e->path, buf, sizeof(buf), segs, sizeof(segs) / sizeof(segs[0]));

	if (n == 0 || strlen(e->path) >= 1000)
		return; /* deeper or longer than a lookup goes */
	if (sp_toml_get(d, segs) != e)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct sp_toml_ent *up;
		const char *save = segs[i];

		if (i == 0)
			continue;
		segs[i] = NULL;
		up = sp_toml_get(d, segs);
		segs[i] = save;
		if (!up)
			continue; /* an implicit table */
		if (up->type != SP_TOML_TABLE && up->type != SP_TOML_TABLES)
			abort();
		if ((up->type == SP_TOML_TABLES) != (save[0] == SP_TOML_ELEM))
			abort();
		if (up->type == SP_TOML_TABLES && strtoull(save + 1, NULL, 10) >= up->narr)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_toml d;
	struct sp_err err;

	if (sp_toml_parse((const char *)data, size, &d, &err) < 0)
		return 0;
	if (d.n > SP_TOML_MAX_ENTRIES)
		abort();
	for (size_t i = 0; i < d.n; i++) {
		const struct sp_toml_ent *e = &d.ents[i];
		if (e->type == SP_TOML_TABLES && (e->narr == 0 && !e->closed))
			abort();
		if (e->type == SP_TOML_TABLES && e->narr > SP_TOML_MAX_ARRAY)
			abort();
		check_entry(&d, e);
	}
	sp_toml_free(&d);
	return 0;
}
