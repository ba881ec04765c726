/* The field lists a pull's processes send each other (wire.c): the metadata child's findings
 * for the pull worker, and the pull worker's result for PID 1 (driver.c). A list is records of
 * a u32 tag, a u32 length and that many bytes (host byte order: both ends are this binary). The
 * decoder checks lengths, counts and digest syntax and interprets nothing else. */
#ifndef SEALPOD_IMAGE_WIRE_H
#define SEALPOD_IMAGE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/manifest.h"
#include "lib/err.h"

enum sp_wire_tag {
	T_DIGEST = 1,
	T_CONFIG_DIGEST,
	T_LAYER_DIGEST,
	T_LAYER_COMP,
	T_LAYER_SIZE,
	T_DIFF_ID,
	T_ENTRYPOINT,
	T_CMD,
	T_ENV,
	T_WORKDIR,
	T_USER,
	T_TOKEN,
	T_TOKEN_TTL,
	T_ERROR,
	T_ERROR_CODE, /* u64: the error's kind | its stage << 8 (lib/err.h) */
	T_MNT_ID,     /* u64, the result only: the id of the overlay mount the pull worker made */
};

struct sp_wire {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

void sp_wire_put(struct sp_wire *w, uint32_t tag, const void *d, size_t n);
void sp_wire_str(struct sp_wire *w, uint32_t tag, const char *s);
void sp_wire_u64(struct sp_wire *w, uint32_t tag, uint64_t v);
/* An error: its message (T_ERROR) and its kind and stage (T_ERROR_CODE). */
void sp_wire_error(struct sp_wire *w, const struct sp_err *err);

/* What the metadata child found. */
struct sp_meta {
	char digest[72], config_digest[72];
	size_t n;
	struct {
		char digest[72], diff_id[72];
		int comp;
		uint64_t size;
	} layers[SP_IMG_MAX_LAYERS];
	size_t nd; /* diff_ids decoded */
	char **entrypoint, **cmd, **env;
	size_t n_entrypoint, n_cmd, n_env;
	char *workdir, *user;
	char token[8192];
	uint64_t token_ttl;
	char error[256];
	uint8_t error_kind, error_stage; /* T_ERROR_CODE, checked against lib/err.h's ranges */
	uint64_t mnt_id;		 /* T_MNT_ID */
};

/* Decodes the metadata child's list into m (zeroed by the caller). */
int sp_meta_decode(const uint8_t *p, size_t len, struct sp_meta *m, struct sp_err *err);
void sp_meta_free(struct sp_meta *m);
void sp_strv_free(char **v);

#endif
