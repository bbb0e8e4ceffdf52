// A client of etcd v3 (3.4, as Debian 12 ships it) through its JSON gateway
// over HTTPS with client certificates: libcurl for HTTP and TLS, nlohmann's
// JSON for the bodies. What the etcd store backend needs of etcd: ranges at a
// revision, transactions that compare revisions, and leases. Requests go to
// one endpoint and move to the next when it cannot be reached or has no
// leader, so a dead member costs a retry, not an error.
//
// The calls block (each bounded by the configuration's timeout) and one
// Client is used by one thread at a time.
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cug::store::etcd {

struct Config {
    std::vector<std::string> endpoints;       // https://HOST:PORT, tried in turn
    std::filesystem::path ca;                 // the CA that signed the members' certificates
    std::filesystem::path cert, key;          // this client's certificate and key
    std::chrono::milliseconds timeout{5000};  // each request, connecting included
};

// etcd://HOST:PORT,HOST:PORT,... as given to --store: the endpoints.
Result<std::vector<std::string>> parse_store_url(std::string_view url);

struct KeyValue {
    Bytes key, value;
    std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct Range {
    std::int64_t revision = 0;  // the store's revision the range was read at
    std::vector<KeyValue> kvs;
    bool more = false;  // a limit cut it short
    std::int64_t count = 0;
};

// The key just past every key with this prefix (etcd's range_end for a
// prefix); empty when no key is past it (the prefix is all 0xff).
Bytes prefix_end(ByteView prefix);

struct Compare {
    enum class Target { version, create_revision, mod_revision, value };
    enum class Result { equal, greater, less, not_equal };
    Bytes key;
    Target target = Target::mod_revision;
    Result result = Result::equal;
    std::int64_t number = 0;  // version or revision; 0 = the key does not exist
    Bytes value;              // Target::value
};

struct Op {
    enum class Kind { put, del, range };
    Kind kind = Kind::put;
    Bytes key, value, range_end;
    std::int64_t lease = 0;  // put: the lease the key lives with (0: none)

    static Op put(Bytes key, Bytes value, std::int64_t lease = 0);
    static Op del(Bytes key, Bytes range_end = {});
    static Op get(Bytes key, Bytes range_end = {});
};

struct TxnResult {
    bool succeeded = false;  // every compare held: the success ops ran
    std::int64_t revision = 0;
    std::vector<Range> ranges;  // one for each range op that ran, in order
};

class Client {
  public:
    static Result<Client> open(Config config);
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // Keys in [key, range_end) (range_end empty: the key alone), at
    // `revision` (0: the newest), at most `limit` (0: all).
    Result<Range> range(ByteView key, ByteView range_end = {}, std::int64_t revision = 0,
                        std::int64_t limit = 0);
    Result<TxnResult> txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                          const std::vector<Op>& failure = {});

    // Forgets the history before `revision` (what a long-running store needs
    // now and then); a watch or read from before it is then told so.
    Result<void> compact(std::int64_t revision);

    // A lease of `ttl` seconds; keep_alive renews it and says the TTL left
    // (0: it has expired, and its keys are gone).
    Result<std::int64_t> lease_grant(std::chrono::seconds ttl);
    Result<std::int64_t> lease_keep_alive(std::int64_t id);
    Result<void> lease_revoke(std::int64_t id);

    // The endpoint the last request went to.
    const std::string& endpoint() const;

  private:
    struct Impl;
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct WatchEvent {
    bool deleted = false;  // else a put
    KeyValue kv;           // a delete's has the key and its mod_revision only
};

// What a watch says at once: the events of one revision or more, or that it
// was created, or that it ended (canceled: with compact_revision set, the
// revision asked for has been compacted away, so the watcher must read the
// keys again and watch from a newer one).
struct WatchBatch {
    std::int64_t revision = 0;
    bool created = false, canceled = false;
    std::int64_t compact_revision = 0;
    std::vector<WatchEvent> events;
    std::optional<Error> error;  // the stream broke (it is started again)
};

// A watch of [key, range_end) from start_revision on, on a thread of its own
// and an HTTPS connection of its own (the gateway cancels a watch only by
// its connection closing). When the connection breaks it is made again to
// the next endpoint, from the revision after the last one delivered, so no
// event is lost or repeated; a compacted start is reported and ends it.
// fd() is readable while batches wait in take(); for an event loop.
class Watch {
  public:
    static Result<Watch> start(Config config, Bytes key, Bytes range_end,
                               std::int64_t start_revision);
    Watch(Watch&&) noexcept;
    Watch& operator=(Watch&&) noexcept;
    ~Watch();  // closes the connection and joins the thread

    int fd() const;
    std::vector<WatchBatch> take();

  private:
    struct Impl;
    explicit Watch(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The gateway's JSON, parsed (exposed for the fuzz target): responses of
// /v3/kv/range and /v3/kv/txn, its error bodies, and one line of a watch.
namespace detail {
Result<WatchBatch> parse_watch(std::string_view line);
Result<Range> parse_range(std::string_view body);
Result<TxnResult> parse_txn(std::string_view body);
// {"error": ..., "code": N, "message": ...}: the error, or none when the body
// is not one.
std::optional<Error> parse_error(std::string_view body, long http_status);
std::string base64(ByteView data);
std::optional<Bytes> unbase64(std::string_view text);
}  // namespace detail

}  // namespace cug::store::etcd
