#include "dns/answer.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace cug::dns {

namespace {

struct PacketFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;

// SOA timers: nobody transfers this zone, so only the minimum (the negative
// answers' TTL) matters.
constexpr std::uint32_t soa_refresh = 3600, soa_retry = 600, soa_expire = 86400;

ldns_rr* make_rr(const ldns_rdf* owner, ldns_rr_type type) {
    ldns_rr* rr = ldns_rr_new();
    ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
    ldns_rr_set_type(rr, type);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, ttl);
    return rr;
}

ldns_rr* soa_rr(const Zone& zone, const std::string& apex) {
    ldns_rdf* owner = ldns_dname_new_frm_str(apex.c_str());
    ldns_rr* rr = make_rr(owner, LDNS_RR_TYPE_SOA);
    ldns_rdf_deep_free(owner);
    ldns_rr_push_rdf(rr, ldns_dname_new_frm_str(zone.name().c_str()));
    ldns_rr_push_rdf(rr, ldns_dname_new_frm_str(("hostmaster." + zone.name()).c_str()));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, zone.serial()));
    for (std::uint32_t v : {soa_refresh, soa_retry, soa_expire, ttl})
        ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, v));
    return rr;
}

// The question's name as lowercase labels, leftmost first (ldns has checked
// and decompressed it: length-prefixed labels ending with the root).
std::vector<std::string> labels_of(const ldns_rdf* name) {
    std::vector<std::string> out;
    const std::uint8_t* p = ldns_rdf_data(name);
    const std::size_t size = ldns_rdf_size(name);
    std::size_t i = 0;
    while (i < size && p[i] != 0 && i + 1 + p[i] <= size) {
        std::string label(reinterpret_cast<const char*>(p + i + 1), p[i]);
        for (char& c : label)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        out.push_back(std::move(label));
        i += 1u + p[i];
    }
    return out;
}

Bytes to_wire(const ldns_pkt* p) {
    std::uint8_t* wire = nullptr;
    std::size_t size = 0;
    if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK) {
        std::free(wire);
        return {};
    }
    Bytes out(wire, wire + size);
    std::free(wire);
    return out;
}

// A header-only error for a query ldns could not read: its id, QR, the rcode.
Response header_error(ByteView query, Outcome outcome, ldns_pkt_rcode rcode) {
    Packet r(ldns_pkt_new());
    ldns_pkt_set_id(r.get(), static_cast<std::uint16_t>(query[0] << 8 | query[1]));
    ldns_pkt_set_qr(r.get(), true);
    ldns_pkt_set_rcode(r.get(), rcode);
    return {outcome, to_wire(r.get())};
}

}  // namespace

const char* outcome_name(Outcome o) {
    static const char* const names[] = {"answered", "nodata",  "nxdomain", "refused",
                                        "notimp",   "formerr", "dropped"};
    static_assert(sizeof names / sizeof *names == outcomes);
    return names[static_cast<unsigned>(o)];
}

Response respond(const Zone& zone, ByteView query, Transport transport) {
    // Less than a header cannot be answered; a response is never answered
    // (two resolvers must not ping-pong).
    if (query.size() < LDNS_HEADER_SIZE || (query[2] & 0x80)) return {};
    ldns_pkt* parsed = nullptr;
    if (ldns_wire2pkt(&parsed, query.data(), query.size()) != LDNS_STATUS_OK) {
        ldns_pkt_free(parsed);
        return header_error(query, Outcome::formerr, LDNS_RCODE_FORMERR);
    }
    const Packet q(parsed);
    if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY)
        return header_error(query, Outcome::notimp, LDNS_RCODE_NOTIMPL);
    if (ldns_pkt_qdcount(q.get()) != 1 || ldns_pkt_ancount(q.get()) != 0 ||
        ldns_pkt_nscount(q.get()) != 0)
        return header_error(query, Outcome::formerr, LDNS_RCODE_FORMERR);
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
    const ldns_rr_type type = ldns_rr_get_type(question);
    const ldns_rdf* qname = ldns_rr_owner(question);

    Outcome outcome;
    ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
    Node node;
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN || type == LDNS_RR_TYPE_AXFR ||
        type == LDNS_RR_TYPE_IXFR) {
        outcome = Outcome::refused;
    } else {
        node = zone.find(labels_of(qname));
        if (node.kind == Node::Kind::not_ours)
            outcome = Outcome::refused;
        else if (type == LDNS_RR_TYPE_ANY)
            outcome = Outcome::notimp;
        else if (node.kind == Node::Kind::absent)
            outcome = Outcome::nxdomain;
        else if ((node.kind == Node::Kind::host &&
                  type == (node.address.is_v4() ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA)) ||
                 (node.kind == Node::Kind::reverse && type == LDNS_RR_TYPE_PTR) ||
                 (node.apex && type == LDNS_RR_TYPE_SOA))
            outcome = Outcome::answered;
        else
            outcome = Outcome::nodata;
    }
    if (outcome == Outcome::refused) rcode = LDNS_RCODE_REFUSED;
    if (outcome == Outcome::notimp) rcode = LDNS_RCODE_NOTIMPL;
    if (outcome == Outcome::nxdomain) rcode = LDNS_RCODE_NXDOMAIN;
    const bool ours = node.kind != Node::Kind::not_ours;
    const bool edns = ldns_pkt_edns(q.get());
    // An EDNS version this resolver does not speak is BADVERS (RFC 6891).
    const bool badvers = edns && ldns_pkt_edns_version(q.get()) > 0;

    std::size_t limit = 65535;
    if (transport == Transport::udp)
        limit = edns ? std::clamp<std::size_t>(ldns_pkt_edns_udp_size(q.get()), 512, max_udp_answer)
                     : 512;
    auto build = [&](bool records) {
        Packet r(ldns_pkt_new());
        ldns_pkt_set_id(r.get(), ldns_pkt_id(q.get()));
        ldns_pkt_set_qr(r.get(), true);
        ldns_pkt_set_opcode(r.get(), LDNS_PACKET_QUERY);
        ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q.get()));
        ldns_pkt_set_aa(r.get(), ours && !badvers);
        ldns_pkt_set_tc(r.get(), !records);
        ldns_pkt_set_rcode(r.get(), badvers ? LDNS_RCODE_NOERROR : rcode);
        ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
        if (edns) {
            ldns_pkt_set_edns_udp_size(r.get(), max_udp_answer);
            if (badvers) ldns_pkt_set_edns_extended_rcode(r.get(), 1);  // BADVERS = 16
        }
        if (!records || badvers) return r;
        if (outcome == Outcome::answered) {
            ldns_rr* rr = nullptr;
            if (node.kind == Node::Kind::host) {
                rr = make_rr(qname, type);
                const ByteView a = node.address.bytes();
                ldns_rr_push_rdf(
                    rr, ldns_rdf_new_frm_data(
                            node.address.is_v4() ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, a.size(),
                            a.data()));
            } else if (node.kind == Node::Kind::reverse) {
                rr = make_rr(qname, LDNS_RR_TYPE_PTR);
                ldns_rr_push_rdf(rr, ldns_dname_new_frm_str(node.target.c_str()));
            } else {
                rr = soa_rr(zone, node.apex_name);
            }
            ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
        } else if (outcome == Outcome::nodata || outcome == Outcome::nxdomain) {
            // The SOA tells caches how long to keep the negative answer (RFC 2308).
            ldns_pkt_push_rr(r.get(), LDNS_SECTION_AUTHORITY, soa_rr(zone, node.apex_name));
        }
        return r;
    };
    Bytes wire = to_wire(build(true).get());
    if (wire.size() > limit) wire = to_wire(build(false).get());  // TC: ask again over TCP
    if (wire.empty() || wire.size() > limit) return {};
    return {outcome, std::move(wire)};
}

}  // namespace cug::dns
