/* Arbitrary bytes as a registry's manifest, index or image config (untrusted): the first byte
 * picks the Content-Type the registry claims; the rest is the body. Whatever is accepted must
 * keep the parser's promises (valid digests, bounded counts, supported layer types). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"

static const char *types[] = {
	SP_MT_OCI_MANIFEST,
	SP_MT_OCI_INDEX,
	SP_MT_DOCKER_V2,
	SP_MT_DOCKER_LIST,
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/json",
	SP_MT_OCI_MANIFEST "; charset=utf-8",
	"",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sp_manifest m;
	struct sp_image_config c;
	struct sp_image_ref ref;
	struct sp_err err;
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (sp_manifest_parse(s, size - 1, types[data[0] % 8], &m, &err) == 0) {
		if (m.n > SP_IMG_MAX_INDEX || (!m.is_index && m.n > SP_IMG_MAX_LAYERS))
			abort();
		for (size_t i = 0; i < m.n; i++)
			if (!sp_digest_valid(m.entries[i].digest) ||
			    (!m.is_index && sp_layer_compression(m.entries[i].media_type) < 0))
				abort();
		if (!m.is_index && !sp_digest_valid(m.config.digest))
			abort();
		(void)sp_index_select(&m, "linux", "amd64");
	}
	if (sp_config_parse(s, size - 1, &c, &err) == 0) {
		for (size_t i = 0; i < c.n_diff_ids; i++)
			if (!sp_digest_valid(c.diff_ids[i]))
				abort();
		if (!c.workdir || !c.user || c.n_cmd > SP_IMG_MAX_ARGS || c.n_env > SP_IMG_MAX_ENV)
			abort();
		sp_config_free(&c);
	}
	if (sp_image_ref_parse(s, &ref, &err) == 0) {
		if (!ref.repo[0] || !ref.host[0] || (!ref.tag[0] && !sp_digest_valid(ref.digest)))
			abort();
	}
	free(s);
	return 0;
}
