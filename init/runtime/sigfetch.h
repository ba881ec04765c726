/* The signature policy of a CreateContainer's pulls and its keyPath keys, from initdata and the
 * KBS (sigfetch.c). */
#ifndef SEALPOD_RUNTIME_SIGFETCH_H
#define SEALPOD_RUNTIME_SIGFETCH_H

#include <stddef.h>

#include "lib/err.h"

struct sp_sigfetch;
struct sp_sigkey;
typedef void (*sp_sigfetch_fn)(void *arg, int ret, const struct sp_err *err);

/* The policy is initdata's (policy) or the KBS resource uri; then every kbs:/// keyPath it names
 * is fetched. 0 when all is here at once, SP_PENDING (done follows, once, from the loop), or -1
 * with err (policy.deny). *out is set in every case: free it with sp_sigfetch_free (which
 * cancels what is under way). */
int sp_sigfetch_start(const char *policy, const char *uri, sp_sigfetch_fn done, void *arg,
		      struct sp_sigfetch **out, struct sp_err *err);
/* The policy text and the keys fetched (valid while f lives); NULL for a NULL f. */
const char *sp_sigfetch_policy(const struct sp_sigfetch *f, const struct sp_sigkey **keys,
			       size_t *nkeys);
void sp_sigfetch_free(struct sp_sigfetch *f);

#endif
