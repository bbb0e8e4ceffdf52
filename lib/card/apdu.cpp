#include "card/apdu.hpp"

#include "wire/binary.hpp"

namespace cug::card {

Bytes encode(const Command& c) {
    Bytes out{c.cla, c.ins, c.p1, c.p2};
    if (!c.data.empty()) {
        out.push_back(static_cast<std::uint8_t>(c.data.size()));
        out.insert(out.end(), c.data.begin(), c.data.end());
    }
    if (c.le) out.push_back(static_cast<std::uint8_t>(*c.le >= 256 ? 0 : *c.le));
    return out;
}

std::vector<Bytes> encode_chain(const Command& c) {
    std::vector<Bytes> out;
    if (c.data.size() <= 255) {
        out.push_back(encode(c));
        return out;
    }
    for (std::size_t pos = 0; pos < c.data.size(); pos += 255) {
        Command part = c;
        const std::size_t n = std::min<std::size_t>(255, c.data.size() - pos);
        part.data.assign(c.data.begin() + static_cast<std::ptrdiff_t>(pos),
                         c.data.begin() + static_cast<std::ptrdiff_t>(pos + n));
        const bool last = pos + n == c.data.size();
        if (!last) {
            part.cla |= 0x10;
            part.le.reset();
        }
        out.push_back(encode(part));
    }
    return out;
}

Result<Command> parse_command(ByteView apdu) {
    if (apdu.size() < 4) return make_error(Errc::protocol, "command APDU shorter than 4 bytes");
    Command c;
    c.cla = apdu[0];
    c.ins = apdu[1];
    c.p1 = apdu[2];
    c.p2 = apdu[3];
    c.le.reset();
    ByteView body = apdu.subspan(4);
    if (body.empty()) return c;  // case 1
    if (body.size() == 1) {      // case 2: Le only
        c.le = body[0] == 0 ? 256 : body[0];
        return c;
    }
    const std::size_t lc = body[0];
    if (lc == 0) return make_error(Errc::protocol, "extended-length APDUs are not supported");
    if (body.size() == 1 + lc) {  // case 3
        c.data.assign(body.begin() + 1, body.end());
        return c;
    }
    if (body.size() == 2 + lc) {  // case 4
        c.data.assign(body.begin() + 1, body.end() - 1);
        c.le = body.back() == 0 ? 256 : body.back();
        return c;
    }
    return make_error(Errc::protocol, "command APDU length {} does not match Lc {}", apdu.size(),
                      lc);
}

Result<Response> parse_response(ByteView raw) {
    if (raw.size() < 2) return make_error(Errc::protocol, "card response shorter than 2 bytes");
    Response r;
    r.data.assign(raw.begin(), raw.end() - 2);
    r.sw = static_cast<std::uint16_t>(raw[raw.size() - 2] << 8 | raw[raw.size() - 1]);
    return r;
}

Bytes encode_response(const Response& r) {
    Bytes out = r.data;
    out.push_back(r.sw1());
    out.push_back(r.sw2());
    return out;
}

namespace {

// One TLV from the reader; false at a clean end, error on damage.
Result<bool> next_tlv(wire::Reader& r, Tlv& out) {
    if (r.empty()) return false;
    std::uint32_t tag = r.u8();
    if ((tag & 0x1f) == 0x1f) {  // multi-byte tag: continues while bit 8 is set, at most 3 bytes
        std::uint8_t b = r.u8();
        tag = tag << 8 | b;
        if (b & 0x80) {
            b = r.u8();
            tag = tag << 8 | b;
            if (b & 0x80) return make_error(Errc::protocol, "BER tag longer than 3 bytes");
        }
    }
    std::size_t length = r.u8();
    if (length == 0x80) return make_error(Errc::protocol, "indefinite BER length");
    if (length > 0x80) {
        const std::size_t bytes = length & 0x7f;
        if (bytes > 3) return make_error(Errc::protocol, "BER length of {} bytes", bytes);
        length = 0;
        for (std::size_t i = 0; i < bytes; ++i)
            length = length << 8 | r.u8();
    }
    out.tag = tag;
    out.value = r.bytes(length);
    if (!r.ok()) return make_error(Errc::protocol, "truncated BER-TLV (tag {:x})", tag);
    return true;
}

}  // namespace

Result<std::vector<Tlv>> parse_tlvs(ByteView data) {
    std::vector<Tlv> out;
    wire::Reader r(data);
    Tlv t;
    while (CUG_TRY(next_tlv(r, t))) {
        if (out.size() >= 256) return make_error(Errc::protocol, "too many BER-TLV elements");
        out.push_back(t);
    }
    return out;
}

Result<std::optional<ByteView>> find_tlv(ByteView data, std::uint32_t tag) {
    wire::Reader r(data);
    Tlv t;
    while (CUG_TRY(next_tlv(r, t)))
        if (t.tag == tag) return std::optional<ByteView>(t.value);
    return std::optional<ByteView>();
}

void append_tlv(Bytes& out, std::uint32_t tag, ByteView value) {
    if (tag > 0xffff) out.push_back(static_cast<std::uint8_t>(tag >> 16));
    if (tag > 0xff) out.push_back(static_cast<std::uint8_t>(tag >> 8));
    out.push_back(static_cast<std::uint8_t>(tag));
    const std::size_t n = value.size();
    if (n < 0x80) {
        out.push_back(static_cast<std::uint8_t>(n));
    } else if (n <= 0xff) {
        out.push_back(0x81);
        out.push_back(static_cast<std::uint8_t>(n));
    } else if (n <= 0xffff) {
        out.push_back(0x82);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(0x83);
        out.push_back(static_cast<std::uint8_t>(n >> 16));
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    }
    out.insert(out.end(), value.begin(), value.end());
}

Bytes tlv(std::uint32_t tag, ByteView value) {
    Bytes out;
    append_tlv(out, tag, value);
    return out;
}

}  // namespace cug::card
