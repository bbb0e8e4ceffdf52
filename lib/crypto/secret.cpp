#include "crypto/secret.hpp"

#include <openssl/crypto.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace cug::crypto {

namespace {

std::once_flag heap_once;
std::size_t heap_size = std::size_t{4} << 20;

void ensure_heap() {
    std::call_once(heap_once, [] {
        // Returns 2 when mlock or madvise failed but the heap works: still
        // better than the ordinary heap (guard pages, wiping), so keep it.
        if (!CRYPTO_secure_malloc_initialized()) CRYPTO_secure_malloc_init(heap_size, 32);
    });
}

}  // namespace

void init_secure_heap(std::size_t bytes) {
    heap_size = bytes;
    ensure_heap();
}

void leave_secure_heap_alone() {
    std::call_once(heap_once, [] {});
}

SecretBuffer::SecretBuffer(std::size_t size) {
    if (size == 0) return;
    ensure_heap();
    void* p = CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_zalloc(size, __FILE__, __LINE__)
                                                 : nullptr;
    secure_ = p != nullptr;
    if (!p) p = OPENSSL_zalloc(size);  // the secure heap is full: still wiped on free
    if (!p) {
        std::fputs("cug: out of memory for secrets\n", stderr);
        std::abort();
    }
    data_ = static_cast<std::uint8_t*>(p);
    size_ = size;
}

SecretBuffer SecretBuffer::copy_of(ByteView bytes) {
    SecretBuffer b(bytes.size());
    if (!bytes.empty()) std::memcpy(b.data_, bytes.data(), bytes.size());
    return b;
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(other.data_), size_(other.size_), secure_(other.secure_) {
    other.data_ = nullptr;
    other.size_ = 0;
    other.secure_ = false;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
    if (this != &other) {
        clear();
        data_ = other.data_;
        size_ = other.size_;
        secure_ = other.secure_;
        other.data_ = nullptr;
        other.size_ = 0;
        other.secure_ = false;
    }
    return *this;
}

void SecretBuffer::clear() {
    if (!data_) return;
    if (secure_)
        CRYPTO_secure_clear_free(data_, size_, __FILE__, __LINE__);
    else
        OPENSSL_clear_free(data_, size_);
    data_ = nullptr;
    size_ = 0;
    secure_ = false;
}

bool equal_ct(ByteView a, ByteView b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cug::crypto
