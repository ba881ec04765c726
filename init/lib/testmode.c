#define _GNU_SOURCE
#include "lib/testmode.h"

#include "lib/fileio.h"

static int decided = -1;

bool sp_test_overlay_latch(const char *marker)
{
	if (decided < 0)
		decided = sp_path_exists(marker) ? 1 : 0;
	return decided == 1;
}

bool sp_test_overlay(void)
{
	return decided == 1;
}
