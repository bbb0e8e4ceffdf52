#include "store/etcd.hpp"

#include "store/etcd_curl.hpp"

#include <openssl/evp.h>

#include <mutex>
#include <nlohmann/json.hpp>

namespace cug::store::etcd {

using nlohmann::json;

namespace detail {

std::string base64(ByteView data) {
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                  static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<Bytes> unbase64(std::string_view text) {
    if (text.size() % 4 != 0 || text.size() > (std::size_t{1} << 30)) return std::nullopt;
    for (const char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
            return std::nullopt;
    const std::size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
    if (text.substr(0, text.size() - pad).find('=') != std::string_view::npos) return std::nullopt;
    Bytes out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    if (base64(out) != text) return std::nullopt;  // only the one spelling (no stray bits)
    return out;
}

namespace {

// The gateway writes int64 as strings and leaves out fields that are zero.
std::int64_t number(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (!it->is_string()) throw std::invalid_argument(fmt::format("{} is not a number", name));
    const std::string& s = it->get_ref<const std::string&>();
    std::size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(fmt::format("{} is not a number", name));
    return v;
}

Bytes bytes(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) return {};
    if (!it->is_string()) throw std::invalid_argument(fmt::format("{} is not base64", name));
    auto b = unbase64(it->get_ref<const std::string&>());
    if (!b) throw std::invalid_argument(fmt::format("{} is not base64", name));
    return std::move(*b);
}

bool flag(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) return false;
    if (!it->is_boolean()) throw std::invalid_argument(fmt::format("{} is not a boolean", name));
    return it->get<bool>();
}

Range range_of(const json& r) {
    if (!r.is_object()) throw std::invalid_argument("a range is not an object");
    Range out;
    if (const auto h = r.find("header"); h != r.end()) {
        if (!h->is_object()) throw std::invalid_argument("header is not an object");
        out.revision = number(*h, "revision");
    }
    out.more = flag(r, "more");
    out.count = number(r, "count");
    if (const auto kvs = r.find("kvs"); kvs != r.end()) {
        if (!kvs->is_array()) throw std::invalid_argument("kvs is not an array");
        for (const json& kv : *kvs) {
            if (!kv.is_object()) throw std::invalid_argument("a kv is not an object");
            out.kvs.push_back({bytes(kv, "key"), bytes(kv, "value"), number(kv, "create_revision"),
                               number(kv, "mod_revision"), number(kv, "version"),
                               number(kv, "lease")});
        }
    }
    return out;
}

// etcd's words in one of our error lines: one line, at most 200 bytes.
void one_line(std::string& message) {
    for (char& c : message)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (message.size() > 200) message.resize(200);
}

template <typename T, typename F>
Result<T> parsed(std::string_view body, const char* what, F&& f) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return make_error(Errc::protocol, "etcd's {} answer is not a JSON object", what);
    try {
        return f(j);
    } catch (const std::exception& e) {
        return make_error(Errc::protocol, "etcd's {} answer: {}", what, e.what());
    }
}

}  // namespace

Result<Range> parse_range(std::string_view body) {
    return parsed<Range>(body, "range", [](const json& j) { return range_of(j); });
}

Result<TxnResult> parse_txn(std::string_view body) {
    return parsed<TxnResult>(body, "txn", [](const json& j) {
        TxnResult out;
        out.succeeded = flag(j, "succeeded");
        if (const auto h = j.find("header"); h != j.end()) {
            if (!h->is_object()) throw std::invalid_argument("header is not an object");
            out.revision = number(*h, "revision");
        }
        if (const auto rs = j.find("responses"); rs != j.end()) {
            if (!rs->is_array()) throw std::invalid_argument("responses is not an array");
            for (const json& r : *rs) {
                if (!r.is_object()) throw std::invalid_argument("a response is not an object");
                if (const auto rr = r.find("response_range"); rr != r.end())
                    out.ranges.push_back(range_of(*rr));
            }
        }
        return out;
    });
}

std::optional<Error> parse_error(std::string_view body, long http_status) {
    json j = json::parse(body, nullptr, false);
    std::string message;
    long code = -1;
    if (!j.is_discarded() && j.is_object()) {
        const auto m = j.find("message") != j.end() ? j.find("message") : j.find("error");
        if (m != j.end() && m->is_string()) message = m->get<std::string>();
        if (const auto c = j.find("code"); c != j.end() && c->is_number_integer())
            code = c->get<long>();
    }
    if (http_status == 200 && code < 0) return std::nullopt;
    if (message.empty()) message = fmt::format("HTTP status {}", http_status);
    one_line(message);
    // gRPC status codes (the gateway passes etcd's on).
    Errc errc = Errc::protocol;
    switch (code) {
        case 3:  // InvalidArgument
        case 8:  // ResourceExhausted: larger than the gateway takes
            errc = Errc::invalid;
            break;
        case 5:  // NotFound (a lease)
            errc = Errc::not_found;
            break;
        case 4:   // DeadlineExceeded
        case 14:  // Unavailable (no leader, stopping)
            errc = Errc::unavailable;
            break;
        case 11:  // OutOfRange: a revision compacted away
            errc = Errc::temporary;
            break;
        case 7:   // PermissionDenied
        case 16:  // Unauthenticated
            errc = Errc::permission;
            break;
        default:
            break;
    }
    return make_error(errc, "etcd: {}", message);
}

curl_slist* setup(CURL* c, const Config& cf) {
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    // A member cut off from the leader refuses rather than serving what it
    // cannot vouch for (and a watch on it is cancelled instead of hanging):
    // the request moves on to the next endpoint.
    headers = curl_slist_append(headers, "Grpc-Metadata-hasleader: true");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cf.timeout.count()));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_CAINFO, cf.ca.c_str());
    curl_easy_setopt(c, CURLOPT_SSLCERT, cf.cert.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, cf.key.c_str());
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // never through an HTTP proxy of the environment
    return headers;
}

void init_curl() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<WatchBatch> parse_watch(std::string_view line) {
    return parsed<WatchBatch>(line, "watch", [](const json& j) {
        WatchBatch out;
        if (const auto e = j.find("error"); e != j.end()) {
            std::string message = "the watch broke";
            if (e->is_object())
                if (const auto m = e->find("message"); m != e->end() && m->is_string())
                    message = m->get<std::string>();
            one_line(message);
            out.error = make_error(Errc::unavailable, "etcd: {}", message);
            return out;
        }
        const auto r = j.find("result");
        if (r == j.end() || !r->is_object()) throw std::invalid_argument("no result");
        if (const auto h = r->find("header"); h != r->end()) {
            if (!h->is_object()) throw std::invalid_argument("header is not an object");
            out.revision = number(*h, "revision");
        }
        out.created = flag(*r, "created");
        out.canceled = flag(*r, "canceled");
        out.compact_revision = number(*r, "compact_revision");
        if (const auto evs = r->find("events"); evs != r->end()) {
            if (!evs->is_array()) throw std::invalid_argument("events is not an array");
            for (const json& ev : *evs) {
                if (!ev.is_object()) throw std::invalid_argument("an event is not an object");
                WatchEvent w;
                if (const auto t = ev.find("type"); t != ev.end()) {
                    if (*t == "DELETE")
                        w.deleted = true;
                    else if (*t != "PUT")
                        throw std::invalid_argument("an event of an unknown type");
                }
                const auto kv = ev.find("kv");
                if (kv == ev.end() || !kv->is_object()) throw std::invalid_argument("no kv");
                w.kv = {bytes(*kv, "key"),
                        bytes(*kv, "value"),
                        number(*kv, "create_revision"),
                        number(*kv, "mod_revision"),
                        number(*kv, "version"),
                        number(*kv, "lease")};
                out.events.push_back(std::move(w));
            }
        }
        return out;
    });
}

}  // namespace detail

// --- requests ---

namespace {

json compare_json(const Compare& c) {
    json j;
    j["key"] = detail::base64(c.key);
    static const char* results[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
    j["result"] = results[static_cast<int>(c.result)];
    switch (c.target) {
        case Compare::Target::version:
            j["target"] = "VERSION";
            j["version"] = std::to_string(c.number);
            break;
        case Compare::Target::create_revision:
            j["target"] = "CREATE";
            j["create_revision"] = std::to_string(c.number);
            break;
        case Compare::Target::mod_revision:
            j["target"] = "MOD";
            j["mod_revision"] = std::to_string(c.number);
            break;
        case Compare::Target::value:
            j["target"] = "VALUE";
            j["value"] = detail::base64(c.value);
            break;
    }
    return j;
}

json op_json(const Op& op) {
    json body;
    body["key"] = detail::base64(op.key);
    switch (op.kind) {
        case Op::Kind::put:
            body["value"] = detail::base64(op.value);
            if (op.lease) body["lease"] = std::to_string(op.lease);
            return json{{"request_put", body}};
        case Op::Kind::del:
            if (!op.range_end.empty()) body["range_end"] = detail::base64(op.range_end);
            return json{{"request_delete_range", body}};
        case Op::Kind::range:
            if (!op.range_end.empty()) body["range_end"] = detail::base64(op.range_end);
            return json{{"request_range", body}};
    }
    return body;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
    auto* body = static_cast<std::string*>(out);
    // etcd's answers are bounded by its request limit; beyond 64 MiB something is wrong.
    if (body->size() + size * n > (std::size_t{64} << 20)) return 0;
    body->append(data, size * n);
    return size * n;
}

}  // namespace

Op Op::put(Bytes key, Bytes value, std::int64_t lease) {
    return Op{Kind::put, std::move(key), std::move(value), {}, lease};
}
Op Op::del(Bytes key, Bytes range_end) {
    return Op{Kind::del, std::move(key), {}, std::move(range_end), 0};
}
Op Op::get(Bytes key, Bytes range_end) {
    return Op{Kind::range, std::move(key), {}, std::move(range_end), 0};
}

Bytes prefix_end(ByteView prefix) {
    Bytes end(prefix.begin(), prefix.end());
    while (!end.empty()) {
        if (end.back() != 0xff) {
            ++end.back();
            return end;
        }
        end.pop_back();
    }
    return end;
}

Result<std::vector<std::string>> parse_store_url(std::string_view url) {
    constexpr std::string_view scheme = "etcd://";
    if (!url.starts_with(scheme))
        return make_error(Errc::usage, "an etcd store is etcd://HOST:PORT[,HOST:PORT...]");
    url.remove_prefix(scheme.size());
    std::vector<std::string> out;
    while (true) {
        const auto comma = url.find(',');
        const std::string_view one = url.substr(0, comma);
        const auto colon = one.rfind(':');
        const bool bracketed = one.starts_with('[');
        if (one.empty() || colon == std::string_view::npos || colon == 0 ||
            colon + 1 == one.size() || (bracketed && one[colon - 1] != ']') ||
            one.find_first_of("/?#@ \t") != std::string_view::npos)
            return make_error(Errc::usage, "'{}' is not HOST:PORT (in an etcd:// store)", one);
        for (const char c : one.substr(colon + 1))
            if (c < '0' || c > '9')
                return make_error(Errc::usage, "'{}' is not HOST:PORT (in an etcd:// store)", one);
        out.push_back(fmt::format("https://{}", one));
        if (comma == std::string_view::npos) break;
        url.remove_prefix(comma + 1);
    }
    if (out.size() > 16) return make_error(Errc::usage, "an etcd store names at most 16 members");
    return out;
}

struct Client::Impl {
    Config config;
    CURL* curl = nullptr;
    curl_slist* headers = nullptr;
    std::size_t current = 0;
    ~Impl() {
        if (curl) curl_easy_cleanup(curl);
        if (headers) curl_slist_free_all(headers);
    }

    // One POST to the current endpoint, moving on to the next while an
    // endpoint cannot be reached or has no leader; every endpoint once.
    Result<std::string> post(const char* path, const json& request) {
        const std::string body = request.dump();
        std::optional<Error> last;
        for (std::size_t tried = 0; tried < config.endpoints.size(); ++tried) {
            const std::string url = config.endpoints[current] + path;
            std::string answer;
            curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(body.size()));
            curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
            const CURLcode rc = curl_easy_perform(curl);
            if (rc != CURLE_OK) {
                last = make_error(Errc::unavailable, "etcd at {}: {}", config.endpoints[current],
                                  curl_easy_strerror(rc));
                current = (current + 1) % config.endpoints.size();
                continue;
            }
            long status = 0;
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            if (auto e = detail::parse_error(answer, status)) {
                if (e->code != Errc::unavailable) return std::move(*e);
                last = std::move(*e);
                current = (current + 1) % config.endpoints.size();
                continue;
            }
            return answer;
        }
        return std::move(*last);
    }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::open(Config config) {
    if (config.endpoints.empty()) return make_error(Errc::usage, "no etcd endpoints");
    detail::init_curl();
    auto impl = std::make_unique<Impl>();
    impl->config = std::move(config);
    impl->curl = curl_easy_init();
    if (!impl->curl) return make_error(Errc::internal, "libcurl could not start");
    impl->headers = detail::setup(impl->curl, impl->config);
    curl_easy_setopt(impl->curl, CURLOPT_WRITEFUNCTION, collect);
    const long timeout = static_cast<long>(impl->config.timeout.count());
    curl_easy_setopt(impl->curl, CURLOPT_TIMEOUT_MS, timeout);
    return Client(std::move(impl));
}

const std::string& Client::endpoint() const {
    return impl_->config.endpoints[impl_->current];
}

Result<Range> Client::range(ByteView key, ByteView range_end, std::int64_t revision,
                            std::int64_t limit) {
    json request{{"key", detail::base64(key)}};
    if (!range_end.empty()) request["range_end"] = detail::base64(range_end);
    if (revision) request["revision"] = std::to_string(revision);
    if (limit) request["limit"] = std::to_string(limit);
    return detail::parse_range(CUG_TRY(impl_->post("/v3/kv/range", request)));
}

Result<TxnResult> Client::txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                              const std::vector<Op>& failure) {
    json request = json::object();
    json& c = request["compare"] = json::array();
    for (const auto& x : compare)
        c.push_back(compare_json(x));
    json& s = request["success"] = json::array();
    for (const auto& x : success)
        s.push_back(op_json(x));
    json& f = request["failure"] = json::array();
    for (const auto& x : failure)
        f.push_back(op_json(x));
    return detail::parse_txn(CUG_TRY(impl_->post("/v3/kv/txn", request)));
}

Result<void> Client::compact(std::int64_t revision) {
    CUG_TRY(impl_->post("/v3/kv/compaction",
                        json{{"revision", std::to_string(revision)}, {"physical", true}}));
    return ok();
}

Result<std::int64_t> Client::lease_grant(std::chrono::seconds ttl) {
    const std::string answer =
        CUG_TRY(impl_->post("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}));
    return detail::parsed<std::int64_t>(answer, "lease grant", [](const json& j) {
        const std::int64_t id = detail::number(j, "ID");
        if (id == 0) throw std::invalid_argument("no lease ID");
        return id;
    });
}

Result<std::int64_t> Client::lease_keep_alive(std::int64_t id) {
    const std::string answer =
        CUG_TRY(impl_->post("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}));
    // The gateway streams: {"result": {...}} per renewal; one request, one line.
    return detail::parsed<std::int64_t>(answer, "lease keepalive", [](const json& j) {
        const auto r = j.find("result");
        if (r == j.end() || !r->is_object()) throw std::invalid_argument("no result");
        return detail::number(*r, "TTL");
    });
}

Result<void> Client::lease_revoke(std::int64_t id) {
    CUG_TRY(impl_->post("/v3/lease/revoke", json{{"ID", std::to_string(id)}}));
    return ok();
}

}  // namespace cug::store::etcd
