/* Minimal unit-test framework: TEST(name) { ... } registers a case; CHECK(cond) records a
 * failure and continues; REQUIRE(cond) records a failure and leaves the case; SKIP(fmt, ...)
 * leaves a case that cannot run here, saying why; SKIP_MISSING(fmt, ...) does the same when the
 * cause is a missing package or tool, which is a failure on CI (SEALPOD_CI=1). The runner
 * (tests/unit/main.c) prints "ok NAME", "not ok NAME[: why]" or "skip NAME: why" per case and
 * closes with "unit: N passed, N failed, N skipped". A case that failed a CHECK before it
 * skipped counts as failed. */
#ifndef SEALPOD_UNIT_H
#define SEALPOD_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_case {
	const char *name;
	void (*fn)(int *failed);
	struct unit_case *next;
};

void unit_register(struct unit_case *c);
void unit_skip(int missing, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Workers (lib/worker.h) the tests spawn: this binary is what they exec, and main hands its argv
 * to sp_worker_main with every registered entry first. */
struct sp_worker_def;
void unit_register_worker(const struct sp_worker_def *def);
#define UNIT_WORKER(def)                                                                           \
	__attribute__((constructor)) static void unit_regw_##def(void)                             \
	{                                                                                          \
		unit_register_worker(&(def));                                                      \
	}

#define TEST(name)                                                                                 \
	static void test_##name(int *unit_failed_);                                                \
	static struct unit_case unit_case_##name = { #name, test_##name, NULL };                   \
	__attribute__((constructor)) static void unit_reg_##name(void)                             \
	{                                                                                          \
		unit_register(&unit_case_##name);                                                  \
	}                                                                                          \
	static void test_##name(int *unit_failed_)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			*unit_failed_ = 1;                                                         \
		}                                                                                  \
	} while (0)

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "    %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			*unit_failed_ = 1;                                                         \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define SKIP(...)                                                                                  \
	do {                                                                                       \
		unit_skip(0, __VA_ARGS__);                                                         \
		return;                                                                            \
	} while (0)

#define SKIP_MISSING(...)                                                                          \
	do {                                                                                       \
		unit_skip(1, __VA_ARGS__);                                                         \
		return;                                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *unit_a_ = (a), *unit_b_ = (b);                                         \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) {                       \
			fprintf(stderr, "    %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,       \
				unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)");       \
			*unit_failed_ = 1;                                                         \
		}                                                                                  \
	} while (0)

/* A call that fails (returns < 0) with an error of the given kind (lib/err.h) in e. */
#define FAILS_AS(call, e, k) ((call) < 0 && (e).kind == (k))

#endif
