// The key=value line protocol every cug program speaks: on the local Unix
// sockets under /run/cug/ and, framed the same way, inside the TLS control
// channel. In the spirit of WireGuard's cross-platform userspace API, so that
// `socat` or `nc -U` can drive any daemon from a shell script.
//
// A message is one or more lines `key=value\n` ended by an empty line `\n`:
//
//     cmd=status
//     interface=cug0
//
// - keys: 1-64 of [a-z0-9._-], starting with [a-z]; each at most once per
//   message (lists use indexed keys: peer.0.user, peer.1.user);
// - values: printable ASCII 0x20-0x7e, nothing else (no CR, NUL, tabs or
//   bytes >= 0x80); the first '=' ends the key, later ones belong to the value;
// - typed values have one spelling each: unsigned integers in decimal without
//   sign or leading zeros, booleans `true`/`false`, binary as unpadded
//   base64url (wire/base64.hpp);
// - limits on line length, value length, pairs per message and message size
//   are checked before more bytes are buffered (Limits).
// A message that breaks any rule is refused with Errc::protocol and a message
// naming the line; a stream Decoder stays failed after the first violation.
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cug::wire {

struct Limits {
    std::size_t max_line = 8192;  // bytes, without the newline
    std::size_t max_value = 8000;
    std::size_t max_pairs = 256;
    std::size_t max_message = 65536;  // bytes, all lines and the blank one
};

Result<void> check_key(std::string_view key);
Result<void> check_value(std::string_view value, std::size_t max_value = Limits{}.max_value);

class Message {
  public:
    using Pair = std::pair<std::string, std::string>;

    Result<void> add(std::string_view key, std::string_view value);
    Result<void> add_u64(std::string_view key, std::uint64_t value);
    Result<void> add_bool(std::string_view key, bool value);
    Result<void> add_bytes(std::string_view key, ByteView value);

    const std::string* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }
    Result<std::string_view> get(std::string_view key) const;
    Result<std::uint64_t> get_u64(std::string_view key, std::uint64_t min = 0,
                                  std::uint64_t max = UINT64_MAX) const;
    Result<bool> get_bool(std::string_view key) const;
    Result<Bytes> get_bytes(std::string_view key, std::size_t max_length) const;
    // The same for keys that may be absent.
    Result<std::optional<std::uint64_t>> get_optional_u64(std::string_view key,
                                                          std::uint64_t min = 0,
                                                          std::uint64_t max = UINT64_MAX) const;

    // Refuses any key not listed and not starting with one of `prefixes`.
    Result<void> allow_only(std::initializer_list<std::string_view> keys,
                            std::initializer_list<std::string_view> prefixes = {}) const;

    std::size_t size() const { return pairs_.size(); }
    bool empty() const { return pairs_.empty(); }
    auto begin() const { return pairs_.begin(); }
    auto end() const { return pairs_.end(); }
    // The lines and the terminating blank line.
    std::string encode() const;
    // Overwrites every key and value before the message is dropped (for
    // messages that carried keys).
    void wipe();

  private:
    std::vector<Pair> pairs_;
    // The duplicate check on every add and each get look keys up in an
    // open-addressing table (index + 1 per slot, 0 free; at most half full)
    // over each key's hash: a bundle of 49 peers has 450 keys.
    void index(std::size_t i);
    std::vector<std::uint32_t> hashes_;
    std::vector<std::uint32_t> slots_;
};

// Parses exactly one message; nothing may follow its blank line.
Result<Message> parse_message(std::string_view text, const Limits& limits = {});

// Decodes messages from a byte stream (a socket) as they complete.
class Decoder {
  public:
    explicit Decoder(Limits limits = {}) : limits_(limits) {}
    // What passed through may have been secret (passwords, sealed keys' plaintext).
    ~Decoder();
    // Buffers bytes; fails when the unparsed bytes would exceed max_message.
    Result<void> feed(ByteView data);
    Result<void> feed(std::string_view data) { return feed(as_bytes(data)); }
    // The next complete message, nullopt when more bytes are needed.
    Result<std::optional<Message>> next();
    // Bytes buffered but not yet part of a returned message.
    std::size_t pending() const { return buffer_.size() - start_ + message_bytes_; }

  private:
    Result<std::optional<Message>> fail(Error error);

    Limits limits_;
    std::string buffer_;
    std::size_t start_ = 0;  // where unparsed bytes begin in buffer_
    Message current_;
    std::size_t message_bytes_ = 0;
    std::size_t line_ = 0;  // line number within the current message
    std::optional<Error> failed_;
};

}  // namespace cug::wire
