/* The journal's key formats are Refty's Idempotency-Keys: an intent recorded by one version is
 * performed by the next under the same key, so these strings may never change. */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "tap.h"

static void check(char *got, const char *want, const char *what)
{
	is_str(got, want, what);
	free(got);
}

int main(void)
{
	check(journal_key_candidate("o1", "seq_a"), "lever:o1:seq_a:candidate", "candidate key");
	check(journal_key_step("o1", "stg_b", 1767225600000), "lever:o1:stg_b:1767225600000",
		"step key");
	check(journal_key_contact("o1", "seq_a", 1767225600123), "lever:o1:seq_a:contact:1767225600123",
		"contact key");
	check(journal_key_contact_hash("o1", "seq_a", 0xabcULL),
		"lever:o1:seq_a:contact:h0000000000000abc", "contact key without updatedAt");
	check(journal_key_skip("archived", "lever:o1:seq_a:candidate"),
		"skip:archived:lever:o1:seq_a:candidate", "skip key");
	check(journal_key_unreadable("o1"), "lever:o1:unreadable", "unreadable key");
	check(journal_key_untrusted("o1", "stageChanges", "st", 4102444800000),
		"lever:o1:untrusted:stageChanges:st:4102444800000", "untrusted key");
	check(journal_key_untrusted("o1", "updatedAt", NULL, -1), "lever:o1:untrusted:updatedAt:-:-1",
		"untrusted key without a stage");
	check(journal_external_id("o1"), "lever:o1", "external id");
	const char *back = journal_external_opportunity("lever:o1");
	ok(back && strcmp(back, "o1") == 0, "external id read back");
	ok(journal_external_opportunity("greenhouse:o1") == NULL, "another system's id is refused");
	ok(journal_external_opportunity("lever:") == NULL, "an empty opportunity id is refused");
	ok(journal_external_opportunity(NULL) == NULL, "no id is refused");
	for (int k = 0; k < ACTION_KIND_COUNT; k++) {
		ok(action_kind_from_name(action_kind_name((enum action_kind)k)) == k,
			"kind name read back");
	}
	is_str(action_kind_name(ACTION_SEND_STEP), "send_step", "stored kind names do not change");
	ok(action_kind_from_name("send_email") == -1, "an unknown kind is refused");
	ok(action_kind_from_name(NULL) == -1, "no kind is refused");
	return tap_done();
}
