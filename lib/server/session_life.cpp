// A session's life inside cugd: resume, acknowledge, keepalive, presence,
// logout; expiry and the ends of sessions; store changes by cug-admin; the UDP
// hello that tells cugd a terminal's endpoint.
#include "server/daemon_impl.hpp"

namespace cug::server {

void DaemonImpl::on_session_message(Channel& c, const wire::Message& m) {
    const std::string type(m.get("type").value_or(""));
    const std::int64_t now = unix_now();
    if (type == "resume") {
        auto id = m.get_bytes("session", protocol::session_id_size);
        auto proof = m.get_bytes("proof", 32);
        auto exporter = c.tls.exporter(protocol::exporter_resume, protocol::exporter_size);
        std::optional<store::Session> session;
        if (c.user.empty() && id && proof && exporter && m.allow_only({"type", "session", "proof"}))
            session = store_.read([&](store::ReadTxn& t) { return t.find_session_by_id(*id); })
                          .value_or(std::optional<store::Session>());
        if (!session || session->expires <= now ||
            !crypto::equal_ct(protocol::resume_proof(session->resume_key.view(), *exporter),
                              *proof)) {
            noise_.note(c.peer.address, NoiseLog::Kind::resume_refused, now,
                        session ? session->user : "");
            ++metrics_.resumes_refused;
            log::event(log::Priority::info, "resume_refused",
                       {{"user", session ? session->user : ""}, {"terminal", c.peer.to_string()}});
            c.out += one("refused", {{"reason", "failed"}});
            c.close_after = true;
            return;
        }
        close_user_channels(session->user, "replaced", c.tls.fd());
        c.user = session->user;
        if (c.startup) {  // bound: no longer a stranger's connection
            c.startup = false;
            release_startup(c.peer.address);
        }
        c.deadline = 0;
        c.push_key = protocol::channel_push_key(session->push_key.view(), *exporter);
        c.presence_due = now + config_.presence_seconds;
        live_[c.user] = c.tls.fd();
        heard_[c.user] = now;
        known_.insert_or_assign(c.user, Known(*session));
        c.out += one("resumed", {{"expires", std::to_string(session->expires)}});
        ++metrics_.resumes;
        log::event(log::Priority::info, "resume",
                   {{"user", c.user}, {"terminal", c.peer.to_string()}});
        send_sync(c, *session);
        push_away_peers(c.user);
        if (away_.erase(c.user)) tell_presence(c.user, false);
        return;
    }
    if (c.user.empty()) {
        c.close_after = true;
        return;
    }
    heard_[c.user] = now;
    if (type == "ack") {
        const std::string user = c.user;
        auto acked = store_.write([&](store::WriteTxn& t) -> Result<store::Session> {
            CUG_CHECK(t.acknowledge_session(user));
            return *CUG_TRY(t.find_session(user));
        });
        c.out += one("acked");
        if (!acked) return;
        known_.insert_or_assign(user, Known(*acked));
        // The patent's step 12 is done: now the group learns of the user.
        announce_up(user, {});
    } else if (type == "ping") {
        c.out += one("pong");
    } else if (type == "presence") {
        on_presence(c, m);
    } else if (type == "rekeyed") {
        on_rekeyed(c, m);
    } else if (type == "logout") {
        const std::string user = c.user;
        const std::string why(m.get("reason").value_or("logout"));
        c.user.clear();
        live_.erase(user);
        end_session(user, "session.logout",
                    fmt::format("{} from {}", wire::quote_for_message(why, 64), c.peer.to_string()),
                    "");
        c.out += one("bye");
        c.close_after = true;
    } else {
        c.out += one("error", {{"message", "unknown message type"}});
    }
}

// The card's 9E key signs SHA-256("cug presence v1" || challenge || exporter):
// the terminal that answers holds this channel and the card is in its reader.
void DaemonImpl::on_presence(Channel& c, const wire::Message& m) {
    if (c.presence_challenge.empty()) {
        c.out += one("error", {{"message", "no presence challenge is outstanding"}});
        return;
    }
    const std::string user = c.user;
    std::string failure;
    auto signature = m.get_bytes("signature", 160);
    if (!signature) {
        failure = fmt::format("the terminal could not ask the card: {}",
                              wire::quote_for_message(m.get("error").value_or("no answer"), 120));
    } else {
        auto exporter = c.tls.exporter(protocol::exporter_presence, protocol::exporter_size);
        auto key = store_.read([&](store::ReadTxn& t) -> Result<crypto::PublicKey> {
            auto u = CUG_TRY(t.find_user(user));
            if (!u || !u->card) return make_error(Errc::not_found, "no card");
            return crypto::PublicKey::from_point(u->card->authentication);
        });
        if (!exporter || !key ||
            !crypto::verify_digest(*key, protocol::presence_digest(c.presence_challenge, *exporter),
                                   *signature))
            failure = "the card's presence signature does not verify";
    }
    c.presence_challenge.clear();
    if (failure.empty()) {
        c.presence_due = unix_now() + config_.presence_seconds;
        return;
    }
    c.user.clear();
    live_.erase(user);
    end_session(user, "session.absent", failure, "");
    c.out += one("absent");
    c.close_after = true;
}

void DaemonImpl::check_presence(std::int64_t now) {
    std::vector<std::string> late;
    std::vector<int> asked;
    for (auto& [fd, cp] : channels_) {
        Channel& c = *cp;
        if (c.user.empty()) continue;
        if (!c.presence_challenge.empty()) {
            if (now > c.presence_by) late.push_back(c.user);
            continue;
        }
        if (now < c.presence_due) continue;
        c.presence_challenge.resize(32);
        crypto::random_bytes(c.presence_challenge);
        c.presence_by = now + config_.presence_timeout;
        wire::Message challenge;
        (void)challenge.add("type", "presence");
        (void)challenge.add_bytes("challenge", c.presence_challenge);
        c.out += challenge.encode();
        asked.push_back(fd);
    }
    // Writing may close a channel: not while iterating over them.
    for (int fd : asked)
        if (auto c = channels_.find(fd); c != channels_.end()) flush(*c->second);
    for (const auto& user : late)
        end_session(user, "session.absent", "no answer to the presence challenge", "absent");
}

void DaemonImpl::note_departures() {
    if (went_away_.empty()) return;
    const auto gone = std::move(went_away_);
    went_away_.clear();
    for (const auto& user : gone)
        if (!live_channel(user) && known_.count(user) && away_.insert(user).second) {
            log::event(log::Priority::info, "away", {{"user", user}});
            tell_presence(user, true);
        }
}

bool DaemonImpl::share_a_group(const std::string& a, const std::string& b) const {
    auto ka = known_.find(a), kb = known_.find(b);
    if (ka == known_.end() || kb == known_.end()) return false;
    for (const auto& [group, index] : ka->second.indices)
        for (const auto& [other, other_index] : kb->second.indices)
            if (group == other) return true;
    return false;
}

// Every connected member of a group the user's session is in.
void DaemonImpl::tell_presence(const std::string& user, bool away) {
    std::vector<std::string> told;
    for (const auto& [member, fd] : live_)
        if (member != user && share_a_group(user, member)) told.push_back(member);
    for (const auto& member : told)
        push(member, protocol::encode_peer_presence(user, away));
}

// After a sync (which says nothing of presence): the user's peers that are away.
void DaemonImpl::push_away_peers(const std::string& user) {
    for (const auto& other : away_)
        if (other != user && share_a_group(user, other))
            push(user, protocol::encode_peer_presence(other, true));
}

Channel* DaemonImpl::live_channel(const std::string& user) {
    auto fd = live_.find(user);
    if (fd == live_.end()) return nullptr;
    auto c = channels_.find(fd->second);
    if (c == channels_.end() || c->second->user != user) return nullptr;
    return c->second.get();
}

// The one way a session ends inside cugd: the registration is cleared and
// audited, the peers are told, and the terminal (if `tell` is not empty) gets
// `type=<tell>` and its channel closes.
void DaemonImpl::end_session(const std::string& user, std::string_view action,
                             std::string_view detail, std::string_view tell) {
    std::optional<Known> session;
    if (auto k = known_.find(user); k != known_.end()) session = k->second;
    bool registered = false;
    auto ended = store_.write([&](store::WriteTxn& t) -> Result<void> {
        auto current = CUG_TRY(t.find_session(user));
        if (!current) return ok();  // already gone (cug-admin removed the user)
        session.emplace(*current);
        registered = true;
        return t.end_session(user, action, detail);
    });
    if (ended && registered) {
        using Ended = ServerMetrics::Ended;
        const Ended why = action == "session.logout"    ? Ended::logout
                          : action == "session.absent"  ? Ended::absent
                          : action == "session.kicked"  ? Ended::kicked
                          : action == "session.expired" ? Ended::expired
                                                        : Ended::revoked;
        ServerMetrics::add(metrics_.ended, why);
        log::event(log::Priority::notice, "session_ended",
                   {{"user", user}, {"reason", ServerMetrics::name(why)}, {"detail", detail}});
    }
    if (!ended)
        log::event(log::Priority::err, "store_failed",
                   {{"action", action}, {"user", user}, {"error", ended.error().message}});
    if (session) {
        announce_down(user, *session, {});
        hello_counters_.erase(session->id);
    }
    heard_.erase(user);
    known_.erase(user);
    away_.erase(user);
    if (!tell.empty()) close_user_channels(user, tell, -1);
    // A rotation does not wait for a session that is gone.
    std::vector<std::string> complete;
    for (auto& [group, r] : rotations_) {
        r.members.erase(user);
        if (r.waiting.erase(user) && r.waiting.empty()) complete.push_back(group);
    }
    for (const auto& group : complete)
        activate(group);
}

void DaemonImpl::expire_sessions(std::int64_t now) {
    auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
    if (!sessions) return;
    for (const auto& s : *sessions) {
        std::string why;
        auto heard = heard_.find(s.user);
        const bool live = live_channel(s.user) != nullptr;
        if (s.expires <= now)
            why = "its time is up";
        else if (!s.acknowledged && now - s.login_time > config_.ack_seconds)
            why = "it was never acknowledged";
        else if (!live && (heard == heard_.end() || now - heard->second > config_.idle_seconds))
            why = "its terminal went silent";
        if (!why.empty()) end_session(s.user, "session.expired", why, "expired");
    }
}

// Store changes by cug-admin, which revokes in its own transaction: a user
// removed or disabled or a card changed took the session out of the store, a
// membership removed took its group (receiver index) out of the session.
// cugd compares the store with what it last knew and tells the terminals: the
// session's terminal is told `revoked` or loses the group, the group's members
// forget the user. A membership added gives the live session a new receiver
// index for the group (the terminal gets a sync, the group peer-up).
void DaemonImpl::reconcile() {
    auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
    if (!sessions) return;
    // One read snapshot decides; only sessions that must change are written.
    std::set<std::string> present;
    std::map<std::string, std::string> revoke;
    std::set<std::string> regroup;
    auto planned = store_.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& s : *sessions) {
            present.insert(s.user);
            // A store written by a cug-admin that left sessions standing.
            auto u = CUG_TRY(t.find_user(s.user));
            if (!u)
                revoke[s.user] = "the user was removed";
            else if (!u->enabled)
                revoke[s.user] = "the user was disabled";
            else if (!u->card || u->card->certificate_serial != s.card_serial)
                revoke[s.user] = "the card was re-enrolled";
            if (revoke.count(s.user)) continue;
            const auto memberships = CUG_TRY(t.memberships_of(s.user));
            bool same = memberships.size() == s.indices.size();
            for (const auto& m : memberships)
                same = same && s.index_in(m.group).has_value();
            if (!same) regroup.insert(s.user);
        }
        return ok();
    });
    if (!planned) return;
    for (const auto& s : *sessions) {
        if (auto why = revoke.find(s.user); why != revoke.end()) {
            end_session(s.user, "session.revoked", why->second, "revoked");
            continue;
        }
        // Groups the store's session lost since cugd last looked.
        if (auto k = known_.find(s.user); k != known_.end() && k->second.id == s.id) {
            std::vector<std::string> left;
            for (const auto& [group, index] : k->second.indices)
                if (s.index_in(group) != index) left.push_back(group);
            if (!left.empty()) {
                announce_down(s.user, k->second, left);
                for (const auto& g : left)
                    push(s.user, protocol::encode_group_down(g));
                k->second = Known(s);
            }
        }
        if (!regroup.count(s.user)) continue;
        auto change =
            store_.write([&](store::WriteTxn& t) { return t.follow_memberships(s.user); });
        if (!change || change->empty()) continue;
        if (!change->left.empty()) {
            announce_down(s.user, Known(s), change->left);
            for (const auto& g : change->left)
                push(s.user, protocol::encode_group_down(g));
        }
        auto now_session = store_.read([&](store::ReadTxn& t) { return t.find_session(s.user); });
        if (!now_session || !*now_session) continue;
        if ((*now_session)->indices.empty()) {
            end_session(s.user, "session.revoked", "the user is in no group any more", "revoked");
            continue;
        }
        known_.insert_or_assign(s.user, Known(**now_session));
        if (!change->joined.empty()) {
            // The terminal gets the new group with its peers; they get it.
            auto plan =
                store_.read([&](store::ReadTxn& t) { return plan_bundle(t, **now_session); });
            auto bundle = plan ? build_bundle(*plan) : Result<protocol::Bundle>(plan.error());
            if (bundle) {
                prime_names(*plan);
                push(s.user, protocol::encode_sync(*bundle));
            }
            push_away_peers(s.user);
            announce_up(s.user, change->joined);
        }
    }
    // Sessions that left the store: cug-admin revoked them (its audit entry
    // says why).
    std::vector<std::string> gone;
    for (const auto& [user, session] : known_)
        if (!present.count(user)) gone.push_back(user);
    for (const auto& user : gone)
        end_session(user, "session.revoked", "revoked by the administrator", "revoked");
    follow_names();
}

// A terminal's UDP hello: its endpoint is where the datagram came from. An
// authentic hello with a fresh counter updates the session and the peers.
void DaemonImpl::on_udp() {
    for (int budget = 0; budget < 256; ++budget) {
        std::uint8_t buf[256];
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        const ssize_t n =
            ::recvfrom(udp_fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) return;
        auto hello = protocol::parse_udp_hello(ByteView(buf, static_cast<std::size_t>(n)));
        if (!hello) continue;
        auto session =
            store_.read([&](store::ReadTxn& t) { return t.find_session_by_id(hello->session); });
        if (!session || !*session || !protocol::check_udp_hello((*session)->udp_key.view(), *hello))
            continue;
        const std::int64_t now_us = unix_now_micros();
        std::uint64_t& last = hello_counters_[hello->session];
        const auto counter = static_cast<std::int64_t>(hello->counter);
        if (hello->counter <= last || counter < now_us - protocol::hello_window_us ||
            counter > now_us + protocol::hello_window_us)
            continue;
        last = hello->counter;
        const net::Endpoint observed = net::endpoint_from_sockaddr(&from);
        const std::string user = (*session)->user;
        heard_[user] = unix_now();
        if ((*session)->endpoint != observed) {
            auto moved = store_.write(
                [&](store::WriteTxn& t) { return t.touch_session(user, unix_now(), observed); });
            if (moved) {
                (*session)->endpoint = observed;
                known_.insert_or_assign(user, Known(**session));
                std::set<std::string> told;
                (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
                    for (const auto& [group, index] : (*session)->indices)
                        for (const auto& m : CUG_TRY(t.members_of(group)))
                            if (m.user != user && told.insert(m.user).second)
                                push(m.user, protocol::encode_endpoint(user, observed));
                    return ok();
                });
            }
        }
        const Bytes reply = protocol::udp_reply((*session)->udp_key.view(), hello->session,
                                                hello->counter, observed);
        (void)::sendto(udp_fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
                       from_len);
    }
}

}  // namespace cug::server
