#include "crypto/password.hpp"

#include "crypto/random.hpp"
#include "crypto/secret.hpp"

#include <argon2.h>

#include <charconv>
#include <climits>
#include <vector>

namespace cug::crypto {

namespace {

constexpr std::size_t salt_size = 16;
constexpr std::size_t tag_size = 32;

bool decimal(std::string_view s, std::uint32_t& out) {
    if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// "key=" then a number, consuming through the separator.
bool field(std::string_view& s, std::string_view key, char separator, std::uint32_t& out) {
    if (!s.starts_with(key)) return false;
    s.remove_prefix(key.size());
    std::size_t end = separator ? s.find(separator) : s.size();
    if (end == std::string_view::npos) return false;
    if (!decimal(s.substr(0, end), out)) return false;
    s.remove_prefix(separator ? end + 1 : end);
    return true;
}

Result<Argon2Params> checked(const Argon2Params& p, std::string_view text) {
    if (p.parallelism < 1 || p.parallelism > 16 || p.memory_kib < 8 * p.parallelism ||
        p.memory_kib > 4194304 || p.iterations < 1 || p.iterations > 64)
        return make_error(Errc::invalid,
                          "Argon2id parameters '{}' are out of range (p 1-16, m 8*p-4194304 KiB, "
                          "t 1-64)",
                          text.substr(0, 40));
    return p;
}

// The standard base64 alphabet without padding, as PHC strings use it.
bool phc_base64(std::string_view s, std::size_t min, std::size_t max) {
    if (s.size() % 4 == 1) return false;
    const std::size_t bytes = s.size() * 3 / 4;
    if (bytes < min || bytes > max) return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    return true;
}

}  // namespace

Result<Argon2Params> Argon2Params::parse(std::string_view text) {
    Argon2Params p;
    std::string_view s = text;
    if (!field(s, "m=", ',', p.memory_kib) || !field(s, "t=", ',', p.iterations) ||
        !field(s, "p=", 0, p.parallelism) || !s.empty())
        return make_error(Errc::invalid, "'{}' is not m=KiB,t=N,p=N", text.substr(0, 40));
    return checked(p, text);
}

std::string Argon2Params::to_string() const {
    return "m=" + std::to_string(memory_kib) + ",t=" + std::to_string(iterations) +
           ",p=" + std::to_string(parallelism);
}

Result<Argon2Params> phc_params(std::string_view phc) {
    constexpr std::string_view prefix = "$argon2id$v=19$";
    auto bad = [] { return make_error(Errc::invalid, "not an Argon2id (v=19) PHC string"); };
    if (phc.size() > 512 || !phc.starts_with(prefix)) return bad();
    std::string_view s = phc.substr(prefix.size());
    const std::size_t params_end = s.find('$');
    if (params_end == std::string_view::npos) return bad();
    auto params = CUG_TRY(Argon2Params::parse(s.substr(0, params_end)));
    s.remove_prefix(params_end + 1);
    const std::size_t salt_end = s.find('$');
    if (salt_end == std::string_view::npos || !phc_base64(s.substr(0, salt_end), 8, 64) ||
        !phc_base64(s.substr(salt_end + 1), 16, 64))
        return bad();
    return params;
}

Result<std::string> hash_password(ByteView password, const Argon2Params& params) {
    CUG_TRY(checked(params, params.to_string()));
    if (password.size() > 4096) return make_error(Errc::invalid, "password too long");
    std::uint8_t salt[salt_size];
    random_bytes(salt);
    const std::size_t length = argon2_encodedlen(
        params.iterations, params.memory_kib, params.parallelism, salt_size, tag_size, Argon2_id);
    std::vector<char> encoded(length + 1);
    static const std::uint8_t empty = 0;
    const int rc =
        argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism,
                              password.empty() ? &empty : password.data(), password.size(), salt,
                              salt_size, tag_size, encoded.data(), encoded.size());
    if (rc != ARGON2_OK)
        return make_error(rc == ARGON2_MEMORY_ALLOCATION_ERROR ? Errc::os : Errc::internal,
                          "Argon2id failed: {}", argon2_error_message(rc));
    return std::string(encoded.data());
}

Result<bool> verify_password(std::string_view phc, ByteView password) {
    CUG_TRY(phc_params(phc));
    if (password.size() > 4096) return false;
    const std::string text(phc);  // libargon2 wants a NUL-terminated string
    static const std::uint8_t empty = 0;
    const int rc =
        argon2id_verify(text.c_str(), password.empty() ? &empty : password.data(), password.size());
    if (rc == ARGON2_OK) return true;
    if (rc == ARGON2_VERIFY_MISMATCH) return false;
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return make_error(Errc::os, "Argon2id could not allocate its memory");
    return make_error(Errc::invalid, "password hash rejected by Argon2id: {}",
                      argon2_error_message(rc));
}

bool needs_rehash(std::string_view phc, const Argon2Params& wanted) {
    auto params = phc_params(phc);
    return !params || !(*params == wanted);
}

}  // namespace cug::crypto
