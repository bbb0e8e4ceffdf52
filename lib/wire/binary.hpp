// One bounds-checked reader for binary bytes from outside (store records, card
// responses, packets) and the matching writer. Big-endian integers throughout.
//
// The reader fails sticky, in the manner of OpenSSH's sshbuf: once a read runs
// past the end every later read returns zero/empty and ok() stays false, so a
// decoder reads all its fields and checks once.
#pragma once

#include "core/bytes.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace cug::wire {

class Reader {
  public:
    explicit Reader(ByteView data) : data_(data) {}

    std::uint8_t u8();
    std::uint16_t u16();
    std::uint32_t u32();
    std::uint64_t u64();
    // Exactly n bytes, or an empty view and failure.
    ByteView bytes(std::size_t n);
    // A length (u8/u16/u32) followed by that many bytes; the length may be at most max.
    ByteView bytes8(std::size_t max = 0xff);
    ByteView bytes16(std::size_t max = 0xffff);
    ByteView bytes32(std::size_t max);
    // Whatever remains.
    ByteView rest();

    std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
    bool empty() const { return remaining() == 0; }
    bool ok() const { return !failed_; }
    // All input consumed and no read failed: what a strict decoder checks last.
    bool done() const { return ok() && pos_ == data_.size(); }
    // Marks the input as bad (a decoder's own check failed).
    void fail() { failed_ = true; }

  private:
    const std::uint8_t* take(std::size_t n);

    ByteView data_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

class Writer {
  public:
    Writer& u8(std::uint8_t v);
    Writer& u16(std::uint16_t v);
    Writer& u32(std::uint32_t v);
    Writer& u64(std::uint64_t v);
    Writer& bytes(ByteView b);
    Writer& bytes(std::string_view s) { return bytes(as_bytes(s)); }
    // Length-prefixed; the caller guarantees the length fits (asserted).
    Writer& bytes8(ByteView b);
    Writer& bytes16(ByteView b);
    Writer& bytes32(ByteView b);

    const Bytes& data() const& { return out_; }
    Bytes&& take() && { return std::move(out_); }
    std::size_t size() const { return out_.size(); }

  private:
    Bytes out_;
};

}  // namespace cug::wire
