// Shared between the store's source files only.
#pragma once

#include "store/store.hpp"

#include <lmdb.h>

namespace cug::store {

struct Databases {
    MDB_dbi dbi[16] = {};
    MDB_dbi operator[](Table t) const { return dbi[static_cast<int>(t)]; }
};

// Keys of the meta database.
inline constexpr std::string_view meta_schema = "schema";
inline constexpr std::string_view meta_generation = "generation";
inline constexpr std::string_view meta_created = "created";
inline constexpr std::string_view meta_server_name = "server.name";
inline constexpr std::string_view meta_server_key = "server.key";    // PKCS#8 DER
inline constexpr std::string_view meta_server_cert = "server.cert";  // DER
inline constexpr std::string_view meta_password_params = "password.params";
inline constexpr std::string_view meta_dns_zone =
    "dns.zone";  // canonical; absent: dns::default_zone
inline constexpr std::string_view meta_audit_limit = "audit.limit";
inline constexpr std::string_view meta_audit_next = "audit.next";    // next sequence number
inline constexpr std::string_view meta_audit_first = "audit.first";  // oldest kept
inline constexpr std::string_view meta_noise_limit = "noise.limit";
inline constexpr std::string_view meta_noise_next = "noise.next";
inline constexpr std::string_view meta_noise_first = "noise.first";
// A store of schema 1 has no noise.limit: this many.
inline constexpr std::uint64_t default_noise_limit = 10'000;

// Keys of the counters database.
inline constexpr std::string_view counter_key_id = "key_id";
inline constexpr std::string_view counter_session_index = "session_index";

inline bool starts_with(ByteView key, ByteView prefix) {
    return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

}  // namespace cug::store
