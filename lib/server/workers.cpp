#include "server/workers.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace cug::server {

struct Workers::Impl {
    int notify = -1;
    std::mutex mutex;
    std::condition_variable ready;
    bool stopping = false;
    std::deque<Job> jobs;
    std::vector<Continuation> done;
    std::vector<std::thread> threads;

    ~Impl() {
        {
            std::lock_guard lock(mutex);
            stopping = true;
        }
        ready.notify_all();
        for (auto& t : threads)
            t.join();
    }

    void run() {
        for (;;) {
            Job job;
            {
                std::unique_lock lock(mutex);
                ready.wait(lock, [this] { return stopping || !jobs.empty(); });
                if (stopping) return;
                job = std::move(jobs.front());
                jobs.pop_front();
            }
            Continuation then = job();
            {
                std::lock_guard lock(mutex);
                done.push_back(std::move(then));
            }
            const std::uint64_t one = 1;
            (void)!::write(notify, &one, sizeof one);
        }
    }
};

Workers::Workers(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Workers::~Workers() = default;

Result<std::unique_ptr<Workers>> Workers::start(unsigned threads, int notify) {
    auto impl = std::make_unique<Impl>();
    impl->notify = notify;
    for (unsigned i = 0; i < std::max(1u, threads); ++i)
        impl->threads.emplace_back([p = impl.get()] { p->run(); });
    return std::unique_ptr<Workers>(new Workers(std::move(impl)));
}

void Workers::submit(Job job) {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->jobs.push_back(std::move(job));
    }
    impl_->ready.notify_one();
}

std::vector<Workers::Continuation> Workers::take() {
    std::vector<Continuation> out;
    std::lock_guard lock(impl_->mutex);
    out.swap(impl_->done);
    return out;
}

}  // namespace cug::server
