// wordfreq: the K most frequent words of some files (or of stdin), counted by fibers, or by
// worker processes over csp::net.
//
//   reader thread -chunks-> splitters (--width) -words-> shards (--shards) -top K-> merge
//
// A word is a maximal run of ASCII letters and digits, folded to lower case. Each splitter
// sends every word to the shard its hash names, so each shard fiber owns its words and its
// map outright: no counter is ever shared. The shards' top Ks are merged into the top K.
// Output: `count word` lines, by count descending then word ascending, then the summary.
//
// --workers N: the N shards are N worker processes (this binary again, in a hidden
// --serve-shard mode). Each listens for its batches on a free port of 127.0.0.1 and writes
// that URL on its stdout, a pipe to us; we dial it, and the splitters send to that
// csp::net sender exactly as to a local shard's channel. When its batches end (we closed the
// sender, every batch arrived), a worker sends its tally to our listener, and the merge is
// the same: so is the output. A worker that loses us (its links break) exits.
//
//   wordfreq -k 10 book.txt     wordfreq < book.txt     wordfreq -k 0 (every word)
//   wordfreq --workers 4 book.txt
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>
#include <csp/net.hpp>

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
    // To a lost worker (--workers) a send fails, as on any closed channel: the merge will
    // miss its tally, and wordfreq fails.
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
  int stopped_by = 0;      // the signal that stopped the reading, or 0
  std::size_t merged = 0;  // how many shards' tallies the merge got

  template <class A>
  void serialize(A& a) {  // what a worker sends back: csp::net encodes it with cereal
    a(top, words, distinct);
  }
};

// Counts one shard's words until its batches end.
tally count(csp::receiver<batch> in, std::size_t k) {
  std::unordered_map<std::string, long> counts;
  tally t;
  for (batch& words : in) {
    for (std::string& w : words) ++counts[std::move(w)];
    t.words += static_cast<long>(words.size());
  }
  t.distinct = static_cast<long>(counts.size());
  t.top.assign(std::make_move_iterator(counts.begin()), std::make_move_iterator(counts.end()));
  keep_top(t.top, k);
  return t;
}

// The shards, as the splitters and the merge see them.
struct shard_set {
  std::vector<csp::sender<batch>> in;  // one per shard, the words that hash to it
  csp::receiver<tally> out;            // their tallies; closes after the last one
};

// n counting fibers of ours, each fed by a channel of its own.
shard_set local_shards(std::size_t n, std::size_t k) {
  auto [tally_tx, tally_rx] = csp::make_channel<tally>(n);
  shard_set s{{}, std::move(tally_rx)};
  for (std::size_t i = 0; i < n; ++i) {
    auto [tx, rx] = csp::make_channel<batch>(4);
    csp::go([in = std::move(rx), out = tally_tx, k] { out.send(count(in, k)); });
    s.in.push_back(std::move(tx));
  }
  return s;
}

// remote: the workers' shards (--workers), or none: then n counting fibers of ours.
tally count_words(csp::receiver<std::string> chunks, std::size_t width, std::size_t n,
                  std::size_t k, shard_set remote) {
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
    shard_set to = remote.in.empty() ? local_shards(n, k) : std::move(remote);
    results = to.out;
    for (std::size_t i = 0; i < width; ++i) {
      splitters.push_back(csp::spawn(split, chunks, to.in));
    }
  }  // our senders go: each channel closes when the last fiber sending into it ends

  // The merge. Shards own disjoint words, so the best K overall are among their top Ks.
  tally all;
  for (tally& t : results) {
    all.words += t.words, all.distinct += t.distinct, ++all.merged;
    std::move(t.top.begin(), t.top.end(), std::back_inserter(all.top));
  }
  keep_top(all.top, k);
  for (auto& s : splitters) all.bytes += s.join();
  done_tx.close();
  all.stopped_by = watcher.join();
  return all;
}

// A batch holds a whole word, however long; a tally (-k 0) a shard's every word.
const csp::net::options big_frames{.max_frame = std::size_t{1} << 30};
constexpr std::chrono::seconds hello_timeout{10};

// --serve-shard URL: a worker process, counting one shard. It listens for its batches,
// writes where on stdout (a pipe to the coordinator), counts until they end and sends its
// tally to the coordinator's listener at URL.
int serve_shard(const std::string& tallies_url, std::size_t k) {
  // Ctrl-C on a terminal reaches the whole process group. It is the coordinator's to handle:
  // it stops the reading and ends our batches, and we count what came.
  std::signal(SIGINT, SIG_IGN);
  csp::net::listener<batch> batches = csp::net::listen<batch>("tcp://127.0.0.1:0", big_frames);
  csp::sender<tally> out = csp::net::dial<tally>(tallies_url, big_frames);
  std::printf("%s\n", batches.url().c_str());
  std::fflush(stdout);
  // The coordinator dials us at once and sends an empty batch, a hello; if none comes, it
  // is gone. Once it is connected, losing it (the link breaks or goes silent) closes rx.
  if (!batches.rx().recv_for(hello_timeout)) throw std::runtime_error("no hello came");
  tally t = count(batches.rx(), k);
  if (batches.peers_closed() != 1) {  // lost: a partial count is no count
    throw std::runtime_error("lost the coordinator: " + batches.last_loss());
  }
  if (!out.send(std::move(t))) throw std::runtime_error("lost the coordinator");
  return EXIT_SUCCESS;
}  // `out` goes: that waits until the tally has reached the coordinator

// Starts this binary (`self`) again as a worker and reads the URL it listens on ("" if it
// never said). Returns its pid, or -1.
pid_t start_worker(const std::string& self, const std::string& tallies_url, std::size_t k,
                   std::string& url) {
  int pipe[2];
  if (::pipe2(pipe, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  posix_spawn_file_actions_adddup2(&io, pipe[1], 1);                   // stdout: the pipe
  posix_spawn_file_actions_addopen(&io, 0, "/dev/null", O_RDONLY, 0);  // stdin: not ours
  std::vector<std::string> args{"wordfreq", "--serve-shard", tallies_url, "-k", std::to_string(k)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, self.c_str(), &io, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&io);
  ::close(pipe[1]);
  FILE* from = ::fdopen(pipe[0], "r");
  char line[256] = "";
  if (std::fgets(line, sizeof line, from) == nullptr) line[0] = '\0';  // it ended first
  std::fclose(from);
  url.assign(line, std::strcspn(line, "\n"));
  return pid;
}

// --workers n: starts n workers (their pids go to `pids`, even if this throws), dials each
// and greets it. Their tallies come to `tallies`.
shard_set remote_shards(std::size_t n, std::size_t k, const csp::net::listener<tally>& tallies,
                        std::vector<pid_t>& pids) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  shard_set s{{}, tallies.rx()};
  for (std::size_t i = 0; i < n; ++i) {
    std::string url;
    const pid_t pid = start_worker(self, tallies.url(), k, url);
    if (pid > 0) pids.push_back(pid);
    if (url.empty()) throw std::runtime_error("a worker process did not start");
    s.in.push_back(csp::net::dial<batch>(url, big_frames));
    s.in.back().send(batch{});  // the hello
  }
  return s;
}

// Waits for the workers; true if each exited with status 0.
bool wait_workers(const std::vector<pid_t>& pids) {
  bool ok = true;
  for (pid_t pid : pids) {
    int status = 0;
    ok = ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
  }
  return ok;
}

// Ends the workers (of no use once one is lost, even if stopped) and waits for them.
void stop_workers(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  wait_workers(pids);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wordfreq: the most frequent words of files or stdin, counted by sharded fibers"};
  std::vector<std::string> paths;
  std::size_t k = 10, width = 2, shards = 4, threads = 1, workers = 0;
  std::string serve;
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
  app.add_option("--workers", workers, "Count in N processes over csp::net, a shard each (0: here)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64))
      ->excludes("--shards");
  app.add_option("--serve-shard", serve, "A worker's hidden mode: send the tally to URL")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (!serve.empty()) {
    try {
      return serve_shard(serve, k);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "wordfreq worker: %s\n", e.what());
      return EXIT_FAILURE;
    }
  }
  if (paths.empty()) paths.push_back("-");
  const std::size_t files = paths.size();

  const auto start = std::chrono::steady_clock::now();
  csp::net::listener<tally> tallies;  // --workers: their tallies come here
  std::vector<pid_t> pids;
  shard_set remote;
  if (workers > 0) {
    shards = workers;
    try {
      tallies = csp::net::listen<tally>("tcp://127.0.0.1:0",
                                        {.peers = workers, .max_frame = big_frames.max_frame});
      remote = remote_shards(workers, k, tallies, pids);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "wordfreq: %s\n", e.what());
      stop_workers(pids);
      return EXIT_FAILURE;
    }
  }
  auto [chunks_tx, chunks_rx] = csp::make_channel<std::string>(4);
  std::thread reader(read_inputs, std::move(paths), std::move(chunks_tx));
  const tally r =
      csp::run(threads, count_words, std::move(chunks_rx), width, shards, k, std::move(remote));
  // Stopped by a signal, the reader may be blocked in read() for good (a terminal): leave it.
  if (r.stopped_by != 0) {
    reader.detach();
  } else {
    reader.join();
  }
  if (r.merged != shards) {
    std::fprintf(stderr, "wordfreq: lost a worker: %zu of %zu shards counted\n", r.merged, shards);
    stop_workers(pids);
    return EXIT_FAILURE;
  }
  if (!wait_workers(pids)) {
    std::fprintf(stderr, "wordfreq: a worker failed\n");
    return EXIT_FAILURE;
  }
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;

  for (const entry& e : r.top) std::printf("%ld %s\n", e.second, e.first.c_str());
  const char* why = r.stopped_by == 0 ? "none" : r.stopped_by == SIGINT ? "SIGINT" : "SIGTERM";
  std::printf("summary: words=%ld distinct=%ld files=%zu bytes=%ld stopped_by=%s width=%zu "
              "shards=%zu threads=%zu workers=%zu ms=%.1f\n",
              r.words, r.distinct, files, r.bytes, why, width, shards, threads, workers,
              ms.count());
  std::fflush(stdout);
  return r.stopped_by != 0 ? 128 + r.stopped_by : EXIT_SUCCESS;
}
