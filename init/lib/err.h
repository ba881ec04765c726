/* Errors as crun does them, without the heap: a fallible function returns a negative int and
 * fills a fixed-size message at the point of failure ("open /dev/vda: No such device").
 *
 * Besides the message an error carries what kind of failure it is (the request was invalid, a
 * rule refused it, something was not found, ...) and, where one applies, the stable stage code
 * the console and the host see ("attest.auth", "pull.manifest", "policy.deny"). Modules say
 * only the kind; which gRPC status a kind answers with is decided in one place, the transport
 * (agent/ttrpc.c, tt_code_for). */
#ifndef SEALPOD_LIB_ERR_H
#define SEALPOD_LIB_ERR_H

#include <stdarg.h>
#include <stdint.h>

enum sp_err_kind {
	SP_E_INTERNAL = 0, /* ours or the system's: nothing the caller did */
	SP_E_INVALID,	   /* the request is malformed or names what cannot be */
	SP_E_DENIED,	   /* a policy or trust rule refuses it */
	SP_E_NOT_FOUND,	   /* what it names does not exist */
	SP_E_EXISTS,	   /* what it would create exists already */
	SP_E_PRECONDITION, /* the guest is not in a state that allows it (yet) */
	SP_E_EXHAUSTED,	   /* a limit, or memory */
	SP_E_UNAVAILABLE,  /* a service it needs (the KBS) is not there */
	SP_E_TIMEOUT,	   /* it waited for something that did not come */
	SP_E_UNSUPPORTED,  /* a feature this guest does not have */
};

/* The stable stage codes (README, "Failure codes"). */
enum sp_stage {
	SP_STAGE_NONE = 0,
	SP_STAGE_POLICY_DENY,	  /* policy.deny */
	SP_STAGE_ATTEST_AUTH,	  /* attest.auth */
	SP_STAGE_ATTEST_EVIDENCE, /* attest.evidence */
	SP_STAGE_ATTEST_VERIFY,	  /* attest.verify */
	SP_STAGE_ATTEST_RESOURCE, /* attest.resource */
	SP_STAGE_PULL_AUTH,	  /* pull.auth */
	SP_STAGE_PULL_MANIFEST,	  /* pull.manifest */
	SP_STAGE_PULL_CONFIG,	  /* pull.config */
	SP_STAGE_PULL_LAYER,	  /* pull.layer */
	SP_STAGE_PULL_UNPACK,	  /* pull.unpack */
	SP_STAGE_STORAGE_OPTIONS, /* storage.options */
	SP_STAGE_STORAGE_HOTPLUG, /* storage.hotplug */
	SP_STAGE_STORAGE_FORMAT,  /* storage.format (and its sub-stages) */
	SP_STAGE_SECRETS,	  /* secrets */
	SP_STAGE_RUNTIME,	  /* runtime */
	SP_STAGE_COUNT
};

struct sp_err {
	int errnum;    /* errno of the failure, 0 when it was not a system call */
	uint8_t kind;  /* enum sp_err_kind */
	uint8_t stage; /* enum sp_stage */
	char msg[256]; /* for the host and the console: what was done on what, never a secret */
	/* Words of a third party the owner may trust more than the host (the KBS's reason for a
	 * refusal, which can describe the owner's policy): never put in a reply and never
	 * printed, since the host reads the console too. */
	char detail[192];
};

/* --- asynchronous primitives ------------------------------------------------------------------
 * What takes time in PID 1 (attesting, formatting a disk, pulling an image, fetching secrets)
 * is started with a function shaped
 *     int x_start(<what>, sp_done_fn done, void *arg, struct x **handle, struct sp_err *err);
 * that returns 0 when it finished at once (done is not called), -1 with err when it failed at
 * once (done is not called), or SP_PENDING, after which done(arg, ret, err) runs exactly once
 * from PID 1's loop, possibly before x_start returns, unless x_cancel(*handle) is called
 * first. Results come through the completion (a typed one where there are results), never
 * through a table the caller reads afterwards. */
#define SP_PENDING 1
typedef void (*sp_done_fn)(void *arg, int ret, const struct sp_err *err);

/* Fills err with "<fmt>: strerror(errnum)" (or just fmt when errnum is 0), kind internal, no
 * stage, and returns -1, so that `return sp_error(err, errno, "open %s", path);` reads as one
 * line. err may be NULL. */
int sp_error(struct sp_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with a kind: `return sp_fail(err, SP_E_INVALID, 0, "bad %s", what);`. */
int sp_fail(struct sp_err *err, enum sp_err_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefixes an existing message with context on the way up: "mount /proc: <old message>". The
 * kind, stage and detail stay. */
int sp_error_wrap(struct sp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sp_error_wrap and then the kind. */
int sp_fail_wrap(struct sp_err *err, enum sp_err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the kind (or the stage) of an error already filled; returns -1. */
int sp_err_kind(struct sp_err *err, enum sp_err_kind kind);
int sp_err_stage(struct sp_err *err, enum sp_stage stage);

/* "attest.auth", ...; "" for SP_STAGE_NONE or an unknown value. */
const char *sp_stage_name(enum sp_stage stage);
/* The stage a name stands for, SP_STAGE_NONE when it is none of ours. */
enum sp_stage sp_stage_from_name(const char *name);

#endif
