#ifndef REFTY_LEVER_SERVE_H
#define REFTY_LEVER_SERVE_H

/*
 * `serve`: Lever's webhook deliveries as hints, and the watch loop's polls as the net under
 * them, in one process. The receiver (receiver.c) answers deliveries on the HTTP server's
 * thread and only collects the opportunity ids they name; the watch loop (watch.c) runs a
 * targeted sync of those between its polls, through the one Lever client, its rate limiter
 * and the one writer of the state. GET /healthz says whether the last poll succeeded within
 * twice the poll interval. TLS is a reverse proxy's job.
 */

#include <stdbool.h>
#include <stdint.h>

#include "exitcode.h"

struct config;

struct serve_options {
	const char *listen;        /* "ADDR:PORT" (port 0: any free one); NULL: webhooks.listen */
	int64_t poll_interval_ms;  /* 0: webhooks.poll_interval */
	bool json;                 /* JSON Lines on stdout */
};

/** Takes over cfg. Runs until a stop is requested (0), or fails to start (logged). */
enum exit_code serve_run(struct config *cfg, const struct serve_options *o);

#endif
