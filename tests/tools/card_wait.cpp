// cug-card-wait READER present|absent TIMEOUT_MS: waits for a card to come or
// go through the real pcscd, then prints the wall-clock time (nanoseconds
// since the epoch) at which it saw that, so a test can tell how long the
// event took to arrive. Exits 0 when seen, 75 on timeout, other sysexits on errors.
#include "card/pcsc.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
    using namespace cug;
    if (argc != 4) {
        std::fprintf(stderr, "usage: cug-card-wait READER present|absent TIMEOUT_MS\n");
        return 64;
    }
    const std::string reader = argv[1], what = argv[2];
    if (what != "present" && what != "absent") return 64;
    auto context = card::Context::establish();
    if (!context) {
        std::fprintf(stderr, "cug-card-wait: %s\n", context.error().message.c_str());
        return exit_status(context.error().code);
    }
    std::puts("watching");
    std::fflush(stdout);
    // A reader pcscd has not registered yet (it brings its readers up one
    // after another) is waited for too, until the deadline.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atol(argv[3]));
    auto seen = context->wait_for(
        reader, what == "present" ? card::CardPresence::present : card::CardPresence::absent,
        std::chrono::milliseconds(std::atol(argv[3])));
    while (!seen && seen.error().message.find("is not available") != std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        seen = context->wait_for(
            reader, what == "present" ? card::CardPresence::present : card::CardPresence::absent,
            std::max(left, std::chrono::milliseconds(1)));
    }
    if (!seen) {
        std::fprintf(stderr, "cug-card-wait: %s\n", seen.error().message.c_str());
        return exit_status(seen.error().code);
    }
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    std::printf("%lld\n", static_cast<long long>(
                              std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
    return 0;
}
