/* Arbitrary bytes as a pod's YAML for sealpod-policy generate (a manifest is the user's, but it
 * is often someone else's: a chart, a vendor's file): the reader (measure/policy/yaml.c), the
 * Kubernetes model (k8s.c) and the whole generator with a fixed lock file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../measure/policy/gen.h"
#include "../../measure/policy/k8s.h"
#include "../../measure/policy/yaml.h"

static const char lock[] = "{\"version\": 1, \"images\": {\"img:1\": {\"digest\": \"sha256:"
			   "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e\", "
			   "\"config\": {\"Env\": "
			   "[\"PATH=/bin\"], \"Cmd\": [\"/bin/sh\"]}}}}";

/* What the reader promises about a tree it accepted. */
static void check_tree(const struct spy_node *n, size_t depth)
{
	if (!n)
		return;
	if (depth > SPY_MAX_DEPTH + 1 || n->weight > SPY_MAX_NODES)
		abort();
	if (n->kind == SPY_SCALAR && !n->str)
		abort();
	if (n->kind == SPY_MAP && n->n % 2)
		abort();
	for (size_t i = 0; n->kind != SPY_SCALAR && i < n->n; i++) {
		if (n->kind == SPY_MAP && !(i % 2) && n->v[i]->kind != SPY_SCALAR)
			abort();
		/* shared nodes are walked once per parent: the weight bound keeps it finite, but
		 * only the first level of a shared subtree is looked at */
		if (n->v[i]->weight == 1 || depth < 8)
			check_tree(n->v[i], depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spy_stream s;
	struct spk_manifest m;
	struct sps_settings set;
	struct sp_err err;
	char *doc = NULL;
	struct spg_input in = { .pod = { "fuzz.yaml", (const char *)data, size },
				.lock = { "lock.json", lock, sizeof(lock) - 1 },
				.settings = &set };

	if (spy_parse((const char *)data, size, &s, &err) < 0)
		return 0;
	if (s.ndocs > SPY_MAX_DOCS)
		abort();
	for (size_t i = 0; i < s.ndocs; i++)
		check_tree(s.docs[i], 0);
	if (spk_find(&s, &m, "default", &err) == 0)
		(void)spk_check_unsafe(&m, &err);
	spy_free(&s);
	sps_defaults(&set);
	if (spg_generate(&in, &doc, &err) == 0 && (!doc || doc[0] != '{'))
		abort();
	free(doc);
	return 0;
}
