#include "cli.h"
#include <string.h>

#include "exitcode.h"

/* Commands whose engine this build does not include yet. Each still honours
 * --help so that the interface can be explored. */
static int pending(const char *name, int argc, char **argv)
{
	const struct cli_command *self = cli_find_command(name);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cli_print_command_help(self);
			return EXIT_OK;
		}
	}
	return cli_not_provided(name);
}

int cmd_auth(struct cli *cli, int argc, char **argv)
{
	return pending("auth", argc, argv);
}
