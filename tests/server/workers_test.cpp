#include "server/workers.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

using namespace cug;
using namespace cug::server;

TEST_CASE("jobs run on the pool; what they return runs where take() is called") {
    const int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(notify >= 0);
    auto pool = Workers::start(3, notify);
    REQUIRE(pool.ok());
    const auto loop = std::this_thread::get_id();
    std::atomic<int> off_loop{0};
    std::set<int> results;
    bool all_on_loop = true;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i)
        (*pool)->submit([&, i]() -> Workers::Continuation {
            if (std::this_thread::get_id() != loop) ++off_loop;
            const int square = i * i;
            return [&, square] {
                all_on_loop = all_on_loop && std::this_thread::get_id() == loop;
                results.insert(square);
            };
        });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (results.size() < n && std::chrono::steady_clock::now() < until) {
        pollfd p{notify, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            std::uint64_t count;
            (void)!::read(notify, &count, sizeof count);
        }
        for (auto& then : (*pool)->take())
            then();
    }
    CHECK(results.size() == n);
    CHECK(results.count(199 * 199) == 1);
    CHECK(off_loop == n);
    CHECK(all_on_loop);
    pool->reset();
    ::close(notify);
}

TEST_CASE("stopping the pool waits for the job at hand and drops the rest") {
    const int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(notify >= 0);
    std::atomic<int> ran{0};
    {
        auto pool = Workers::start(1, notify);
        REQUIRE(pool.ok());
        (*pool)->submit([&]() -> Workers::Continuation {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            ++ran;
            return [] {};
        });
        for (int i = 0; i < 50; ++i)
            (*pool)->submit([&]() -> Workers::Continuation {
                ++ran;
                return [] {};
            });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the first one is running
    }                                                                // joins
    CHECK(ran >= 1);
    CHECK(ran == 1);  // the one running when the stop came; the other 50 never
    ::close(notify);
}
