/*
 * bench-launch RESULT-FILE PROGRAM [ARGS...]: runs PROGRAM and writes its peak RSS (KiB) and
 * CPU time (user+sys, seconds) to RESULT-FILE, then exits with PROGRAM's status.
 *
 * A child's ru_maxrss starts from its parent's resident size at fork, so measured from the
 * benchmark's Python driver it counts the driver's memory too. Forked from this small
 * process instead, the figure is the program's own.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench-launch RESULT-FILE PROGRAM [ARGS...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench-launch: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("bench-launch: exec");
		_exit(127);
	}
	int status = 0;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("bench-launch: wait4");
		return 2;
	}
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror("bench-launch: result file");
		return 2;
	}
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	fprintf(f, "%ld %.6f\n", ru.ru_maxrss, cpu);
	if (fclose(f) != 0) {
		perror("bench-launch: result file");
		return 2;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
