// The work_stealing thread set of `--impl boost --threads T` (see boost_pool.hpp).

#include "boost_pool.hpp"

#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/operations.hpp>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bench {

namespace {

class pool {
 public:
  explicit pool(int threads) : threads_(threads) {
    workers_.reserve(static_cast<std::size_t>(threads));
    for (int w = 0; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
  }
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  int threads() const noexcept { return threads_; }

  void run(const std::function<void()>& job) {
    std::unique_lock lk(mutex_);
    job_ = &job;
    error_ = nullptr;
    const std::uint64_t seq = ++started_;
    wake_.notify_all();
    done_.wait(lk, [&] { return finished_ == seq; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  void stop() noexcept {
    {
      std::lock_guard lk(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void work(int w) {
    // work_stealing's constructor waits until all T threads have made theirs.
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(
        static_cast<std::uint32_t>(threads_));
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job = nullptr;
      {
        // Between jobs no fiber exists: sleep in the OS, not in the spinning dispatcher.
        std::unique_lock lk(mutex_);
        wake_.wait(lk, [&] { return stopping_ || started_ != seen; });
        if (stopping_) return;
        seen = started_;
        job = job_;
      }
      if (w == 0) {
        std::exception_ptr error;
        try {
          (*job)();
        } catch (...) {
          error = std::current_exception();
        }
        {
          std::lock_guard fl(fiber_mutex_);
          job_over_ = seen;
        }
        job_end_.notify_all();
        std::lock_guard lk(mutex_);
        error_ = error;
        finished_ = seen;
        done_.notify_all();
      } else {
        // While the job runs, this thread's main fiber waits in a fiber condition variable,
        // so the thread's dispatcher runs (and steals) fibers meanwhile.
        // >=, not ==: thread 0 may have finished this job and a later one before this
        // thread got here.
        std::unique_lock fl(fiber_mutex_);
        job_end_.wait(fl, [&] { return job_over_ >= seen; });
      }
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;

  std::mutex mutex_;  // guards the fields up to error_
  std::condition_variable wake_;  // a job was posted, or stop
  std::condition_variable done_;  // thread 0 finished a job
  const std::function<void()>* job_ = nullptr;
  std::uint64_t started_ = 0;
  std::uint64_t finished_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;

  boost::fibers::mutex fiber_mutex_;  // guards job_over_
  boost::fibers::condition_variable job_end_;
  std::uint64_t job_over_ = 0;
};

std::mutex the_pool_mutex;
pool* the_pool = nullptr;  // never deleted: its threads may outlive main (rows end by _exit)
bool the_pool_stopped = false;

}  // namespace

void run_on_work_stealing(int threads, const std::function<void()>& job) {
  pool* p = nullptr;
  {
    std::lock_guard lk(the_pool_mutex);
    if (the_pool_stopped) throw std::runtime_error("boost work_stealing: the pool was stopped");
    if (!the_pool) the_pool = new pool(threads);
    if (the_pool->threads() != threads) {
      throw std::runtime_error(
          "boost work_stealing can be set up once per process, and this one runs it on " +
          std::to_string(the_pool->threads()) + " threads: run rows with " +
          std::to_string(threads) + " threads in a process of their own (without --in-process)");
    }
    p = the_pool;
  }
  p->run(job);
}

void stop_work_stealing() noexcept {
  std::lock_guard lk(the_pool_mutex);
  if (the_pool) the_pool->stop();
  the_pool_stopped = true;
}

}  // namespace bench
