// A TLS server context with a fresh self-signed P-256 key, as cugd's, for
// tests of the channel (tests/net, tests/server).
#pragma once

#include "core/time.hpp"
#include "crypto/x509.hpp"
#include "net/tls.hpp"

#include <csignal>

namespace cug::test {

struct TlsServer {
    crypto::PrivateKey key = *crypto::PrivateKey::generate();
    crypto::Certificate certificate =
        *crypto::make_self_signed(key, {"cug-test", unix_now() - 60, unix_now() + 3600,
                                        crypto::CertificateRequest::Role::server_ca});
    net::TlsContext context = *net::TlsContext::server(key, certificate);
};

// Programs ignore SIGPIPE (cli::harden_process); a test of a peer that hangs
// up must too, or the first write to it ends the test program.
inline const bool sigpipe_ignored = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

}  // namespace cug::test
