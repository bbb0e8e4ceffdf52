#include "server/bundle.hpp"

#include <algorithm>

namespace cug::server {

Result<protocol::BundlePeer> pair_entry(const store::Group& group, const protocol::PairKeys& keys,
                                        const store::Session& self, const store::Session& peer,
                                        const net::Address& address) {
    auto self_index = self.index_in(group.name);
    auto peer_index = peer.index_in(group.name);
    if (!self_index || !peer_index)
        return make_error(Errc::internal, "no receiver index for group {}", group.name);
    protocol::BundlePeer p;
    p.user = peer.user;
    p.group = group.name;
    p.address = address;
    p.endpoint = peer.endpoint;
    p.send_index = *self_index;  // our packets carry our index in the group
    p.recv_index = *peer_index;  // the peer's carry theirs
    // Both receiver indices go into the keys: a pair made again (a membership
    // removed and added, a new login) is a new instance with new keys.
    const protocol::PairEnd us{self.id, *self_index}, them{peer.id, *peer_index};
    p.key_id = keys.key_id();
    p.send_key = keys.derive(us, them);
    p.recv_key = keys.derive(them, us);
    p.not_after = std::min(self.expires, peer.expires);
    return p;
}

Result<BundlePlan> plan_bundle(const store::ReadTxn& txn, const store::Session& session) {
    // What the pair entries need of a session: not its secrets.
    auto public_part = [](const store::Session& s) {
        store::Session p;
        p.user = s.user;
        p.id = s.id;
        p.indices = s.indices;
        p.expires = s.expires;
        p.acknowledged = s.acknowledged;
        p.endpoint = s.endpoint;
        return p;
    };
    BundlePlan plan;
    plan.session = public_part(session);
    plan.zone = txn.dns_zone();
    for (const store::Membership& m : CUG_TRY(txn.memberships_of(session.user))) {
        // A group joined after login has no index in this session yet: it
        // comes with the next login or reconcile, not half-configured now.
        if (!session.index_in(m.group)) continue;
        BundlePlan::Part part{CUG_TRY(txn.group(m.group)), m.address, {}};
        for (const store::Membership& other : CUG_TRY(txn.members_of(m.group))) {
            if (other.user == session.user) continue;
            if (plan.names.size() < protocol::max_names)
                plan.names.push_back({other.user, other.group, other.address});
            auto peer = CUG_TRY(txn.find_session(other.user));
            if (!peer || !peer->acknowledged || !peer->index_in(m.group)) continue;
            part.peers.emplace_back(public_part(*peer), other.address);
        }
        plan.parts.push_back(std::move(part));
    }
    return plan;
}

Result<protocol::Bundle> build_bundle(const BundlePlan& plan) {
    protocol::Bundle b;
    b.session = plan.session.id;
    b.expires = plan.session.expires;
    b.zone = plan.zone;
    b.names = plan.names;
    for (const BundlePlan::Part& part : plan.parts) {
        const store::Group& g = part.group;
        b.groups.push_back({g.name, g.prefix, part.address, g.current.key_id});
        const protocol::PairKeys keys(g.current.secret.view(), g.current.key_id);
        for (const auto& [peer, address] : part.peers)
            b.peers.push_back(CUG_TRY(pair_entry(g, keys, plan.session, peer, address)));
    }
    return b;
}

Result<protocol::Bundle> build_bundle(const store::ReadTxn& txn, const store::Session& session) {
    return build_bundle(CUG_TRY(plan_bundle(txn, session)));
}

}  // namespace cug::server
