/*
 * wikigen.h — a deterministic generator of realistic Wikipedia edit events,
 * the data set of the Apache Druid quickstart ("wikiticker"), for tests,
 * benchmarks and `lodestar quickstart`, so that nothing ships or depends on a
 * sample file.
 *
 * Entry points: wikigen_new(), wikigen_next(), wikigen_free().
 *
 * Each event is one nd-json object with the 20 fields of the quickstart data,
 * in its order: time, channel, cityName, comment, countryIsoCode,
 * countryName, isAnonymous, isMinor, isNew, isRobot, isUnpatrolled,
 * metroCode, namespace, page, regionIsoCode, regionName, user, delta, added,
 * deleted. The shape follows the real set: about 430 bytes per event; ~50
 * channels with #en.wikipedia first and #vi.wikipedia (almost all bots)
 * second; Zipf-like skew of pages and users; robots, minor, new and
 * unpatrolled edits at per-channel rates; geography (country, region, city,
 * US metro code) only for anonymous users, who appear as IPv4 addresses, so
 * those fields are null ~90-99% of the time; localized namespaces; unicode
 * titles, users and comments in a dozen scripts with the odd emoji; comments
 * with quotes (JSON-escaped), and about 1% of comments written by an
 * "ASCII-only" producer with \uXXXX escapes; added/deleted from heavy-tailed
 * distributions with delta = added - deleted. Page titles and user names are
 * a fixed function of (channel, popularity rank), so the same page recurs
 * across seeds; the seed drives the sequence of events.
 *
 * Thread-safety: a generator belongs to one thread; separate generators are
 * independent.
 */
#ifndef LODESTAR_UTIL_WIKIGEN_H
#define LODESTAR_UTIL_WIKIGEN_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct wikigen;

/* A generator whose event sequence is a function of seed alone. NULL on OOM. */
struct wikigen *wikigen_new(uint64_t seed);
void wikigen_free(struct wikigen *g);

/*
 * Appends one event with the given time (ms since the epoch, rendered as
 * "2015-09-12T00:46:58.771Z") to out, WITHOUT a trailing newline: add '\n'
 * for nd-json bodies, nothing for one-record Kafka messages. Returns the
 * number of bytes appended, or 0 when the buffer failed (its cap or OOM).
 * Each event is at most WIKIGEN_MAX_EVENT bytes.
 */
size_t wikigen_next(struct wikigen *g, int64_t time_ms, struct buf *out);

#define WIKIGEN_MAX_EVENT 4096

#endif
