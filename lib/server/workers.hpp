// Work the event loop hands to other threads and takes the results of back.
//
// A job runs on a pool thread and touches nothing of the loop's; what it
// returns is a continuation that runs on the loop (from take()), in the order
// the jobs finished. cugd checks passwords this way (Argon2id, as many at
// once as the pool has threads) and, on another pool, seals a resuming
// session's bundle: the pair keys, the encoding and the sealing of 49 peers
// were most of what a resume cost the loop (docs/BENCHMARKS.md).
#pragma once

#include "core/result.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace cug::server {

class Workers {
  public:
    using Continuation = std::function<void()>;
    using Job = std::function<Continuation()>;

    // `threads` >= 1; the pool writes to the eventfd `notify` whenever
    // continuations are ready to take().
    static Result<std::unique_ptr<Workers>> start(unsigned threads, int notify);
    // Stops and joins the threads; jobs not run yet and continuations not
    // taken are dropped.
    ~Workers();
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    void submit(Job job);
    std::vector<Continuation> take();

  private:
    struct Impl;
    explicit Workers(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace cug::server
