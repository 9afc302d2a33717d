#include <stdio.h>

int main(void)
{
	puts("refty-lever " REFTY_LEVER_VERSION);
	return 0;
}
