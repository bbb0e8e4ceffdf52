#include "server/handshakes.hpp"

#include "core/time.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace cug::server {

namespace {

// A connection in its handshake: a bare socket until its first bytes come.
struct Job {
    int fd = -1;
    std::optional<net::TlsStream> tls;
    net::Endpoint peer;
    std::int64_t deadline = 0;
    std::chrono::steady_clock::time_point began;  // the first bytes

    Job(int f, net::Endpoint p, std::int64_t d) : fd(f), peer(p), deadline(d) {}
    Job(Job&& o) noexcept
        : fd(o.fd), tls(std::move(o.tls)), peer(o.peer), deadline(o.deadline), began(o.began) {
        o.fd = -1;
    }
    Job& operator=(Job&&) = delete;
    ~Job() {
        if (!tls && fd >= 0) ::close(fd);  // a TlsStream closes its own
    }
};

// One thread: its own epoll set over the connections it is shaking hands
// with, and an eventfd that says new ones are waiting.
struct Worker {
    int epoll_fd = -1;
    int wake_fd = -1;
    std::mutex mutex;
    std::deque<Job> incoming;
    std::thread thread;
};

}  // namespace

struct HandshakePool::Impl {
    explicit Impl(const net::TlsContext& context) : tls(context) {}
    const net::TlsContext& tls;
    int notify = -1;
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> pending{0};
    std::vector<std::unique_ptr<Worker>> workers;
    std::size_t next = 0;  // round robin, used by the loop's thread only
    std::mutex done_mutex;
    std::vector<Established> done;
    std::vector<net::Endpoint> dropped;

    ~Impl() {
        stopping = true;
        for (auto& w : workers) {
            const std::uint64_t one = 1;
            if (w->wake_fd >= 0) (void)!::write(w->wake_fd, &one, sizeof one);
        }
        for (auto& w : workers) {
            if (w->thread.joinable()) w->thread.join();
            for (int fd : {w->epoll_fd, w->wake_fd})
                if (fd >= 0) ::close(fd);
        }
    }

    void run(Worker& w) {
        std::map<int, Job> mine;
        auto drop = [&](std::map<int, Job>::iterator it) {
            epoll_ctl(w.epoll_fd, EPOLL_CTL_DEL, it->first, nullptr);
            {
                std::lock_guard lock(done_mutex);
                dropped.push_back(it->second.peer);
            }
            mine.erase(it);  // closes the socket
            --pending;
            const std::uint64_t one = 1;
            (void)!::write(notify, &one, sizeof one);
        };
        // One handshake step: on to the loop when done, closed when failed.
        auto step = [&](std::map<int, Job>::iterator it) {
            Job& job = it->second;
            if (!job.tls) {  // the first bytes: now the TLS state
                auto made = net::TlsStream::accept(tls, job.fd);
                if (!made) {
                    job.fd = -1;  // closed by accept
                    return drop(it);
                }
                job.tls.emplace(std::move(*made));
                job.began = std::chrono::steady_clock::now();
            }
            auto wait = job.tls->handshake();
            if (!wait) return drop(it);
            if (*wait == net::TlsWait::none) {
                epoll_ctl(w.epoll_fd, EPOLL_CTL_DEL, it->first, nullptr);
                {
                    std::lock_guard lock(done_mutex);
                    const std::chrono::duration<double> took =
                        std::chrono::steady_clock::now() - job.began;
                    done.push_back({std::move(*job.tls), job.peer, job.deadline, took.count()});
                }
                mine.erase(it);
                --pending;
                const std::uint64_t one = 1;
                (void)!::write(notify, &one, sizeof one);
                return;
            }
            epoll_event ev{};
            ev.events = *wait == net::TlsWait::read ? EPOLLIN : EPOLLOUT;
            ev.data.fd = it->first;
            if (epoll_ctl(w.epoll_fd, EPOLL_CTL_MOD, it->first, &ev) != 0) drop(it);
        };
        epoll_event events[64];
        while (!stopping) {
            const int n = epoll_wait(w.epoll_fd, events, 64, 1000);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == w.wake_fd) {
                    std::uint64_t count;
                    (void)!::read(w.wake_fd, &count, sizeof count);
                    std::deque<Job> jobs;
                    {
                        std::lock_guard lock(w.mutex);
                        jobs.swap(w.incoming);
                    }
                    for (auto& job : jobs) {
                        const int job_fd = job.fd;
                        auto [it, added] = mine.emplace(job_fd, std::move(job));
                        if (!added) continue;
                        // Nothing is done until the client speaks first.
                        epoll_event ev{};
                        ev.events = EPOLLIN;
                        ev.data.fd = job_fd;
                        if (epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, job_fd, &ev) != 0) drop(it);
                    }
                } else if (auto it = mine.find(fd); it != mine.end()) {
                    step(it);
                }
            }
            const std::int64_t now = unix_now();
            for (auto it = mine.begin(); it != mine.end();) {
                auto here = it++;
                if (now > here->second.deadline) drop(here);
            }
        }
        pending -= mine.size();
        mine.clear();
    }
};

HandshakePool::HandshakePool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HandshakePool::~HandshakePool() = default;

Result<std::unique_ptr<HandshakePool>> HandshakePool::start(unsigned threads, int notify,
                                                            const net::TlsContext& tls) {
    auto impl = std::make_unique<Impl>(tls);
    impl->notify = notify;
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
        auto w = std::make_unique<Worker>();
        w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = w->wake_fd;
        if (w->epoll_fd < 0 || w->wake_fd < 0 ||
            epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0) {
            const int err = errno;
            impl->workers.push_back(std::move(w));  // closed by ~Impl
            return make_error(Errc::os, "setting up a TLS handshake thread: {}",
                              std::strerror(err));
        }
        impl->workers.push_back(std::move(w));
    }
    for (auto& w : impl->workers)
        w->thread = std::thread([p = impl.get(), worker = w.get()] { p->run(*worker); });
    return std::unique_ptr<HandshakePool>(new HandshakePool(std::move(impl)));
}

void HandshakePool::add(int fd, net::Endpoint peer, std::int64_t deadline) {
    Worker& w = *impl_->workers[impl_->next++ % impl_->workers.size()];
    ++impl_->pending;
    {
        std::lock_guard lock(w.mutex);
        w.incoming.emplace_back(fd, peer, deadline);
    }
    const std::uint64_t one = 1;
    (void)!::write(w.wake_fd, &one, sizeof one);
}

std::vector<HandshakePool::Established> HandshakePool::take() {
    std::vector<Established> out;
    std::lock_guard lock(impl_->done_mutex);
    out.swap(impl_->done);
    return out;
}

std::vector<net::Endpoint> HandshakePool::take_dropped() {
    std::vector<net::Endpoint> out;
    std::lock_guard lock(impl_->done_mutex);
    out.swap(impl_->dropped);
    return out;
}

std::size_t HandshakePool::pending() const {
    return impl_->pending;
}

}  // namespace cug::server
