/* Runs every registered unit test, or those whose name contains argv[1]. */
#include "unit.h"

#include <stdlib.h>

#include "lib/worker.h"

static struct unit_case *head, **tail = &head;
static const struct sp_worker_def *workers[32];
static size_t nworkers;

void unit_register_worker(const struct sp_worker_def *def)
{
	if (nworkers < sizeof(workers) / sizeof(workers[0]))
		workers[nworkers++] = def;
}

void unit_register(struct unit_case *c)
{
	*tail = c;
	tail = &c->next;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;

	sp_worker_main(argc, argv, workers, nworkers); /* returns unless we are a worker */

	for (struct unit_case *c = head; c; c = c->next) {
		if (filter && !strstr(c->name, filter))
			continue;
		int f = 0;
		c->fn(&f);
		printf("%s %s\n", f ? "not ok" : "ok", c->name);
		fflush(stdout);
		f ? failed++ : passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
