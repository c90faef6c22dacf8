// Output formats (see output.hpp). Rows are printed as they are measured, so the table has
// fixed column widths rather than widths fitted to the whole suite.

#include "output.hpp"

#include <cstdio>
#include <ostream>
#include <string_view>

namespace bench {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::optional<double> msgs_per_sec(const row& r) {
  if (!r.ns_per_msg || *r.ns_per_msg <= 0) return std::nullopt;
  return 1e9 / *r.ns_per_msg;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class json_printer final : public printer {
 public:
  explicit json_printer(std::ostream& out) : out_(out) {}
  void print(const row& r) override {
    const auto num = [](const std::optional<double>& v, int decimals) {
      return v ? fixed(*v, decimals) : std::string("null");
    };
    out_ << "{\"impl\":" << json_string(to_string(r.implementation))
         << ",\"workload\":" << json_string(to_string(r.p.w)) << ",\"capacity\":"
         << (r.p.capacity.unbounded ? json_string("unbounded") : r.p.capacity.to_string())
         << ",\"threads\":" << r.p.threads << ",\"producers\":" << r.p.producers
         << ",\"consumers\":" << r.p.consumers << ",\"messages\":" << r.p.messages
         << ",\"ns_per_msg\":" << num(r.ns_per_msg, 3)
         << ",\"ns_per_msg_min\":" << num(r.ns_per_msg_min, 3)
         << ",\"msgs_per_sec\":" << num(msgs_per_sec(r), 0) << ",\"peak_rss_kb\":"
         << (r.peak_rss_kb ? std::to_string(*r.peak_rss_kb) : std::string("null"));
    if (!r.note.empty()) out_ << ",\"note\":" << json_string(r.note);
    if (!r.skipped.empty()) out_ << ",\"skipped\":" << json_string(r.skipped);
    out_ << "}\n" << std::flush;
  }

 private:
  std::ostream& out_;
};

class csv_printer final : public printer {
 public:
  explicit csv_printer(std::ostream& out) : out_(out) {}
  void print(const row& r) override {
    if (!header_done_) {
      out_ << "impl,workload,capacity,threads,producers,consumers,messages,ns_per_msg,"
              "ns_per_msg_min,msgs_per_sec,peak_rss_kb,note,skipped\n";
      header_done_ = true;
    }
    const auto num = [](const std::optional<double>& v, int decimals) {
      return v ? fixed(*v, decimals) : std::string();
    };
    out_ << to_string(r.implementation) << ',' << to_string(r.p.w) << ','
         << r.p.capacity.to_string() << ',' << r.p.threads << ',' << r.p.producers << ','
         << r.p.consumers << ',' << r.p.messages << ',' << num(r.ns_per_msg, 3) << ','
         << num(r.ns_per_msg_min, 3) << ',' << num(msgs_per_sec(r), 0) << ','
         << (r.peak_rss_kb ? std::to_string(*r.peak_rss_kb) : std::string()) << ','
         << csv_field(r.note) << ',' << csv_field(r.skipped) << '\n'
         << std::flush;
  }

 private:
  std::ostream& out_;
  bool header_done_ = false;
};

class table_printer final : public printer {
 public:
  explicit table_printer(std::ostream& out) : out_(out) {}
  void print(const row& r) override {
    if (!header_done_) {
      line("impl", "workload", "capacity", "thr", "P", "C", "messages", "ns/msg", "ns/msg min",
           "Mmsg/s", "peak RSS kB", "note");
      header_done_ = true;
    }
    std::string note = r.note;
    if (!r.skipped.empty()) note = "skipped: " + r.skipped + (note.empty() ? "" : "; " + note);
    const auto num = [](const std::optional<double>& v, int decimals) {
      return v ? fixed(*v, decimals) : std::string("-");
    };
    const auto mps = msgs_per_sec(r);
    line(to_string(r.implementation), to_string(r.p.w), r.p.capacity.to_string(),
         std::to_string(r.p.threads), std::to_string(r.p.producers),
         std::to_string(r.p.consumers), std::to_string(r.p.messages), num(r.ns_per_msg, 1),
         num(r.ns_per_msg_min, 1), mps ? fixed(*mps / 1e6, 2) : std::string("-"),
         r.peak_rss_kb ? std::to_string(*r.peak_rss_kb) : std::string("-"), note);
    out_ << std::flush;
  }

 private:
  void line(std::string_view impl, std::string_view workload, std::string_view capacity,
            std::string_view threads, std::string_view producers, std::string_view consumers,
            std::string_view messages, std::string_view ns, std::string_view ns_min,
            std::string_view mps, std::string_view rss, std::string_view note) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-12.*s  %-12.*s  %9.*s  %3.*s  %3.*s  %3.*s  %10.*s  %9.*s  %10.*s  %8.*s  %11.*s",
                  int(impl.size()), impl.data(), int(workload.size()), workload.data(),
                  int(capacity.size()), capacity.data(), int(threads.size()), threads.data(),
                  int(producers.size()), producers.data(), int(consumers.size()),
                  consumers.data(), int(messages.size()), messages.data(), int(ns.size()),
                  ns.data(), int(ns_min.size()), ns_min.data(), int(mps.size()), mps.data(),
                  int(rss.size()), rss.data());
    out_ << buf;
    if (!note.empty()) out_ << "  " << note;
    out_ << '\n';
  }

  std::ostream& out_;
  bool header_done_ = false;
};

}  // namespace

std::unique_ptr<printer> make_printer(format f, std::ostream& out) {
  switch (f) {
    case format::json: return std::make_unique<json_printer>(out);
    case format::csv: return std::make_unique<csv_printer>(out);
    case format::table: break;
  }
  return std::make_unique<table_printer>(out);
}

}  // namespace bench
