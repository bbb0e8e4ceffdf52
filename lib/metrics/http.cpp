#include "metrics/http.hpp"
#include "metrics/exposition.hpp"

#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cug::metrics {

Result<net::Endpoint> parse_listen(std::string_view text) {
    const bool digits = !text.empty() && text.size() <= 5 &&
                        text.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits) {
        const unsigned long port = std::stoul(std::string(text));
        if (port < 1 || port > 65535)
            return make_error(Errc::invalid, "'{}' is not a port (1-65535)", text);
        return net::Endpoint{*net::Address::parse("127.0.0.1"), static_cast<std::uint16_t>(port)};
    }
    auto endpoint = net::Endpoint::parse(text);
    if (!endpoint)
        return make_error(Errc::invalid, "'{}' is neither a port nor ADDRESS:PORT",
                          text.substr(0, 64));
    return endpoint;
}

struct Handler {
    static MHD_Result answer(void* cls, MHD_Connection* connection, const char* url,
                             const char* method, const char* /*version*/,
                             const char* /*upload_data*/, size_t* /*upload_data_size*/,
                             void** /*state*/) {
        auto* server = static_cast<Server*>(cls);
        unsigned status = MHD_HTTP_OK;
        std::string body;
        const char* type = content_type;
        const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                         std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (std::strcmp(url, "/metrics") != 0) {
            status = MHD_HTTP_NOT_FOUND;
            body = "only /metrics is here\n";
            type = "text/plain; charset=utf-8";
        } else if (!get) {
            status = MHD_HTTP_METHOD_NOT_ALLOWED;
            body = "GET or HEAD only\n";
            type = "text/plain; charset=utf-8";
        } else {
            body = server->render_();
        }
        MHD_Response* response =
            MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
        if (!response) return MHD_NO;
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
            MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        const MHD_Result queued = MHD_queue_response(connection, status, response);
        MHD_destroy_response(response);
        return queued;
    }
};

Result<std::unique_ptr<Server>> Server::bind(const net::Endpoint& where) {
    std::unique_ptr<Server> server(new Server());
    sockaddr_storage ss{};
    const socklen_t length = net::to_sockaddr(where, &ss);
    server->fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (server->fd_ < 0) return make_error(Errc::os, "metrics socket: {}", std::strerror(errno));
    const int on = 1;
    (void)::setsockopt(server->fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ss.ss_family == AF_INET6)
        (void)::setsockopt(server->fd_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (::bind(server->fd_, reinterpret_cast<const sockaddr*>(&ss), length) != 0)
        return make_error(errno == EACCES                                 ? Errc::permission
                          : errno == EADDRINUSE || errno == EADDRNOTAVAIL ? Errc::unavailable
                                                                          : Errc::os,
                          "metrics on {}: {}", where.to_string(), std::strerror(errno));
    if (::listen(server->fd_, 16) != 0)
        return make_error(Errc::os, "metrics on {}: {}", where.to_string(), std::strerror(errno));
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    if (::getsockname(server->fd_, reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0)
        server->port_ = net::endpoint_from_sockaddr(&bound).port;
    return server;
}

Result<void> Server::start(std::function<std::string()> render) {
    if (daemon_) return make_error(Errc::internal, "the metrics server is already started");
    render_ = std::move(render);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, nullptr, nullptr,
                               &Handler::answer, this, MHD_OPTION_LISTEN_SOCKET, fd_,
                               MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                               4u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!daemon_) return make_error(Errc::os, "the metrics server did not start");
    fd_ = -1;  // MHD_stop_daemon closes it
    return ok();
}

Server::~Server() {
    if (daemon_) MHD_stop_daemon(daemon_);
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace cug::metrics
