// wordfreq: the K most frequent words of some files (or of stdin), counted by fibers.
//
//   reader thread -chunks-> splitters (--width) -words-> shards (--shards) -top K-> merge
//
// A word is a maximal run of ASCII letters and digits, folded to lower case. Each splitter
// sends every word to the shard its hash names, so each shard fiber owns its words and its
// map outright: no counter is ever shared. The shards' top Ks are merged into the top K.
// Output: `count word` lines, by count descending then word ascending, then the summary.
//
//   wordfreq -k 10 book.txt        wordfreq < book.txt        wordfreq -k 0 (every word)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

constexpr std::size_t chunk_size = 64 * 1024;
using entry = std::pair<std::string, long>;  // a word and its count
using batch = std::vector<std::string>;      // words for one shard

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Sends fd's text in chunks that end between words; adds what it read to `total` (and
// shows it on a terminal every 16 MiB). False once `out` is closed: stop.
bool read_text(int fd, const csp::sender<std::string>& out, std::size_t& total) {
  std::string text;  // begins with the unfinished word the last chunk left behind
  for (;;) {
    const std::size_t old = text.size();
    text.resize(old + chunk_size);
    const ssize_t got = ::read(fd, text.data() + old, chunk_size);
    if (got < 0) std::perror("wordfreq: read");
    text.resize(old + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
    if (got <= 0) return text.empty() || out.send(std::move(text));
    total += static_cast<std::size_t>(got);
    if (::isatty(2) && (total - static_cast<std::size_t>(got)) >> 24 != total >> 24) {
      std::fprintf(stderr, "\rwordfreq: %zu MiB read", total >> 20);
    }
    std::size_t cut = text.size();
    while (cut > 0 && is_word_char(text[cut - 1])) --cut;
    if (cut == 0) continue;  // one word longer than a chunk so far: read on
    std::string rest = text.substr(cut);
    text.resize(cut);
    if (!out.send(std::move(text))) return false;
    text = std::move(rest);
  }
}

// Runs on a plain thread: a read that blocks (a terminal, a pipe) would stall a worker
// thread and every fiber on it.
void read_inputs(std::vector<std::string> paths, csp::sender<std::string> out) {
  std::size_t total = 0;
  for (const std::string& path : paths) {
    const int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::fprintf(stderr, "wordfreq: cannot open %s\n", path.c_str());
    const bool more = fd < 0 || read_text(fd, out, total);
    if (fd > 0) ::close(fd);
    if (!more) break;
  }
  if (::isatty(2) && total >> 24 != 0) std::fputc('\n', stderr);
}  // `out` goes: the chunks channel closes, and the end ripples down to the merge

// Returns how many bytes it split.
long split(csp::receiver<std::string> chunks, std::vector<csp::sender<batch>> shards) {
  const std::hash<std::string> hash;
  long bytes = 0;
  for (std::string& text : chunks) {
    bytes += static_cast<long>(text.size());
    std::vector<batch> batches(shards.size());
    for (std::size_t i = 0; i < text.size();) {
      while (i < text.size() && !is_word_char(text[i])) ++i;
      std::string word;
      for (; i < text.size() && is_word_char(text[i]); ++i) word += lower(text[i]);
      if (!word.empty()) batches[hash(word) % shards.size()].push_back(std::move(word));
    }
    for (std::size_t s = 0; s < shards.size(); ++s) {
      if (!batches[s].empty()) shards[s].send(std::move(batches[s]));
    }
  }
  return bytes;
}

// Sorts the best k to the front (by count descending, then word) and drops the rest.
void keep_top(std::vector<entry>& v, std::size_t k) {  // k == 0: keep all
  const std::size_t n = (k == 0 || k > v.size()) ? v.size() : k;
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(),
                    [](const entry& a, const entry& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  v.resize(n);
}

struct tally {
  std::vector<entry> top;
  long words = 0, distinct = 0, bytes = 0;
  int stopped_by = 0;  // the signal that stopped the reading, or 0
};

void count(csp::receiver<batch> in, csp::sender<tally> out, std::size_t k) {
  std::unordered_map<std::string, long> counts;
  tally t;
  for (batch& words : in) {
    for (std::string& w : words) ++counts[std::move(w)];
    t.words += static_cast<long>(words.size());
  }
  t.distinct = static_cast<long>(counts.size());
  t.top.assign(std::make_move_iterator(counts.begin()), std::make_move_iterator(counts.end()));
  keep_top(t.top, k);
  out.send(std::move(t));
}

tally count_words(csp::receiver<std::string> chunks, std::size_t width, std::size_t shards,
                  std::size_t k) {
  auto [done_tx, done_rx] = csp::make_channel<int>();  // closed when the counting is over
  // On SIGINT or SIGTERM, close the chunks: the reader stops, what it sent is still counted.
  csp::task<int> watcher = csp::spawn([chunks, done = done_rx] {
    csp::receiver<int> sig = csp::signals({SIGINT, SIGTERM});
    int why = 0;
    csp::select(csp::on_recv(done, [] {}),
                csp::on_recv(sig, [&](csp::result<int> s) { why = *s; }));
    if (why != 0) chunks.close();
    return why;
  });

  csp::receiver<tally> results;
  std::vector<csp::task<long>> splitters;
  {
    auto [result_tx, result_rx] = csp::make_channel<tally>(shards);
    results = std::move(result_rx);
    std::vector<csp::sender<batch>> to_shard;
    for (std::size_t s = 0; s < shards; ++s) {
      auto [tx, rx] = csp::make_channel<batch>(4);
      csp::go(count, std::move(rx), result_tx, k);
      to_shard.push_back(std::move(tx));
    }
    for (std::size_t i = 0; i < width; ++i) {
      splitters.push_back(csp::spawn(split, chunks, to_shard));
    }
  }  // our senders go: each channel closes when the last fiber sending into it ends

  // The merge. Shards own disjoint words, so the best K overall are among their top Ks.
  tally all;
  for (tally& t : results) {
    all.words += t.words, all.distinct += t.distinct;
    std::move(t.top.begin(), t.top.end(), std::back_inserter(all.top));
  }
  keep_top(all.top, k);
  for (auto& s : splitters) all.bytes += s.join();
  done_tx.close();
  all.stopped_by = watcher.join();
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wordfreq: the most frequent words of files or stdin, counted by sharded fibers"};
  std::vector<std::string> paths;
  std::size_t k = 10, width = 2, shards = 4, threads = 1;
  app.add_option("files", paths, "Files to read; none or '-': standard input")
      ->type_name("FILE")
      ->check((CLI::ExistingFile | CLI::IsMember({"-"})).description(""));
  app.add_option("-k,--top", k, "How many words to print (0: every word)")
      ->capture_default_str()
      ->check(CLI::Range(0L, 1'000'000'000L));
  app.add_option("--width,-w", width, "Splitter fibers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--shards,-s", shards, "Counting fibers, each owning the words that hash to it")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  if (paths.empty()) paths.push_back("-");
  const std::size_t files = paths.size();

  const auto start = std::chrono::steady_clock::now();
  auto [chunks_tx, chunks_rx] = csp::make_channel<std::string>(4);
  std::thread reader(read_inputs, std::move(paths), std::move(chunks_tx));
  const tally r = csp::run(threads, count_words, std::move(chunks_rx), width, shards, k);
  // Stopped by a signal, the reader may be blocked in read() for good (a terminal): leave it.
  if (r.stopped_by != 0) {
    reader.detach();
  } else {
    reader.join();
  }
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;

  for (const entry& e : r.top) std::printf("%ld %s\n", e.second, e.first.c_str());
  const char* why = r.stopped_by == 0 ? "none" : r.stopped_by == SIGINT ? "SIGINT" : "SIGTERM";
  std::printf("summary: words=%ld distinct=%ld files=%zu bytes=%ld stopped_by=%s width=%zu "
              "shards=%zu threads=%zu ms=%.1f\n",
              r.words, r.distinct, files, r.bytes, why, width, shards, threads, ms.count());
  std::fflush(stdout);
  return r.stopped_by != 0 ? 128 + r.stopped_by : EXIT_SUCCESS;
}
