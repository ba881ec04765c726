/* Runs every registered unit test, or those whose name contains argv[1]. */
#include "unit.h"

#include <stdarg.h>
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

static char skip_reason[256];
static int skipped, skip_missing;

void unit_register(struct unit_case *c)
{
	*tail = c;
	tail = &c->next;
}

void unit_skip(int missing, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	skipped = 1;
	skip_missing = missing;
}

/* A skip because a package or tool is missing is a failure where everything must be installed. */
static int on_ci(void)
{
	const char *ci = getenv("SEALPOD_CI");
	return ci && strcmp(ci, "1") == 0;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0, nskipped = 0;

	sp_worker_main(argc, argv, workers, nworkers); /* returns unless we are a worker */

	for (struct unit_case *c = head; c; c = c->next) {
		if (filter && !strstr(c->name, filter))
			continue;
		int f = 0;
		skipped = skip_missing = 0;
		c->fn(&f);
		if (f) {
			printf("not ok %s\n", c->name);
			failed++;
		} else if (skipped && skip_missing && on_ci()) {
			printf("not ok %s: missing on CI: %s\n", c->name, skip_reason);
			failed++;
		} else if (skipped) {
			printf("skip %s: %s\n", c->name, skip_reason);
			nskipped++;
		} else {
			printf("ok %s\n", c->name);
			passed++;
		}
		fflush(stdout);
	}
	printf("unit: %d passed, %d failed, %d skipped\n", passed, failed, nskipped);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
