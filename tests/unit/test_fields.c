/* The request model (init/agent/fields.c) against the generated protobuf-c descriptors of every
 * request the method tables serve: every field classified, every row a real field, every
 * enforcer a real function, and POLICY.md's table the one the rows make. Run from the
 * repository root. SEALPOD_UPDATE_POLICY_MD=1 rewrites POLICY.md's table from the rows. */
#define _GNU_SOURCE
#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>

#include "agent/fields.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "net/net.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

#include "health.pb-c.h"

#define POLICY_MD   "init/policy/POLICY.md"
#define TABLE_BEGIN "<!-- request fields: generated from init/agent/fields.c, begin -->\n"
#define TABLE_END   "<!-- request fields: end -->\n"

static bool visited[1024];
static int unclassified;

/* Every field of d beneath prefix: a row classifies it (and all that is in it), or it is a
 * message whose fields are each classified. */
static void walk(const ProtobufCMessageDescriptor *d, const char *prefix, int depth)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct sp_field *row;
		char path[512];

		(void)snprintf(path, sizeof(path), "%s.%s", prefix, f->name);
		row = sp_field_find(path);
		if (row) {
			visited[row - sp_fields] = true;
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 16) {
			walk(f->descriptor, path, depth + 1);
			continue;
		}
		fprintf(stderr, "    %s: no row in init/agent/fields.c\n", path);
		unclassified++;
	}
}

/* The request messages of every served method (the agent's four tables, the health service). */
static size_t requests(const ProtobufCMessageDescriptor **out, size_t max)
{
	const struct tt_msg_table *const tables[] = { &sp_agent_api, &sp_runtime_api,
						      &sp_sandbox_api, &sp_net_api };
	size_t n = 0;

	out[n++] = &grpc__check_request__descriptor;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < tables[t]->n; i++) {
			const ProtobufCMessageDescriptor *d = tables[t]->methods[i].desc;
			size_t k = 0;

			while (k < n && out[k] != d)
				k++;
			if (k == n && n < max)
				out[n++] = d;
		}
	return n;
}

TEST(fields_every_request_field_classified)
{
	const ProtobufCMessageDescriptor *reqs[64];
	size_t n = requests(reqs, 64);

	REQUIRE(sp_nfields <= sizeof(visited) / sizeof(visited[0]));
	CHECK(n >= 25); /* 24 AgentService requests and CheckRequest */
	memset(visited, 0, sizeof(visited));
	unclassified = 0;
	for (size_t i = 0; i < n; i++)
		walk(reqs[i], reqs[i]->short_name, 0);
	CHECK(unclassified == 0);
	for (size_t i = 0; i < sp_nfields; i++) {
		if (!visited[i])
			fprintf(stderr, "    row %s names no field of a served request\n",
				sp_fields[i].path);
		CHECK(visited[i]);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* "dir/file.c function" names a function that file defines or calls by that name. */
static bool enforcer_exists(const char *pair, size_t len)
{
	char file[128], path[160], want[96];
	const char *sp = memchr(pair, ' ', len);
	size_t flen, n;
	char *text;
	bool found;

	if (!sp || (flen = (size_t)(sp - pair)) >= sizeof(file) || len - flen - 1 >= 64)
		return false;
	memcpy(file, pair, flen);
	file[flen] = '\0';
	(void)snprintf(path, sizeof(path), "init/%s", file);
	(void)snprintf(want, sizeof(want), "%.*s(", (int)(len - flen - 1), sp + 1);
	text = slurp(path, &n);
	found = text && strstr(text, want);
	free(text);
	return found;
}

TEST(fields_enforcers_exist_and_rows_are_one_line)
{
	size_t judged = 0;

	for (size_t i = 0; i < sp_nfields; i++) {
		const struct sp_field *f = &sp_fields[i];

		judged += f->treatment == SP_FIELD_JUDGED;
		CHECK(!strpbrk(f->rule, "|\n") && !strpbrk(f->by, "|\n") && f->rule[0]);
		for (const char *p = f->by; *p;) {
			const char *e = strstr(p, "; ");
			size_t len = e ? (size_t)(e - p) : strlen(p);

			if (!enforcer_exists(p, len))
				fprintf(stderr, "    %s: enforcer '%.*s' not found\n", f->path,
					(int)len, p);
			CHECK(enforcer_exists(p, len));
			p = e ? e + 2 : p + len;
		}
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(sp_fields[k].path, f->path) != 0);
	}
	CHECK(judged > 10);
	CHECK(sp_field_find("CreateContainerRequest.OCI.Mounts.source")->treatment ==
	      SP_FIELD_JUDGED);
	CHECK(sp_field_find("CreateContainerRequest.OCI.Linux_.Sysctl")->treatment ==
	      SP_FIELD_JUDGED);
	CHECK(sp_field_find("CreateContainerRequest.OCI.Process.Capabilities")->treatment ==
	      SP_FIELD_FORCED);
	CHECK(sp_field_find("CreateContainerRequest.OCI.Nope") == NULL);
}

TEST(fields_policy_md_table_is_generated)
{
	size_t need = sp_fields_markdown(NULL, 0), len = 0;
	char *table = malloc(need + 1), *doc = slurp(POLICY_MD, &len), *begin, *end;

	REQUIRE(table && doc);
	CHECK(sp_fields_markdown(table, need + 1) == need && strlen(table) == need);
	begin = strstr(doc, TABLE_BEGIN);
	end = begin ? strstr(begin, TABLE_END) : NULL;
	REQUIRE(begin && end);
	begin += strlen(TABLE_BEGIN);
	if (getenv("SEALPOD_UPDATE_POLICY_MD")) {
		FILE *f = fopen(POLICY_MD, "w");

		REQUIRE(f);
		CHECK(fwrite(doc, 1, (size_t)(begin - doc), f) == (size_t)(begin - doc));
		CHECK(fputs(table, f) >= 0 && fputs(end, f) >= 0);
		CHECK(fclose(f) == 0);
	} else if ((size_t)(end - begin) != need || memcmp(begin, table, need) != 0) {
		fprintf(stderr,
			"    %s: the request-field table differs from init/agent/fields.c; "
			"SEALPOD_UPDATE_POLICY_MD=1 build/host/unit-tests fields rewrites it\n",
			POLICY_MD);
		CHECK(false);
	}
	free(table);
	free(doc);
}
