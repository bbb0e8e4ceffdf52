// Bytes that hold secrets: allocated from OpenSSL's secure heap (mlocked,
// excluded from core dumps, guard pages around it), wiped when freed.
#pragma once

#include "core/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace cug::crypto {

// Sets the size of the secure heap; call before the first SecretBuffer if the
// default (4 MiB) does not fit. A power of two.
void init_secure_heap(std::size_t bytes);
// Never sets up OpenSSL's secure heap (a library inside another program,
// pam_cug.so, leaves that program's OpenSSL as it found it): secrets then
// live in the ordinary heap, still wiped when freed; a secure heap the
// program set up itself is used.
void leave_secure_heap_alone();

class SecretBuffer {
  public:
    SecretBuffer() = default;
    explicit SecretBuffer(std::size_t size);  // zero-filled
    static SecretBuffer copy_of(ByteView bytes);
    ~SecretBuffer() { clear(); }

    SecretBuffer(SecretBuffer&& other) noexcept;
    SecretBuffer& operator=(SecretBuffer&& other) noexcept;
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;

    std::uint8_t* data() { return data_; }
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    ByteView view() const { return ByteView(data_, size_); }
    std::span<std::uint8_t> span() { return std::span<std::uint8_t>(data_, size_); }
    // True when the bytes live in the locked secure heap (not a fallback).
    bool locked() const { return secure_; }
    // Wipes and releases the bytes.
    void clear();

  private:
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    bool secure_ = false;
};

// Compares in time that depends only on the lengths; unequal lengths are unequal.
bool equal_ct(ByteView a, ByteView b);

}  // namespace cug::crypto
