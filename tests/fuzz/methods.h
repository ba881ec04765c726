/* The methods the fuzz targets of the control port pick from with their first input byte (index
 * modulo the count), in one order that tests/fuzz/make-seeds repeats (METHODS there). */
#ifndef SEALPOD_FUZZ_METHODS_H
#define SEALPOD_FUZZ_METHODS_H

#include <string.h>

#include "agent/ttrpc.h"

static const struct fuzz_method {
	const char *service, *name;
} fuzz_methods[] = {
	{ "grpc.AgentService", "CreateContainer" },
	{ "grpc.AgentService", "StartContainer" },
	{ "grpc.AgentService", "RemoveContainer" },
	{ "grpc.AgentService", "ExecProcess" },
	{ "grpc.AgentService", "SignalProcess" },
	{ "grpc.AgentService", "WaitProcess" },
	{ "grpc.AgentService", "ReadStdout" },
	{ "grpc.AgentService", "ReadStderr" },
	{ "grpc.AgentService", "WriteStdin" },
	{ "grpc.AgentService", "CloseStdin" },
	{ "grpc.AgentService", "TtyWinResize" },
	{ "grpc.AgentService", "StatsContainer" },
	{ "grpc.AgentService", "GetOOMEvent" },
	{ "grpc.AgentService", "GetDiagnosticData" },
	{ "grpc.AgentService", "CreateSandbox" },
	{ "grpc.AgentService", "DestroySandbox" },
	{ "grpc.AgentService", "UpdateInterface" },
	{ "grpc.AgentService", "UpdateRoutes" },
	{ "grpc.AgentService", "AddARPNeighbors" },
	{ "grpc.AgentService", "OnlineCPUMem" },
	{ "grpc.AgentService", "CopyFile" },
	{ "grpc.AgentService", "UpdateEphemeralMounts" },
	{ "grpc.AgentService", "GetGuestDetails" },
	{ "grpc.AgentService", "RemoveStaleVirtiofsShareMounts" },
	{ "grpc.AgentService", "SetPolicy" },
	{ "grpc.Health", "Check" },
	{ "grpc.Health", "Version" },
	{ "grpc.AgentService", "UpdateContainer" },
	{ "grpc.AgentService", "ListInterfaces" },
	{ "grpc.AgentService", "ListRoutes" },
	{ "grpc.AgentService", "GetIPTables" },
	{ "grpc.AgentService", "SetIPTables" },
};
#define FUZZ_NMETHODS (sizeof(fuzz_methods) / sizeof(fuzz_methods[0]))

/* The method of server named by fuzz_methods[i % FUZZ_NMETHODS]; *id gets its number. */
static inline const struct tt_method *fuzz_method(const struct tt_server *server, unsigned i,
						  uint32_t *id)
{
	const struct fuzz_method *f = &fuzz_methods[i % FUZZ_NMETHODS];

	for (size_t s = 0; s < server->nservices; s++) {
		if (strcmp(server->services[s]->name, f->service) != 0)
			continue;
		for (size_t m = 0; m < server->services[s]->nmethods; m++)
			if (strcmp(server->services[s]->methods[m].name, f->name) == 0) {
				if (id)
					*id = TT_METHOD_ID(s, m);
				return &server->services[s]->methods[m];
			}
	}
	return NULL;
}

#endif
