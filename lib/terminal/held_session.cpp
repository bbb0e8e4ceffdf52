#include "terminal/held_session.hpp"

#include "store/names.hpp"
#include "terminal/login.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace cug::terminal {

Result<HeldSession> parse_handoff(const wire::Message& r, std::int64_t now) {
    CUG_CHECK(r.allow_only({"cmd", "user", "server", "server_key", "reader", "resume_key",
                            "push_key", "udp_key", "bundle"}));
    HeldSession h;
    h.user = std::string(CUG_TRY(r.get("user")));
    if (!store::check_user_name(h.user))
        return make_error(Errc::invalid, "the hand-off's user is not a user ID");
    h.server = std::string(CUG_TRY(r.get("server")));
    CUG_TRY(split_server(h.server));
    h.reader = std::string(CUG_TRY(r.get("reader")));
    if (h.reader.empty()) return make_error(Errc::invalid, "the hand-off names no card reader");
    h.server_key = CUG_TRY(crypto::PublicKey::from_der(CUG_TRY(r.get_bytes("server_key", 512))));
    auto secret = [&](std::string_view key) -> Result<crypto::SecretBuffer> {
        Bytes b = CUG_TRY(r.get_bytes(key, 32));
        auto s = crypto::SecretBuffer::copy_of(b);
        explicit_bzero(b.data(), b.size());
        if (s.size() != 32)
            return make_error(Errc::invalid, "the hand-off's {} is not 32 bytes", key);
        return s;
    };
    h.resume_key = CUG_TRY(secret("resume_key"));
    h.push_key = CUG_TRY(secret("push_key"));
    h.udp_key = CUG_TRY(secret("udp_key"));
    Bytes text = CUG_TRY(r.get_bytes("bundle", protocol::max_sealed));
    auto message = wire::parse_message(as_chars(text), protocol::channel_limits());
    explicit_bzero(text.data(), text.size());
    if (!message) return std::move(message).error();
    auto bundle = protocol::decode_bundle(*message);
    message->wipe();
    h.bundle = CUG_TRY(std::move(bundle));
    if (h.bundle.groups.empty()) return make_error(Errc::invalid, "the hand-off has no group");
    h.since = now;
    return h;
}

Result<PushOutcome> apply_push(HeldSession& held, const wire::Message& outer) {
    auto inner =
        CUG_TRY(protocol::open_push(held.channel_push_key.view(), held.push_seq + 1, outer));
    auto decoded = protocol::decode_push(inner, held.bundle.groups);
    inner.wipe();
    auto push = CUG_TRY(std::move(decoded));
    auto& b = held.bundle;
    PushOutcome outcome;
    using Kind = protocol::Push::Kind;
    switch (push.kind) {
        case Kind::sync:
            if (push.sync.session != b.session)
                return make_error(Errc::protocol, "cugd sent another session's picture");
            b = std::move(push.sync);
            held.pending.clear();  // the picture holds the current epochs
            held.away.clear();     // cugd follows a sync with the peers that are away
            break;
        case Kind::peer_up:
            for (auto& peer : push.peers) {
                auto same = std::find_if(b.peers.begin(), b.peers.end(), [&](const auto& p) {
                    return p.user == peer.user && p.group == peer.group;
                });
                if (auto installed = held.pending.find(peer.group); installed != held.pending.end())
                    std::erase_if(installed->second.second,
                                  [&](const auto& p) { return p.user == peer.user; });
                if (same != b.peers.end())
                    *same = std::move(peer);
                else
                    b.peers.push_back(std::move(peer));
            }
            break;
        case Kind::peer_down:
            std::erase_if(b.peers, [&](const auto& p) {
                return p.user == push.user && (push.group.empty() || p.group == push.group);
            });
            if (push.group.empty()) held.away.erase(push.user);
            break;
        case Kind::peer_away:
            // Only of a peer this session has (one it has not heard of yet
            // comes up with peer-up, when it is back).
            if (std::any_of(b.peers.begin(), b.peers.end(),
                            [&](const auto& p) { return p.user == push.user; }))
                held.away.insert(push.user);
            break;
        case Kind::peer_back:
            held.away.erase(push.user);
            break;
        case Kind::group_down:
            held.pending.erase(push.group);
            std::erase_if(b.peers, [&](const auto& p) { return p.group == push.group; });
            std::erase_if(b.names, [&](const auto& n) { return n.group == push.group; });
            std::erase_if(b.groups, [&](const auto& g) { return g.name == push.group; });
            outcome.left = push.group;
            break;
        case Kind::names: {
            // By user within the group; our own entry is the group's address.
            std::map<std::string, std::size_t> at;  // the group's entries by user
            for (std::size_t i = 0; i < b.names.size(); ++i)
                if (b.names[i].group == push.group) at.emplace(b.names[i].user, i);
            for (auto& name : push.names) {
                if (name.user == held.user) continue;
                if (auto same = at.find(name.user); same != at.end()) {
                    b.names[same->second] = std::move(name);
                } else if (b.names.size() < protocol::max_names) {
                    at.emplace(name.user, b.names.size());
                    b.names.push_back(std::move(name));
                }
            }
            const std::set<std::string> gone(push.gone.begin(), push.gone.end());
            std::erase_if(b.names, [&](const auto& n) {
                return n.group == push.group && gone.count(n.user);
            });
            break;
        }
        case Kind::endpoint:
            for (auto& p : b.peers)
                if (p.user == push.user) p.endpoint = push.endpoint;
            break;
        case Kind::rekey: {
            // Installed for receiving (the agent puts it in the data plane
            // before cugd hears so); sending switches on "activate".
            held.pending[push.group] = {push.key_id, std::move(push.peers)};
            wire::Message done;
            (void)done.add("type", "rekeyed");
            (void)done.add("group", push.group);
            (void)done.add_u64("key_id", push.key_id);
            outcome.answer = done.encode();
            break;
        }
        case Kind::activate: {
            auto installed = held.pending.find(push.group);
            if (installed == held.pending.end() || installed->second.first != push.key_id) {
                // A sync since the install (a resume during the rotation)
                // brought these keys as the current ones already.
                auto group = std::find_if(b.groups.begin(), b.groups.end(),
                                          [&](const auto& g) { return g.name == push.group; });
                if (group != b.groups.end() && group->key_id >= push.key_id) break;
                return make_error(Errc::protocol, "cugd activated keys this terminal lacks");
            }
            // Peers that came or went since the install are already right.
            for (auto& p : installed->second.second) {
                auto same = std::find_if(b.peers.begin(), b.peers.end(), [&](const auto& q) {
                    return q.user == p.user && q.group == p.group;
                });
                if (same != b.peers.end()) *same = std::move(p);
            }
            for (auto& g : b.groups)
                if (g.name == push.group) g.key_id = push.key_id;
            held.pending.erase(installed);
            break;
        }
    }
    ++held.push_seq;  // taken only once it applied: else the session is as it was
    return outcome;
}

dataplane::View dataplane_view(const HeldSession& held) {
    const auto& b = held.bundle;
    dataplane::View v;
    for (const auto& g : b.groups)
        v.groups.push_back({g.name, g.prefix, g.address});
    for (const auto& p : b.peers) {
        auto group = std::find_if(b.groups.begin(), b.groups.end(),
                                  [&](const auto& g) { return g.name == p.group; });
        if (group == b.groups.end()) continue;
        dataplane::PeerView pv;
        pv.user = p.user;
        pv.group = p.group;
        pv.address = p.address;
        pv.endpoint = p.endpoint;
        pv.away = held.away.count(p.user) > 0;
        pv.send_index = p.send_index;
        pv.recv_index = p.recv_index;
        pv.not_after = p.not_after;
        pv.current = {p.key_id, p.send_key.view(), p.recv_key.view()};
        if (auto installed = held.pending.find(p.group); installed != held.pending.end())
            for (const auto& q : installed->second.second)
                if (q.user == p.user && q.recv_index == p.recv_index)
                    pv.next = dataplane::KeyView{installed->second.first, q.send_key.view(),
                                                 q.recv_key.view()};
        v.peers.push_back(std::move(pv));
    }
    return v;
}

}  // namespace cug::terminal
