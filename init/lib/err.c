#define _GNU_SOURCE
#include "lib/err.h"

#include <stdio.h>
#include <string.h>

static const char *const stage_names[SP_STAGE_COUNT] = {
	[SP_STAGE_NONE] = "",
	[SP_STAGE_POLICY_DENY] = "policy.deny",
	[SP_STAGE_ATTEST_AUTH] = "attest.auth",
	[SP_STAGE_ATTEST_EVIDENCE] = "attest.evidence",
	[SP_STAGE_ATTEST_VERIFY] = "attest.verify",
	[SP_STAGE_ATTEST_RESOURCE] = "attest.resource",
	[SP_STAGE_PULL_AUTH] = "pull.auth",
	[SP_STAGE_PULL_MANIFEST] = "pull.manifest",
	[SP_STAGE_PULL_CONFIG] = "pull.config",
	[SP_STAGE_PULL_LAYER] = "pull.layer",
	[SP_STAGE_PULL_UNPACK] = "pull.unpack",
	[SP_STAGE_STORAGE_OPTIONS] = "storage.options",
	[SP_STAGE_STORAGE_HOTPLUG] = "storage.hotplug",
	[SP_STAGE_STORAGE_FORMAT] = "storage.format",
	[SP_STAGE_SECRETS] = "secrets",
	[SP_STAGE_RUNTIME] = "runtime",
};

const char *sp_stage_name(enum sp_stage stage)
{
	return (unsigned)stage < SP_STAGE_COUNT ? stage_names[stage] : "";
}

enum sp_stage sp_stage_from_name(const char *name)
{
	for (unsigned i = 1; name && i < SP_STAGE_COUNT; i++)
		if (strcmp(stage_names[i], name) == 0)
			return (enum sp_stage)i;
	return SP_STAGE_NONE;
}

static int vfill(struct sp_err *err, enum sp_err_kind kind, int errnum, const char *fmt, va_list ap)
{
	int n;

	err->errnum = errnum;
	err->kind = (uint8_t)kind;
	err->stage = SP_STAGE_NONE;
	err->detail[0] = '\0';
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
		(void)snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s",
			       strerror(errnum));
	return -1;
}

int sp_error(struct sp_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vfill(err, SP_E_INTERNAL, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int sp_fail(struct sp_err *err, enum sp_err_kind kind, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vfill(err, kind, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

static void vwrap(struct sp_err *err, const char *fmt, va_list ap)
{
	char old[sizeof(err->msg)];
	size_t n, rest;
	int r;

	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	r = vsnprintf(err->msg, sizeof(err->msg) - 3, fmt, ap);
	n = r < 0 ? 0 : (size_t)r > sizeof(err->msg) - 4 ? sizeof(err->msg) - 4 : (size_t)r;
	memcpy(err->msg + n, ": ", 2);
	n += 2;
	rest = sizeof(err->msg) - n - 1;
	r = (int)strnlen(old, rest);
	memcpy(err->msg + n, old, (size_t)r);
	err->msg[n + (size_t)r] = '\0';
}

int sp_error_wrap(struct sp_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vwrap(err, fmt, ap);
	va_end(ap);
	return -1;
}

int sp_fail_wrap(struct sp_err *err, enum sp_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vwrap(err, fmt, ap);
	va_end(ap);
	err->kind = (uint8_t)kind;
	return -1;
}

int sp_err_kind(struct sp_err *err, enum sp_err_kind kind)
{
	if (err)
		err->kind = (uint8_t)kind;
	return -1;
}

int sp_err_stage(struct sp_err *err, enum sp_stage stage)
{
	if (err)
		err->stage = (uint8_t)stage;
	return -1;
}
