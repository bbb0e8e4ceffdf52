// etcd watches (etcd.hpp, Watch): one thread and one HTTPS stream each,
// driven by a curl multi handle so that the owner can stop it at once.
#include "store/etcd.hpp"

#include "store/etcd_curl.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

namespace cug::store::etcd {

struct Watch::Impl {
    Config config;
    Bytes key, range_end;
    std::int64_t next_revision = 0;  // the first revision not yet delivered
    std::size_t current = 0;
    int efd = -1;
    CURLM* multi = nullptr;
    std::atomic<bool> stop{false};
    bool finished = false;   // canceled by etcd: never started again
    bool announced = false;  // the owner was told the watch is created
    std::mutex mutex;
    std::vector<WatchBatch> ready;
    std::string partial;  // the stream's bytes after its last newline
    std::chrono::steady_clock::time_point last_heard;
    static constexpr std::chrono::seconds quiet_limit{5};
    std::thread thread;

    ~Impl() {
        if (multi) curl_multi_cleanup(multi);
        if (efd >= 0) ::close(efd);
    }

    void deliver(WatchBatch batch) {
        {
            std::lock_guard lock(mutex);
            ready.push_back(std::move(batch));
        }
        const std::uint64_t one = 1;
        while (::write(efd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

    // The stream's bytes: whole lines are parsed and delivered. Returns
    // false to end the transfer (a line that is not etcd's, or the end).
    bool feed(std::string_view data) {
        last_heard = std::chrono::steady_clock::now();
        partial.append(data);
        if (partial.size() > (std::size_t{64} << 20)) return false;
        std::size_t start = 0;
        for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos;
             start = nl + 1) {
            const std::string_view line(partial.data() + start, nl - start);
            if (line.empty()) continue;
            if (!take_line(line)) {
                partial.clear();
                return false;
            }
        }
        partial.erase(0, start);
        return true;
    }

    bool take_line(std::string_view line) {
        auto batch = detail::parse_watch(line);
        if (!batch) {
            deliver(WatchBatch{0, false, false, 0, {}, std::move(batch).error()});
            return false;
        }
        if (batch->error) {
            deliver(std::move(*batch));
            return false;
        }
        for (const auto& e : batch->events)
            next_revision = std::max(next_revision, e.kv.mod_revision + 1);
        const bool canceled = batch->canceled;
        if (batch->created && batch->events.empty() && !canceled) {
            // From "now": now is the revision it was created at, so a
            // stream made again after a break starts after it, not later.
            if (next_revision == 0) next_revision = batch->revision + 1;
            // Only the first creation is news.
            if (announced) return true;
            announced = true;
        }
        deliver(std::move(*batch));
        if (canceled) finished = true;
        return !canceled;
    }

    // One small read of the watched key at the stream's member, within 2 s.
    bool member_answers() {
        Config one = config;
        one.endpoints = {config.endpoints[current]};
        one.timeout = std::chrono::seconds(2);
        auto client = Client::open(std::move(one));
        return client && client->range(key, {}, 0, 1).ok();
    }

    static std::size_t on_data(char* data, std::size_t size, std::size_t n, void* self) {
        return static_cast<Impl*>(self)->feed(std::string_view(data, size * n)) ? size * n : 0;
    }

    // One stream, until it ends, breaks or the owner stops it.
    void stream_once() {
        CURL* c = curl_easy_init();
        if (!c) return;
        curl_slist* headers = detail::setup(c, config);
        nlohmann::json create{{"key", detail::base64(key)}};
        if (!range_end.empty()) create["range_end"] = detail::base64(range_end);
        if (next_revision) create["start_revision"] = std::to_string(next_revision);
        const std::string body = nlohmann::json{{"create_request", create}}.dump();
        const std::string url = config.endpoints[current] + "/v3/watch";
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
        // A dead host's connection is noticed by TCP keepalives.
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
        partial.clear();
        curl_multi_add_handle(multi, c);
        int running = 1;
        last_heard = std::chrono::steady_clock::now();
        std::string why;
        while (running && !stop) {
            if (curl_multi_perform(multi, &running) != CURLM_OK) break;
            if (running) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
            // A member that is alive but stopped keeps the stream open and
            // silent (TCP keepalives are answered by its kernel): after a
            // quiet spell, it must answer a read, or the stream goes.
            if (running && !stop && std::chrono::steady_clock::now() - last_heard > quiet_limit) {
                if (!member_answers()) {
                    why = "the member stopped answering";
                    break;
                }
                last_heard = std::chrono::steady_clock::now();
            }
        }
        int queued = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &queued))
            if (m->msg == CURLMSG_DONE && m->data.result != CURLE_OK &&
                m->data.result != CURLE_WRITE_ERROR)
                why = curl_easy_strerror(m->data.result);
        curl_multi_remove_handle(multi, c);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        if (!stop && !finished)
            deliver(
                WatchBatch{0,
                           false,
                           false,
                           0,
                           {},
                           make_error(Errc::unavailable, "etcd at {}: the watch ended{}{}",
                                      config.endpoints[current], why.empty() ? "" : ": ", why)});
    }

    void run() {
        std::minstd_rand jitter(std::random_device{}());
        int failures = 0;
        while (!stop && !finished) {
            const auto began = std::chrono::steady_clock::now();
            stream_once();
            if (stop || finished) break;
            // A stream that lasted was healthy: start again at once, elsewhere.
            if (std::chrono::steady_clock::now() - began > std::chrono::seconds(10)) failures = 0;
            current = (current + 1) % config.endpoints.size();
            // Backoff with jitter: 100 ms doubling to 2 s, times 0.5 to 1.5.
            const int base = std::min(2000, 100 << std::min(failures, 5));
            ++failures;
            const int wait = base / 2 + static_cast<int>(jitter() % static_cast<unsigned>(base));
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
            while (!stop && std::chrono::steady_clock::now() < until)
                curl_multi_poll(
                    multi, nullptr, 0,
                    static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         until - std::chrono::steady_clock::now())
                                         .count()) +
                        1,
                    nullptr);
        }
    }
};

Watch::Watch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Watch::Watch(Watch&&) noexcept = default;
Watch& Watch::operator=(Watch&&) noexcept = default;

Watch::~Watch() {
    if (!impl_) return;
    impl_->stop = true;
    curl_multi_wakeup(impl_->multi);
    if (impl_->thread.joinable()) impl_->thread.join();
}

Result<Watch> Watch::start(Config config, Bytes key, Bytes range_end, std::int64_t start_revision) {
    if (config.endpoints.empty()) return make_error(Errc::usage, "no etcd endpoints");
    detail::init_curl();
    auto impl = std::make_unique<Impl>();
    impl->config = std::move(config);
    impl->key = std::move(key);
    impl->range_end = std::move(range_end);
    impl->next_revision = start_revision;
    impl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (impl->efd < 0) return make_error(Errc::os, "eventfd: {}", std::strerror(errno));
    impl->multi = curl_multi_init();
    if (!impl->multi) return make_error(Errc::internal, "libcurl could not start");
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] { raw->run(); });
    return Watch(std::move(impl));
}

int Watch::fd() const {
    return impl_->efd;
}

std::vector<WatchBatch> Watch::take() {
    std::uint64_t count = 0;
    (void)!::read(impl_->efd, &count, sizeof count);
    std::lock_guard lock(impl_->mutex);
    return std::exchange(impl_->ready, {});
}

}  // namespace cug::store::etcd
