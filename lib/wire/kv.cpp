#include "wire/kv.hpp"

#include "wire/base64.hpp"
#include "wire/text.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cug::wire {

namespace {

bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// Canonical unsigned decimal.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// FNV-1a: keys are short, and a collision only costs a string comparison.
std::uint32_t key_hash(std::string_view key) {
    std::uint32_t h = 2166136261u;
    for (char c : key)
        h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    return h;
}

}  // namespace

Result<void> check_key(std::string_view key) {
    if (key.empty() || key.size() > 64 || key[0] < 'a' || key[0] > 'z')
        return make_error(Errc::protocol, "bad key {}: 1-64 of a-z 0-9 . _ -, starting with a-z",
                          quote_for_message(key));
    for (char c : key)
        if (!key_char(c))
            return make_error(Errc::protocol,
                              "bad key {}: 1-64 of a-z 0-9 . _ -, starting with a-z",
                              quote_for_message(key));
    return ok();
}

Result<void> check_value(std::string_view value, std::size_t max_value) {
    if (value.size() > max_value)
        return make_error(Errc::protocol, "value of {} bytes is longer than {}", value.size(),
                          max_value);
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e)
            return make_error(Errc::protocol, "value holds the byte \\x{:02x}", u);
    }
    return ok();
}

Result<void> Message::add(std::string_view key, std::string_view value) {
    CUG_CHECK(check_key(key));
    CUG_CHECK(check_value(value, SIZE_MAX));
    if (has(key)) return make_error(Errc::protocol, "key '{}' appears twice", key);
    pairs_.emplace_back(std::string(key), std::string(value));
    hashes_.push_back(key_hash(key));
    if (pairs_.size() * 2 > slots_.size()) {
        slots_.assign(std::max<std::size_t>(16, slots_.size() * 2), 0);
        for (std::size_t i = 0; i < pairs_.size(); ++i)
            index(i);
    } else {
        index(pairs_.size() - 1);
    }
    return ok();
}

Result<void> Message::add_u64(std::string_view key, std::uint64_t value) {
    return add(key, std::to_string(value));
}

Result<void> Message::add_bool(std::string_view key, bool value) {
    return add(key, value ? "true" : "false");
}

Result<void> Message::add_bytes(std::string_view key, ByteView value) {
    return add(key, base64url_encode(value));
}

void Message::index(std::size_t i) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t s = hashes_[i] & mask;
    while (slots_[s] != 0)
        s = (s + 1) & mask;
    slots_[s] = static_cast<std::uint32_t>(i + 1);
}

const std::string* Message::find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const std::uint32_t h = key_hash(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t s = h & mask; slots_[s] != 0; s = (s + 1) & mask) {
        const std::size_t i = slots_[s] - 1;
        if (hashes_[i] == h && pairs_[i].first == key) return &pairs_[i].second;
    }
    return nullptr;
}

Result<std::string_view> Message::get(std::string_view key) const {
    if (const std::string* v = find(key)) return std::string_view(*v);
    return make_error(Errc::protocol, "missing key '{}'", key);
}

Result<std::uint64_t> Message::get_u64(std::string_view key, std::uint64_t min,
                                       std::uint64_t max) const {
    auto text = CUG_TRY(get(key));
    auto v = parse_u64(text);
    if (!v) return make_error(Errc::protocol, "key '{}' is not a decimal number", key);
    if (*v < min || *v > max)
        return make_error(Errc::protocol, "key '{}' is {}, outside {}..{}", key, *v, min, max);
    return *v;
}

Result<std::optional<std::uint64_t>> Message::get_optional_u64(std::string_view key,
                                                               std::uint64_t min,
                                                               std::uint64_t max) const {
    if (!has(key)) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(CUG_TRY(get_u64(key, min, max)));
}

Result<bool> Message::get_bool(std::string_view key) const {
    auto text = CUG_TRY(get(key));
    if (text == "true") return true;
    if (text == "false") return false;
    return make_error(Errc::protocol, "key '{}' is not true or false", key);
}

Result<Bytes> Message::get_bytes(std::string_view key, std::size_t max_length) const {
    auto text = CUG_TRY(get(key));
    auto bytes = base64url_decode(text);
    if (!bytes) return make_error(Errc::protocol, "key '{}' is not canonical base64url", key);
    if (bytes->size() > max_length)
        return make_error(Errc::protocol, "key '{}' holds {} bytes, more than {}", key,
                          bytes->size(), max_length);
    return std::move(*bytes);
}

Result<void> Message::allow_only(std::initializer_list<std::string_view> keys,
                                 std::initializer_list<std::string_view> prefixes) const {
    for (const auto& [k, v] : pairs_) {
        bool known = false;
        for (auto allowed : keys)
            known = known || k == allowed;
        for (auto prefix : prefixes)
            known = known || k.starts_with(prefix);
        if (!known) return make_error(Errc::protocol, "unknown key '{}'", k);
    }
    return ok();
}

std::string Message::encode() const {
    std::string out;
    for (const auto& [k, v] : pairs_) {
        out += k;
        out += '=';
        out += v;
        out += '\n';
    }
    out += '\n';
    return out;
}

void Message::wipe() {
    for (auto& [k, v] : pairs_) {
        explicit_bzero(k.data(), k.size());
        explicit_bzero(v.data(), v.size());
    }
    pairs_.clear();
    hashes_.clear();
    slots_.clear();
}

Result<Message> parse_message(std::string_view text, const Limits& limits) {
    Decoder decoder(limits);
    CUG_CHECK(decoder.feed(text));
    auto message = CUG_TRY(decoder.next());
    if (!message) return make_error(Errc::protocol, "message is not ended by an empty line");
    if (decoder.pending() != 0)
        return make_error(Errc::protocol, "{} bytes follow the end of the message",
                          decoder.pending());
    return std::move(*message);
}

Decoder::~Decoder() {
    explicit_bzero(buffer_.data(), buffer_.size());
    current_.wipe();
}

Result<std::optional<Message>> Decoder::fail(Error error) {
    failed_ = error;
    return error;
}

Result<void> Decoder::feed(ByteView data) {
    if (failed_) return *failed_;
    if (start_ > 0) {  // drop what has been parsed before growing the buffer
        buffer_.erase(0, start_);
        start_ = 0;
    }
    if (buffer_.size() + data.size() > limits_.max_message) {
        failed_ = make_error(Errc::protocol, "message longer than {} bytes", limits_.max_message);
        return *failed_;
    }
    buffer_.append(as_chars(data));
    return ok();
}

Result<std::optional<Message>> Decoder::next() {
    if (failed_) return *failed_;
    for (;;) {
        const std::size_t newline = buffer_.find('\n', start_);
        if (newline == std::string::npos) {
            if (buffer_.size() - start_ > limits_.max_line)
                return fail(make_error(Errc::protocol, "line {} is longer than {} bytes", line_ + 1,
                                       limits_.max_line));
            return std::optional<Message>();
        }
        const std::string_view line(buffer_.data() + start_, newline - start_);
        start_ = newline + 1;
        ++line_;
        message_bytes_ += line.size() + 1;
        if (line.size() > limits_.max_line)
            return fail(make_error(Errc::protocol, "line {} is longer than {} bytes", line_,
                                   limits_.max_line));
        if (message_bytes_ > limits_.max_message)
            return fail(
                make_error(Errc::protocol, "message longer than {} bytes", limits_.max_message));
        if (line.empty()) {
            if (current_.empty())
                return fail(make_error(Errc::protocol, "line {}: empty message", line_));
            Message done = std::move(current_);
            current_ = Message();
            message_bytes_ = 0;
            line_ = 0;
            return std::optional<Message>(std::move(done));
        }
        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos)
            return fail(make_error(Errc::protocol, "line {}: {} has no '='", line_,
                                   quote_for_message(line)));
        const std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
        if (auto k = check_key(key); !k)
            return fail(make_error(Errc::protocol, "line {}: {}", line_, k.error().message));
        if (auto v = check_value(value, limits_.max_value); !v)
            return fail(make_error(Errc::protocol, "line {}: {}", line_, v.error().message));
        if (current_.size() >= limits_.max_pairs)
            return fail(
                make_error(Errc::protocol, "line {}: more than {} keys", line_, limits_.max_pairs));
        if (auto added = current_.add(key, value); !added)
            return fail(make_error(Errc::protocol, "line {}: {}", line_, added.error().message));
    }
}

}  // namespace cug::wire
