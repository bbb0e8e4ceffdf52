#include "store/seal_key.hpp"

#include "core/guarded_file.hpp"
#include "crypto/aead.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "wire/base64.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cug::store {

namespace {

constexpr std::string_view file_tag = "cug-store-seal-1:";
constexpr std::uint8_t version = 1;
constexpr std::size_t key_size = 32, id_size = 4, nonce_size = 12, tag_size = 16;
constexpr std::size_t header_size = 1 + id_size + nonce_size;

Bytes aad(std::string_view context) {
    Bytes a = to_bytes("cug store seal v1");
    a.push_back(0);
    a.insert(a.end(), context.begin(), context.end());
    return a;
}

}  // namespace

SealKey::SealKey(crypto::SecretBuffer key) : key_(std::move(key)) {}

SealKey SealKey::generate() {
    crypto::SecretBuffer key(key_size);
    crypto::random_bytes(key.span());
    return SealKey(std::move(key));
}

Result<SealKey> SealKey::parse(std::string_view text) {
    if (text.ends_with('\n')) text.remove_suffix(1);
    if (!text.starts_with(file_tag))
        return make_error(Errc::invalid, "not a cug store seal key (it starts '{}')", file_tag);
    text.remove_prefix(file_tag.size());
    auto raw = wire::base64url_decode(text);
    if (!raw || raw->size() != key_size) {
        if (raw) explicit_bzero(raw->data(), raw->size());
        return make_error(Errc::invalid, "a seal key is {} bytes in base64url", key_size);
    }
    SealKey k(crypto::SecretBuffer::copy_of(*raw));
    explicit_bzero(raw->data(), raw->size());
    return k;
}

Result<SealKey> SealKey::load(const std::filesystem::path& file) {
    std::string text = CUG_TRY(read_guarded_file(
        file, {true, 077, 128, "belong to root or to this user and be readable by nobody else",
               Errc::no_input}));
    auto key = parse(text);
    explicit_bzero(text.data(), text.size());
    if (!key) return make_error(key.error().code, "{}: {}", file.string(), key.error().message);
    return key;
}

Result<void> SealKey::save(const std::filesystem::path& file) const {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
    if (fd < 0)
        return make_error(errno == EEXIST ? Errc::exists : Errc::io, "{}: {}", file.string(),
                          std::strerror(errno));
    std::string text = std::string(file_tag) + wire::base64url_encode(key_.view()) + "\n";
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    explicit_bzero(text.data(), text.size());
    const bool written = done == text.size() && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) {
        ::unlink(file.c_str());  // never a half-written key
        return make_error(Errc::io, "{}: {}", file.string(), std::strerror(err));
    }
    return ok();
}

std::array<std::uint8_t, 4> SealKey::id() const {
    const auto d = crypto::sha256(key_.view());
    return {d[0], d[1], d[2], d[3]};
}

std::string SealKey::id_text() const {
    const auto i = id();
    return to_hex(ByteView(i.data(), i.size()));
}

Bytes SealKey::seal(ByteView plaintext, std::string_view context) const {
    Bytes out;
    out.reserve(header_size + plaintext.size() + tag_size);
    out.push_back(version);
    const auto i = id();
    out.insert(out.end(), i.begin(), i.end());
    std::uint8_t nonce[nonce_size];
    crypto::random_bytes(nonce);
    out.insert(out.end(), nonce, nonce + nonce_size);
    const Bytes sealed = crypto::aead_seal(key_.view(), nonce, aad(context), plaintext);
    out.insert(out.end(), sealed.begin(), sealed.end());
    return out;
}

Result<crypto::SecretBuffer> SealKey::open(ByteView sealed, std::string_view context) const {
    if (sealed.size() < header_size + tag_size || sealed[0] != version)
        return make_error(Errc::invalid, "'{}' is not a sealed value", context);
    const auto mine = id();
    if (!std::equal(mine.begin(), mine.end(), sealed.begin() + 1))
        return make_error(Errc::invalid,
                          "'{}' was sealed with another seal key ({}; this host's is {})", context,
                          to_hex(sealed.subspan(1, id_size)), id_text());
    auto plain = crypto::aead_open(key_.view(), sealed.subspan(1 + id_size, nonce_size),
                                   aad(context), sealed.subspan(header_size));
    if (!plain)
        return make_error(Errc::invalid, "'{}' does not open: damaged, or moved from another key",
                          context);
    return plain;
}

}  // namespace cug::store
