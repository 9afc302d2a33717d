#ifndef REFTY_LEVER_EXITCODE_H
#define REFTY_LEVER_EXITCODE_H

/* Exit statuses: a stable contract with operators and monitoring. Never
 * renumber. */
enum exit_code {
	EXIT_OK = 0,       /* the run completed, nothing failed */
	EXIT_PARTIAL = 1,  /* completed; some actions failed or are pending retry */
	EXIT_USAGE = 2,    /* usage or configuration error */
	EXIT_REMOTE = 3,   /* Lever or Refty unreachable, unauthorised, failing */
	EXIT_LOCAL = 4,    /* database, disk, lock file */
	EXIT_LOCKED = 5,   /* another run holds the lock; nothing done */
	EXIT_VALVE = 6,    /* more than max_actions side effects planned */
};

#endif
