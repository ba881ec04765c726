/* Arbitrary bytes as what a registry or token service sends for authentication (untrusted): a
 * WWW-Authenticate header, a token response, and (KBS-delivered, but parsed the same careful way)
 * a containers-auth.json. The first byte picks which. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_challenge ch;
	struct sp_err err;
	char tok[8192], user[256], pass[256];
	unsigned exp;
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		if (sp_auth_parse_challenge(s, size - 1, &ch, &err) == 0) {
			if (ch.scheme == SP_AUTH_BEARER && strncmp(ch.realm, "http", 4) != 0)
				abort();
			if (strlen(ch.realm) >= sizeof(ch.realm) ||
			    strlen(ch.scope) >= sizeof(ch.scope))
				abort();
		}
		break;
	case 1:
		if (sp_auth_parse_token(s, size - 1, tok, sizeof(tok), &exp, &err) == 0) {
			if (!tok[0] || exp < 60 || exp > 86400)
				abort();
			for (const char *p = tok; *p; p++)
				if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
					abort();
		}
		break;
	case 2:
		if (sp_auth_json_lookup(s, size - 1, "registry.example:5000", "library/busybox",
					user, sizeof(user), pass, sizeof(pass), &err) == 1 &&
		    (strlen(user) >= sizeof(user) || strlen(pass) >= sizeof(pass)))
			abort();
		break;
	}
	free(s);
	return 0;
}
