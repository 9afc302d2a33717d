/* serve: reads its options; src/serve.c does the work. */
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "http.h"
#include "serve.h"
#include "signals.h"

int cmd_serve(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256, OPT_LISTEN, OPT_POLL };
	static const struct option options[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"poll-interval", required_argument, NULL, OPT_POLL},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct serve_options o = {0};
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: {
			char *addr = NULL;
			int port = 0;
			if (!http_parse_listen(optarg, &addr, &port)) {
				return cli_usage_error(self,
					"--listen: expected ADDR:PORT such as 127.0.0.1:8722 or [::1]:8722 "
					"(port 0..65535, 0: any free one), got '%s'",
					optarg);
			}
			free(addr);
			o.listen = optarg;
			break;
		}
		case OPT_POLL: {
			int rc = cli_parse_duration(self, "--poll-interval", optarg, 1000, 86400000,
				&o.poll_interval_ms);
			if (rc != EXIT_OK) {
				return rc;
			}
			break;
		}
		case OPT_JSON:
			o.json = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	}
	signals_hup_reloads();
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	struct config *cfg = ctx->cfg;
	ctx->cfg = NULL; // serve takes it over, to swap it at a reload
	return (int)serve_run(cfg, &o);
}
