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
    p.send_key = keys.derive(self.id, peer.id);
    p.recv_key = keys.derive(peer.id, self.id);
    p.not_after = std::min(self.expires, peer.expires);
    return p;
}

Result<protocol::Bundle> build_bundle(const store::ReadTxn& txn, const store::Session& session) {
    protocol::Bundle b;
    b.session = session.id;
    b.expires = session.expires;
    for (const store::Membership& m : CUG_TRY(txn.memberships_of(session.user))) {
        const store::Group g = CUG_TRY(txn.group(m.group));
        // A group joined after login has no index in this session yet: it
        // comes with the next login or reconcile, not half-configured now.
        if (!session.index_in(g.name)) continue;
        b.groups.push_back({g.name, g.prefix, m.address, g.current.key_id});
        const protocol::PairKeys keys(g.current.secret.view(), g.current.key_id);
        for (const store::Membership& other : CUG_TRY(txn.members_of(g.name))) {
            if (other.user == session.user) continue;
            auto peer = CUG_TRY(txn.find_session(other.user));
            if (!peer || !peer->acknowledged || !peer->index_in(g.name)) continue;
            b.peers.push_back(CUG_TRY(pair_entry(g, keys, session, *peer, other.address)));
        }
    }
    return b;
}

}  // namespace cug::server
