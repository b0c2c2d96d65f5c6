/* cli/cmd-keys - petrel keys: the DKIM keys the running server's keys
 * process holds (DATA_DIR/dkim/ID.pem), asked over the control socket
 * (queue/control.h); the command never reads a private key itself.
 *
 *   keys list           ID ALGORITHM BITS DNS-RECORD, one key a line
 *   keys test ID        sign a random SHA-256 digest in the keys process and
 *                       check the signature with the public half
 *   keys sign ID HEX    the signature of the SHA-256 digest HEX (64 hex
 *                       digits), base64: for checking with other tools
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "keysd/keysd.h"
#include "queue/control.h"

static int keys_usage(void);

static int keys_usage(void)
{
	fputs("usage: petrel keys list [-c FILE]\n"
	      "       petrel keys test ID [-c FILE]\n"
	      "       petrel keys sign ID SHA256-HEX [-c FILE]\n", stderr);
	return 2;
}

int cmd_keys(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *args[3] = { NULL, NULL, NULL };
	size_t nargs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (argv[i][0] == '-' || nargs == 3)
			return keys_usage();
		else
			args[nargs++] = argv[i];
	}
	if (nargs == 0)
		return keys_usage();
	const char *action = args[0];
	size_t want = strcmp(action, "list") == 0 ? 1 : strcmp(action, "test") == 0 ? 2 :
		strcmp(action, "sign") == 0 ? 3 : 0;
	if (want == 0 || nargs != want)
		return keys_usage();
	if (nargs >= 2 && !keysd_id_is_valid(args[1], strlen(args[1]))) {
		fprintf(stderr, "petrel: bad key id '%s' (the file name without .pem: 1 to %d "
			"letters, digits, '-' and '_', in labels separated by dots)\n", args[1],
			KEYSD_ID_MAX);
		return 2;
	}
	if (nargs == 3) {
		bool hex = strlen(args[2]) == 2 * KEYSD_DIGEST_LEN;
		for (size_t i = 0; hex && args[2][i]; i++)
			hex = strchr("0123456789abcdefABCDEF", args[2][i]) != NULL;
		if (!hex) {
			fprintf(stderr, "petrel: bad digest '%s' (SHA-256: 64 hexadecimal "
				"digits)\n", args[2]);
			return 2;
		}
	}
	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	char request[CONTROL_LINE_MAX + 1], notfound[KEYSD_ID_MAX + 40];
	snprintf(request, sizeof(request), "keys-%s%s%s%s%s", action, nargs >= 2 ? " " : "",
		 nargs >= 2 ? args[1] : "", nargs == 3 ? " " : "", nargs == 3 ? args[2] : "");
	snprintf(notfound, sizeof(notfound), "no key %s in the keys process",
		 nargs >= 2 ? args[1] : "");
	int rc = cli_control_request(config->data_dir, request, notfound);
	config_free(&config);
	return rc;
}
