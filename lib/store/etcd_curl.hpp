// What lib/store/etcd's files share of libcurl: one way to set up a handle
// for the configuration's members (TLS with the client certificate, HTTPS
// only, no proxy, the hasleader header), and libcurl's one-time start.
#pragma once

#include "store/etcd.hpp"

#include <curl/curl.h>

namespace cug::store::etcd::detail {

void init_curl();
// The headers it sets, for the caller to free with the handle.
curl_slist* setup(CURL* c, const Config& config);

}  // namespace cug::store::etcd::detail
