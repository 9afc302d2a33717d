#ifndef REFTY_LEVER_FUZZ_H
#define REFTY_LEVER_FUZZ_H

/*
 * What every fuzz target shares. A target is one LLVMFuzzerTestOneInput that runs its input
 * through the tool's own entry points and checks what they promise; libFuzzer drives it in
 * the fuzz build (-Dfuzz=true), and replay.c feeds it the committed corpus and regressions
 * in the default test suite.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A broken promise aborts, so that libFuzzer keeps the input and the replay test fails. Not
 * assert(): it must hold in every build type.
 */
#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#endif
