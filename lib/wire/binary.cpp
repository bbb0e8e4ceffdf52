#include "wire/binary.hpp"

#include <cassert>

namespace cug::wire {

const std::uint8_t* Reader::take(std::size_t n) {
    if (failed_ || n > data_.size() - pos_) {
        failed_ = true;
        return nullptr;
    }
    const std::uint8_t* p = data_.data() + pos_;
    pos_ += n;
    return p;
}

std::uint8_t Reader::u8() {
    const std::uint8_t* p = take(1);
    return p ? p[0] : 0;
}

std::uint16_t Reader::u16() {
    const std::uint8_t* p = take(2);
    return p ? static_cast<std::uint16_t>(p[0] << 8 | p[1]) : 0;
}

std::uint32_t Reader::u32() {
    const std::uint8_t* p = take(4);
    if (!p) return 0;
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
           std::uint32_t{p[3]};
}

std::uint64_t Reader::u64() {
    std::uint64_t hi = u32();
    std::uint64_t lo = u32();
    return failed_ ? 0 : hi << 32 | lo;
}

ByteView Reader::bytes(std::size_t n) {
    const std::uint8_t* p = take(n);
    return p ? ByteView(p, n) : ByteView();
}

ByteView Reader::bytes8(std::size_t max) {
    std::size_t n = u8();
    if (n > max) fail();
    return bytes(n);
}

ByteView Reader::bytes16(std::size_t max) {
    std::size_t n = u16();
    if (n > max) fail();
    return bytes(n);
}

ByteView Reader::bytes32(std::size_t max) {
    std::size_t n = u32();
    if (n > max) fail();
    return bytes(n);
}

ByteView Reader::rest() {
    return bytes(remaining());
}

Writer& Writer::u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
}

Writer& Writer::u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
    return *this;
}

Writer& Writer::u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out_.push_back(static_cast<std::uint8_t>(v >> shift));
    return *this;
}

Writer& Writer::u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    return u32(static_cast<std::uint32_t>(v));
}

Writer& Writer::bytes(ByteView b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
}

Writer& Writer::bytes8(ByteView b) {
    assert(b.size() <= 0xff);
    return u8(static_cast<std::uint8_t>(b.size())).bytes(b);
}

Writer& Writer::bytes16(ByteView b) {
    assert(b.size() <= 0xffff);
    return u16(static_cast<std::uint16_t>(b.size())).bytes(b);
}

Writer& Writer::bytes32(ByteView b) {
    assert(b.size() <= 0xffffffffu);
    return u32(static_cast<std::uint32_t>(b.size())).bytes(b);
}

}  // namespace cug::wire
