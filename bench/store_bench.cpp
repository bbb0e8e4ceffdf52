// Store benchmark: bulk insert rate, user + memberships lookup latency, and size
// on disk, for a deployment of N users in G groups (default 1,000,000 in 1,000).
//
//   cug-store-bench [--users N] [--groups G] [--batch B] [--lookups L] [--dir DIR]
//
// Every user gets a real-length Argon2id hash and an enrolled card record (two
// public points, a certificate serial, a sealed management key), is a member of
// one group, and every tenth user of a second. Inserts go through the same
// WriteTxn operations cug-admin uses (with their audit entries), B users per
// transaction. Lookups are what cugd does per login: a fresh read snapshot, the
// user record and the user's memberships.
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "store/store.hpp"

#include <lmdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

using namespace cug;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::uint64_t users = 1'000'000;
    std::uint64_t groups = 1'000;
    std::uint64_t batch = 10'000;
    std::uint64_t lookups = 200'000;
    std::string dir;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "cug-store-bench: %s\nusage: cug-store-bench [--users N] [--groups G] "
                 "[--batch B] [--lookups L] [--dir DIR]\n",
                 why);
    std::exit(64);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string opt = argv[i];
        if (i + 1 >= argc) usage("missing value");
        std::string value = argv[++i];
        auto number = [&] {
            char* end = nullptr;
            unsigned long long v = std::strtoull(value.c_str(), &end, 10);
            if (!end || *end || v == 0) usage("bad number");
            return static_cast<std::uint64_t>(v);
        };
        if (opt == "--users")
            a.users = number();
        else if (opt == "--groups")
            a.groups = number();
        else if (opt == "--batch")
            a.batch = number();
        else if (opt == "--lookups")
            a.lookups = number();
        else if (opt == "--dir")
            a.dir = value;
        else
            usage("unknown option");
    }
    if (a.groups > 4096) usage("at most 4096 groups (one /21 each in 10.0.0.0/8)");
    return a;
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "cug-store-bench: %s: %s\n", what, r.error().message.c_str());
        std::exit(70);
    }
    return std::move(*r);
}

void must(Result<void> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "cug-store-bench: %s: %s\n", what, r.error().message.c_str());
        std::exit(70);
    }
}

std::string user_name(std::uint64_t i) {
    return fmt::format("user-{:07}", i);
}
std::string group_name(std::uint64_t g) {
    return fmt::format("group-{:04}", g);
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    Args args = parse(argc, argv);
    std::filesystem::path base = args.dir;
    bool temporary = base.empty();
    if (temporary) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "cug-bench.XXXXXX").string();
        if (!mkdtemp(pattern.data())) usage("cannot make a temporary directory");
        base = pattern;
    }
    const auto dir = base / "store";
    store::Actor actor{static_cast<std::uint32_t>(getuid()), "bench", "cug-store-bench"};
    store::InitParams init;
    init.server_name = "bench";
    auto st = must(store::Store::create(dir, init, actor), "creating the store");

    // One real hash at the default cost, reused: hashing a million passwords is
    // not what this measures.
    const std::string hash =
        must(crypto::hash_password(as_bytes("bench-password"), crypto::Argon2Params{}), "hashing");
    store::CardKeys card;
    card.key_agreement = Bytes(65, 0x04);
    card.authentication = Bytes(65, 0x04);
    card.certificate_serial = Bytes(16, 0x11);
    card.enrolled = unix_now();
    card.management_key_sealed = Bytes(65 + 32 + 16, 0x22);
    card.device = "virtual PIV";

    must(st.write([&](store::WriteTxn& t) -> Result<void> {
        for (std::uint64_t g = 0; g < args.groups; ++g) {
            auto prefix = net::Prefix::parse(fmt::format("10.{}.{}.0/21", g / 32, (g % 32) * 8));
            CUG_TRY(t.add_group(group_name(g), *prefix));
        }
        return ok();
    }),
         "adding groups");

    std::uint64_t memberships = 0;
    const auto insert_start = Clock::now();
    for (std::uint64_t first = 0; first < args.users; first += args.batch) {
        const std::uint64_t last = std::min(args.users, first + args.batch);
        must(st.write([&](store::WriteTxn& t) -> Result<void> {
            for (std::uint64_t i = first; i < last; ++i) {
                const std::string name = user_name(i);
                CUG_CHECK(t.add_user(name, hash));
                store::User u = CUG_TRY(t.user(name));
                u.card = card;
                CUG_CHECK(t.put_user(u));
                CUG_TRY(t.add_member(group_name(i % args.groups), name));
                if (i % 10 == 0 && args.groups > 1)  // a second group, never the first again
                    CUG_TRY(t.add_member(
                        group_name((i + 1 + (i / 10) % (args.groups - 1)) % args.groups), name));
            }
            return ok();
        }),
             "inserting users");
        memberships += (last - first) + (args.groups > 1 ? (last + 9) / 10 - (first + 9) / 10 : 0);
    }
    const double insert_seconds = seconds_since(insert_start);

    // Lookups against a freshly opened store, as a new cugd would see it.
    { store::Store closing = std::move(st); }  // one environment per process at a time
    auto reopened = must(store::Store::open(dir, actor), "reopening the store");
    std::vector<double> micros;
    micros.reserve(args.lookups);
    std::uint64_t found_groups = 0;
    for (std::uint64_t n = 0; n < args.lookups; ++n) {
        const std::string name = user_name(crypto::random_u64() % args.users);
        const auto start = Clock::now();
        auto groups = must(reopened.read([&](store::ReadTxn& t) -> Result<std::size_t> {
            auto u = CUG_TRY(t.user(name));
            auto ms = CUG_TRY(t.memberships_of(name));
            return ms.size() + (u.enabled ? 0 : 1);
        }),
                           "looking up");
        micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        found_groups += groups;
    }
    std::sort(micros.begin(), micros.end());
    auto percentile = [&](double p) {
        return micros[std::min(micros.size() - 1, static_cast<std::size_t>(p * micros.size()))];
    };

    // One change per transaction, as cug-admin makes them: each a full fsync.
    constexpr int single_changes = 200;
    const auto single_start = Clock::now();
    for (int n = 0; n < single_changes; ++n)
        must(reopened.write([&](store::WriteTxn& t) {
            return t.add_user(fmt::format("single-{:04}", n), hash);
        }),
             "adding a user alone");
    const double single_seconds = seconds_since(single_start);

    std::uint64_t audit_entries = 0;
    must(reopened.read([&](store::ReadTxn& t) -> Result<void> {
        audit_entries = t.entries(store::Table::audit);
        return ok();
    }),
         "counting");
    const std::uint64_t bytes = reopened.disk_size();
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);

    std::printf(
        "store benchmark: %llu users, %llu groups, %llu memberships, batches of %llu\n",
        static_cast<unsigned long long>(args.users), static_cast<unsigned long long>(args.groups),
        static_cast<unsigned long long>(memberships), static_cast<unsigned long long>(args.batch));
    std::printf("  bulk insert:  %.1f s, %.0f users/s (user + card + memberships + audit)\n",
                insert_seconds, static_cast<double>(args.users) / insert_seconds);
    std::printf("  single changes: %.0f per second (%d one-user transactions, each fsynced)\n",
                single_changes / single_seconds, single_changes);
    std::printf("  lookup (user + memberships, own read snapshot), %llu random users:\n",
                static_cast<unsigned long long>(args.lookups));
    std::printf("    median %.2f us, p99 %.2f us, p99.9 %.2f us, max %.2f us\n", percentile(0.5),
                percentile(0.99), percentile(0.999), micros.back());
    std::printf("  size on disk: %.1f MiB, %.0f bytes per user (%llu audit entries kept)\n",
                static_cast<double>(bytes) / (1 << 20),
                static_cast<double>(bytes) / static_cast<double>(args.users),
                static_cast<unsigned long long>(audit_entries));
    std::printf("  peak RSS: %.1f MiB; memberships seen in lookups: %llu\n",
                static_cast<double>(ru.ru_maxrss) / 1024,
                static_cast<unsigned long long>(found_groups));
    if (temporary) std::filesystem::remove_all(base);
    return 0;
}
