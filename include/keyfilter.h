/* A Bloom filter of byte strings that threads add to and query without a lock: it answers
 * "certainly absent" or "maybe present", so a lookup that would otherwise go to disk can be
 * skipped when the key is new. Keys cannot be removed; a filter holding more keys than it
 * was sized for still answers correctly, only "maybe" more often. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct keyfilter; /* opaque */

/* Sized for `keys` keys (at least a few thousand) at 12 bits per key: about 0.3 % false
 * "maybe" answers at that load, 0.004 % at half of it. NULL when memory is short. */
struct keyfilter *keyfilter_new(size_t keys);
void keyfilter_free(struct keyfilter *f);
void keyfilter_add(struct keyfilter *f, const void *key, size_t len);
bool keyfilter_may_contain(const struct keyfilter *f, const void *key, size_t len);
/* Distinct keys added so far (a key added again does not count, nor does one whose bits
 * were all set already: a few percent at full load), and the number the filter was sized
 * for. */
size_t keyfilter_count(const struct keyfilter *f);
size_t keyfilter_capacity(const struct keyfilter *f);
