#pragma once
// Output formats: an aligned table (default), JSON (one object per line) or CSV.
//
// JSON keys, exactly, in this order: impl, workload, capacity (a number, or "unbounded"),
// threads, producers, consumers, messages, ns_per_msg (median of the --repeat runs),
// ns_per_msg_min, msgs_per_sec (from the median), peak_rss_kb (ru_maxrss after the row's
// runs); then "note" and "skipped" only when they say something. A skipped row has null
// measurements. CSV has the same columns, then note and skipped, under a header line.

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "workload.hpp"

namespace bench {

enum class format { table, json, csv };

struct row {
  impl implementation = impl::csp;
  params p;
  std::optional<double> ns_per_msg;      // median
  std::optional<double> ns_per_msg_min;
  std::optional<long> peak_rss_kb;
  std::string note;
  std::string skipped;
};

class printer {
 public:
  virtual ~printer() = default;
  // Prints one row (and, before the first, any header), then flushes.
  virtual void print(const row& r) = 0;
};

std::unique_ptr<printer> make_printer(format f, std::ostream& out);

}  // namespace bench
