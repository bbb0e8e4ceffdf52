// The PIV client reading whatever a card (or something posing as one) answers.
// The input is a script of answers: each a 2-byte length and that many bytes,
// handed out in turn to every command the client sends.
#include "card/piv.hpp"

#include <cstdint>

namespace {

class ScriptedCard : public cug::card::Transport {
  public:
    explicit ScriptedCard(cug::ByteView script) : script_(script) {}
    cug::Result<cug::Bytes> transmit_raw(cug::ByteView) override {
        if (script_.size() < 2) return cug::make_error(cug::Errc::io, "no more answers");
        const std::size_t n =
            std::min<std::size_t>(script_[0] << 8 | script_[1], script_.size() - 2);
        cug::Bytes answer(script_.begin() + 2,
                          script_.begin() + 2 + static_cast<std::ptrdiff_t>(n));
        script_ = script_.subspan(2 + n);
        return answer;
    }
    std::string_view name() const override { return "fuzz"; }

  private:
    cug::ByteView script_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    if (size < 1) return 0;
    ScriptedCard card(ByteView(data + 1, size - 1));
    card::Piv piv(card);
    static const crypto::PublicKey peer = [] {
        auto key = crypto::PrivateKey::generate();
        return key->public_key();
    }();
    switch (data[0] % 10) {
        case 0:
            (void)piv.select();
            break;
        case 1:
            (void)piv.metadata(0x9d);
            break;
        case 2:
            (void)piv.pin_tries_left();
            break;
        case 3:
            (void)piv.generate(0x9d, card::PinPolicy::once, card::TouchPolicy::never);
            break;
        case 4:
            (void)piv.read_certificate(0x9d);
            break;
        case 5:
            (void)piv.ecdh(0x9d, peer);
            break;
        case 6:
            (void)piv.sign(0x9e, crypto::Digest{});
            break;
        case 7:
            (void)piv.attest(0x9d);
            break;
        case 8:
            (void)piv.authenticate(crypto::BlockCipher::aes256, Bytes(32, 1));
            break;
        case 9:
            (void)piv.version();
            (void)piv.serial();
            break;
    }
    return 0;
}
