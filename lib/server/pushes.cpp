// What cugd pushes to the terminals: syncs, peers up and down, and the
// two-phase rotation of group epochs.
#include "server/daemon_impl.hpp"

namespace cug::server {

void DaemonImpl::push(const std::string& user, const wire::Message& inner) {
    Channel* c = live_channel(user);
    if (!c || c->push_key.empty()) return;  // it gets the whole picture when it resumes
    metrics_.pushed(inner.get("type").value_or(""));
    if (log::verbose())
        log::event(log::Priority::debug, "push",
                   {{"user", user},
                    {"type", inner.get("type").value_or("")},
                    {"group", inner.get("group").value_or("")}});
    if (c->sync_pending) {
        c->held += protocol::seal_push(c->push_key.view(), ++c->push_seq, inner);
        return;
    }
    c->out += protocol::seal_push(c->push_key.view(), ++c->push_seq, inner);
    flush(*c);
}

// The whole picture as of now for a resumed channel: what changed while the
// terminal was away (or between its bundle and this resume) is in it. The
// snapshot is read here; the pair keys, the encoding and the sealing run on
// the workers, and the sync goes out before any push that came meanwhile.
void DaemonImpl::send_sync(Channel& c, const store::Session& session) {
    auto plan = store_.read([&](store::ReadTxn& t) { return plan_bundle(t, session); });
    if (!plan) {
        log::event(log::Priority::err, "bundle_failed",
                   {{"user", session.user}, {"error", plan.error().message}});
        return;
    }
    prime_names(*plan);
    struct Job {
        BundlePlan plan;
        crypto::SecretBuffer key;
        std::uint64_t seq;
    };
    auto job = std::make_shared<Job>(
        Job{std::move(*plan), crypto::SecretBuffer::copy_of(c.push_key.view()), ++c.push_seq});
    c.sync_pending = true;
    const int fd = c.tls.fd();
    const std::uint64_t serial = c.serial;
    workers_->submit([this, job, fd, serial]() -> Workers::Continuation {
        // On a worker: nothing of the loop's is touched here.
        std::string sealed;
        if (auto bundle = build_bundle(job->plan)) {
            wire::Message m = protocol::encode_sync(*bundle);
            sealed = protocol::seal_push(job->key.view(), job->seq, m);
            m.wipe();
        }
        job->key.clear();
        return [this, fd, serial, sealed = std::move(sealed)] {
            auto found = channels_.find(fd);
            if (found == channels_.end() || found->second->serial != serial) return;  // gone
            Channel& ch = *found->second;
            ch.sync_pending = false;
            if (sealed.empty()) {  // its sequence number is spent: the terminal resumes anew
                close_channel(fd);
                return;
            }
            ch.out += sealed;
            ServerMetrics::add(metrics_.pushes, ServerMetrics::Push::sync);
            ch.out += ch.held;
            ch.held.clear();
            flush(ch);
        };
    });
}

// Every connected member of the user's groups (or of `groups`) gets the new
// pair keys for the user; the user's own terminal had them in its bundle.
void DaemonImpl::announce_up(const std::string& user, const std::vector<std::string>& groups) {
    std::map<std::string, std::vector<protocol::BundlePeer>> entries;
    auto built = store_.read([&](store::ReadTxn& t) -> Result<void> {
        auto session = CUG_TRY(t.find_session(user));
        if (!session || !session->acknowledged) return ok();
        for (const auto& [group, index] : session->indices) {
            if (!groups.empty() && std::find(groups.begin(), groups.end(), group) == groups.end())
                continue;
            const store::Group g = CUG_TRY(t.group(group));
            auto mine = CUG_TRY(t.find_membership(user, group));
            if (!mine) continue;
            const protocol::PairKeys keys(g.current.secret.view(), g.current.key_id);
            for (const store::Membership& other : CUG_TRY(t.members_of(group))) {
                if (other.user == user || !live_channel(other.user)) continue;
                auto peer = CUG_TRY(t.find_session(other.user));
                if (!peer || !peer->acknowledged || !peer->index_in(group)) continue;
                entries[other.user].push_back(
                    CUG_TRY(pair_entry(g, keys, *peer, *session, mine->address)));
            }
        }
        return ok();
    });
    if (!built) {
        log::event(log::Priority::err, "announce_failed",
                   {{"user", user}, {"error", built.error().message}});
        return;
    }
    for (const auto& [member, peers] : entries) {
        wire::Message m = protocol::encode_peer_up(peers);
        push(member, m);
        m.wipe();
    }
}

// Every connected member of the session's groups (or of `groups`) forgets
// the user's pair keys.
void DaemonImpl::announce_down(const std::string& user, const Known& session,
                               const std::vector<std::string>& groups) {
    std::map<std::string, std::vector<std::string>> told;  // member -> groups
    (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& [group, index] : session.indices) {
            if (!groups.empty() && std::find(groups.begin(), groups.end(), group) == groups.end())
                continue;
            auto members = t.members_of(group);
            if (!members) continue;  // the group itself is gone
            for (const store::Membership& other : *members)
                if (other.user != user && live_channel(other.user))
                    told[other.user].push_back(group);
        }
        return ok();
    });
    for (const auto& [member, shared] : told) {
        if (groups.empty())
            push(member, protocol::encode_peer_down(user, ""));
        else
            for (const auto& g : shared)
                push(member, protocol::encode_peer_down(user, g));
    }
}

// Two-phase rotation (DESIGN.md, "Rotation and revocation"): one store
// transaction gives each group a new epoch; every connected member gets its
// new pair keys to install for receiving; when all have said so (or the
// time is up, and the silent ones lose their sessions), all switch sending.
void DaemonImpl::rotate(const std::vector<std::string>& names) {
    std::vector<std::string> todo;
    for (const auto& n : names)
        if (!rotations_.count(n)) todo.push_back(n);
    if (todo.empty()) return;
    auto rotated = store_.write([&](store::WriteTxn& t) -> Result<std::vector<store::Group>> {
        std::vector<store::Group> out;
        for (const auto& n : todo) {
            auto g = t.rotate_epoch(n);
            if (g)
                out.push_back(std::move(*g));  // a group deleted meanwhile is skipped
            else if (g.error().code != Errc::not_found)
                return std::move(g).error();
        }
        return out;
    });
    if (!rotated) {
        log::event(log::Priority::err, "rotation_failed", {{"error", rotated.error().message}});
        return;
    }
    metrics_.rotations += rotated->size();
    const std::int64_t now = unix_now();
    for (const store::Group& g : *rotated) {
        std::map<std::string, std::vector<protocol::BundlePeer>> keys;
        (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
            const auto members = CUG_TRY(t.members_of(g.name));
            std::vector<std::pair<store::Session, net::Address>> online;
            for (const auto& m : members) {
                auto s = CUG_TRY(t.find_session(m.user));
                if (s && s->acknowledged && s->index_in(g.name))
                    online.emplace_back(std::move(*s), m.address);
            }
            const protocol::PairKeys pair_keys(g.current.secret.view(), g.current.key_id);
            for (const auto& [self, address] : online) {
                if (!live_channel(self.user)) continue;
                auto& entries = keys[self.user];
                for (const auto& [peer, peer_address] : online)
                    if (peer.user != self.user)
                        entries.push_back(
                            CUG_TRY(pair_entry(g, pair_keys, self, peer, peer_address)));
            }
            return ok();
        });
        if (keys.empty()) continue;
        Rotation r;
        r.key_id = g.current.key_id;
        r.deadline = now + config_.rekey_timeout;
        for (auto& [user, entries] : keys) {
            wire::Message m = protocol::encode_rekey(g.name, g.current.key_id, entries);
            push(user, m);
            m.wipe();
            r.members.insert(user);
            r.waiting.insert(user);
        }
        log::event(log::Priority::info, "key_rotation",
                   {{"group", g.name}, {"key_id", r.key_id}, {"members", r.members.size()}});
        rotations_[g.name] = std::move(r);
    }
}

void DaemonImpl::on_rekeyed(Channel& c, const wire::Message& m) {
    const std::string group(m.get("group").value_or(""));
    auto r = rotations_.find(group);
    if (r == rotations_.end() || m.get_u64("key_id").value_or(0) != r->second.key_id) return;
    r->second.waiting.erase(c.user);
    if (r->second.waiting.empty()) activate(group);
}

void DaemonImpl::activate(const std::string& group) {
    auto r = rotations_.find(group);
    if (r == rotations_.end()) return;
    const Rotation rotation = std::move(r->second);
    rotations_.erase(r);
    for (const auto& user : rotation.members)
        push(user, protocol::encode_activate(group, rotation.key_id));
    log::event(log::Priority::debug, "key_activated",
               {{"group", group}, {"key_id", rotation.key_id}});
}

void DaemonImpl::finish_rotations(std::int64_t now) {
    std::vector<std::string> due;
    for (const auto& [group, r] : rotations_)
        if (now > r.deadline) due.push_back(group);
    for (const auto& group : due) {
        auto r = rotations_.find(group);
        if (r == rotations_.end()) continue;
        const auto silent = r->second.waiting;
        metrics_.rotation_timeouts += silent.size();
        // Ending a session takes it out of the rotation (end_session).
        for (const auto& user : silent) {
            log::event(log::Priority::warning, "rotation_timeout",
                       {{"group", group}, {"user", user}});
            end_session(user, "session.expired",
                        fmt::format("it did not install {}'s new keys in time", group), "expired");
        }
        activate(group);
    }
}

void DaemonImpl::prime_names(const BundlePlan& plan) {
    for (const auto& part : plan.parts) {
        const std::string& group = part.group.name;
        if (directories_.count(group)) continue;
        auto& directory = directories_[group];
        directory[plan.session.user] = part.address;
        for (const auto& n : plan.names)
            if (n.group == group) directory[n.user] = n.address;
    }
}

void DaemonImpl::follow_names() {
    auto zone = store_.read([](store::ReadTxn& t) -> Result<std::string> { return t.dns_zone(); });
    if (!zone) return;
    if (*zone != zone_) {
        zone_ = *zone;
        directories_.clear();  // the syncs prime them again
        std::vector<std::string> users;
        for (const auto& [user, fd] : live_)
            users.push_back(user);
        for (const auto& user : users) {
            Channel* c = live_channel(user);
            auto session = store_.read([&](store::ReadTxn& t) { return t.find_session(user); });
            if (c && !c->push_key.empty() && session && *session && (*session)->acknowledged)
                send_sync(*c, **session);
        }
        return;
    }
    // The groups of the live sessions, and who of them is in each.
    std::map<std::string, std::vector<std::string>> live_in;
    for (const auto& [user, fd] : live_)
        if (auto k = known_.find(user); k != known_.end())
            for (const auto& [group, index] : k->second.indices)
                live_in[group].push_back(user);
    std::map<std::string, std::map<std::string, net::Address>> now;
    auto read = store_.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& [group, users] : live_in) {
            if (!directories_.count(group)) continue;  // primed by its first bundle
            auto members = t.members_of(group);
            if (!members) continue;  // the group is gone: its sessions hear group-down
            auto& directory = now[group];
            for (const auto& m : *members)
                directory[m.user] = m.address;
        }
        return ok();
    });
    if (!read) return;
    for (auto& [group, directory] : now) {
        const auto& before = directories_[group];
        std::vector<protocol::BundleName> set;
        std::vector<std::string> gone;
        for (const auto& [user, address] : directory)
            if (auto b = before.find(user); b == before.end() || !(b->second == address))
                set.push_back({user, group, address});
        for (const auto& [user, address] : before)
            if (!directory.count(user)) gone.push_back(user);
        // In pushes of at most max_names entries each, as a terminal takes them.
        for (std::size_t i = 0; i < std::max(set.size(), gone.size()); i += protocol::max_names) {
            auto part = [&](const auto& all) {
                const std::size_t from = std::min(i, all.size());
                const std::size_t to = std::min(i + protocol::max_names, all.size());
                return std::vector(all.begin() + static_cast<std::ptrdiff_t>(from),
                                   all.begin() + static_cast<std::ptrdiff_t>(to));
            };
            const wire::Message m = protocol::encode_names(group, part(set), part(gone));
            for (const auto& user : live_in[group])
                push(user, m);
        }
    }
    // Groups no live session is in any more are forgotten.
    std::erase_if(directories_, [&](const auto& d) { return !live_in.count(d.first); });
    for (auto& [group, directory] : now)
        directories_[group] = std::move(directory);
}

}  // namespace cug::server
