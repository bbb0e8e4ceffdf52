// Known-answer tests from the published vectors, then the properties the rest
// of cug relies on (round trips, refusals).
#include "crypto/aead.hpp"
#include "crypto/block.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/p256.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "crypto/seal.hpp"
#include "crypto/secret.hpp"
#include "crypto/x509.hpp"

#include <argon2.h>
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

using namespace cug;
using namespace cug::crypto;

namespace {

Bytes hex(std::string_view text) {
    auto b = from_hex(text);
    REQUIRE(b.has_value());
    return *b;
}

std::string hex_of(ByteView b) {
    return to_hex(b);
}

Bytes range(int from, int to) {
    Bytes out;
    for (int i = from; i < to; ++i)
        out.push_back(static_cast<std::uint8_t>(i));
    return out;
}

// RFC 5903 section 8.1, the initiator's private scalar as a minimal PKCS#8.
PrivateKey rfc5903_initiator() {
    Bytes der =
        hex("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"
            "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433");
    auto key = PrivateKey::from_der(der);
    REQUIRE_MESSAGE(key.ok(), (key.ok() ? "" : key.error().message));
    return std::move(*key);
}

const char* rfc5903_responder_point =
    "04d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
    "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab";

}  // namespace

TEST_CASE("SHA-256 and HMAC-SHA-256 known answers (FIPS 180-2, RFC 4231)") {
    CHECK(hex_of(sha256(as_bytes("abc"))) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex_of(hmac_sha256(Bytes(20, 0x0b), as_bytes("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hex_of(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // In pieces, and with one key schedule for several messages.
    CHECK(hex_of(hmac_sha256(as_bytes("Jefe"), {as_bytes("what do ya"), ByteView(),
                                                as_bytes(" want for nothing?")})) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const HmacKey jefe(as_bytes("Jefe"));
    for (int i = 0; i < 2; ++i) {
        CHECK(hex_of(jefe.mac({as_bytes("what do ya want for nothing?")})) ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        CHECK(hex_of(jefe.mac({as_bytes("x")})) ==
              hex_of(hmac_sha256(as_bytes("Jefe"), as_bytes("x"))));
    }
    Sha256 h;
    h.update(as_bytes("a"));
    h.update(as_bytes("bc"));
    CHECK(hex_of(h.finish()) == hex_of(sha256(as_bytes("abc"))));
    h.update(as_bytes("abc"));  // reusable after finish
    CHECK(hex_of(h.finish()) == hex_of(sha256(as_bytes("abc"))));
}

TEST_CASE("HKDF-SHA-256 known answers (RFC 5869 A.1-A.3)") {
    SUBCASE("test case 1") {
        auto prk = hkdf_extract(range(0, 13), Bytes(22, 0x0b));
        CHECK(hex_of(prk.view()) ==
              "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        CHECK(
            hex_of(hkdf_expand(prk.view(), range(0xf0, 0xfa), 42).view()) ==
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
        // One key schedule for many expansions gives the same, every time.
        const HkdfExpander expander(prk.view());
        for (int i = 0; i < 3; ++i)
            CHECK(hex_of(expander.expand(range(0xf0, 0xfa), 42).view()) ==
                  "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887"
                  "185865");
        CHECK(hex_of(expander.expand({}, 42).view()) ==
              hex_of(hkdf_expand(prk.view(), {}, 42).view()));
    }
    SUBCASE("test case 2, long inputs") {
        auto okm = hkdf(range(0x60, 0xb0), range(0, 0x50), range(0xb0, 0x100), 82);
        CHECK(hex_of(okm.view()) ==
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
              "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
              "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    }
    SUBCASE("test case 3, empty salt and info") {
        CHECK(hex_of(hkdf_extract({}, Bytes(22, 0x0b)).view()) ==
              "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
        CHECK(
            hex_of(hkdf({}, Bytes(22, 0x0b), {}, 42).view()) ==
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    }
    CHECK(length_prefixed({as_bytes("ab"), ByteView(), as_bytes("c")}) ==
          Bytes{0, 2, 'a', 'b', 0, 0, 0, 1, 'c'});
}

TEST_CASE("AES-256-GCM known answers (GCM specification test cases 13-16)") {
    const Bytes zero_key(32, 0), zero_nonce(12, 0);
    SUBCASE("13: empty") {
        CHECK(hex_of(aead_seal(zero_key, zero_nonce, {}, {})) ==
              "530f8afbc74536b9a963b4f1c4cb738b");
    }
    SUBCASE("14: one zero block") {
        CHECK(hex_of(aead_seal(zero_key, zero_nonce, {}, Bytes(16, 0))) ==
              "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    }
    const Bytes key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const Bytes nonce = hex("cafebabefacedbaddecaf888");
    const std::string plain15 =
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    SUBCASE("15: four blocks") {
        CHECK(hex_of(aead_seal(key, nonce, {}, hex(plain15))) ==
              "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
              "b094dac5d93471bdec1a502270e3cc6c");
    }
    SUBCASE("16: partial block with AAD; opening; tampering") {
        const Bytes aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        const Bytes plain = hex(plain15.substr(0, 120));
        const Bytes sealed = aead_seal(key, nonce, aad, plain);
        CHECK(hex_of(sealed) ==
              "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
              "76fc6ece0f4e1768cddf8853bb2d551b");
        auto opened = aead_open(key, nonce, aad, sealed);
        REQUIRE(opened.ok());
        CHECK(Bytes(opened->view().begin(), opened->view().end()) == plain);
        for (std::size_t i : {std::size_t{0}, sealed.size() - 1}) {
            Bytes bad = sealed;
            bad[i] ^= 1;
            CHECK_FALSE(aead_open(key, nonce, aad, bad).ok());
        }
        Bytes other_aad = aad;
        other_aad[0] ^= 1;
        CHECK_FALSE(aead_open(key, nonce, other_aad, sealed).ok());
        CHECK_FALSE(aead_open(key, zero_nonce, aad, sealed).ok());
        CHECK_FALSE(aead_open(key, nonce, aad, ByteView(sealed.data(), 15)).ok());
    }
    SUBCASE("the reusable cipher seals in place and zeroes a failed open") {
        auto cipher = Aes256Gcm::create(key);
        REQUIRE(cipher.ok());
        Bytes buffer = hex(plain15);
        buffer.resize(buffer.size() + 16);
        REQUIRE(cipher->seal(nonce, {}, ByteView(buffer.data(), buffer.size() - 16), buffer));
        CHECK(hex_of(ByteView(buffer.data(), 16)) == "522dc1f099567d07f47f37a32a84427d");
        Bytes out(buffer.size() - 16);
        REQUIRE(cipher->open(nonce, {}, buffer, out));
        CHECK(hex_of(out) == plain15);
        buffer[3] ^= 0x80;
        CHECK_FALSE(cipher->open(nonce, {}, buffer, out));
        CHECK(out == Bytes(out.size(), 0));
        CHECK_FALSE(Aes256Gcm::create(Bytes(16, 1)).ok());
    }
}

TEST_CASE("Argon2id known answers (RFC 9106 5.3; the reference test suite)") {
    // Through argon2_ctx: the RFC vector uses a secret and associated data.
    Bytes pwd(32, 1), salt(16, 2), secret(8, 3), ad(12, 4), out(32);
    argon2_context ctx{};
    ctx.out = out.data();
    ctx.outlen = 32;
    ctx.pwd = pwd.data();
    ctx.pwdlen = 32;
    ctx.salt = salt.data();
    ctx.saltlen = 16;
    ctx.secret = secret.data();
    ctx.secretlen = 8;
    ctx.ad = ad.data();
    ctx.adlen = 12;
    ctx.t_cost = 3;
    ctx.m_cost = 32;
    ctx.lanes = 4;
    ctx.threads = 4;
    ctx.version = ARGON2_VERSION_13;
    REQUIRE(argon2_ctx(&ctx, Argon2_id) == ARGON2_OK);
    CHECK(hex_of(out) == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");

    // Published PHC strings for the password "password".
    for (const char* phc : {"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
                            "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
                            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                            "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"}) {
        auto good = verify_password(phc, as_bytes("password"));
        REQUIRE(good.ok());
        CHECK(*good);
        auto bad = verify_password(phc, as_bytes("Password"));
        REQUIRE(bad.ok());
        CHECK_FALSE(*bad);
    }
}

TEST_CASE("password hashes carry their parameters and refuse hostile ones") {
    const Argon2Params cheap{8, 1, 1};
    auto h = hash_password(as_bytes("correct horse"), cheap);
    REQUIRE(h.ok());
    CHECK(h->starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
    CHECK(*verify_password(*h, as_bytes("correct horse")));
    CHECK_FALSE(*verify_password(*h, as_bytes("correct horsf")));
    CHECK(*phc_params(*h) == cheap);
    CHECK_FALSE(needs_rehash(*h, cheap));
    CHECK(needs_rehash(*h, Argon2Params{}));
    auto h2 = hash_password(as_bytes("correct horse"), cheap);
    CHECK(*h2 != *h);  // fresh salt

    CHECK(Argon2Params::parse("m=65536,t=3,p=4").ok());
    CHECK(Argon2Params{}.to_string() == "m=65536,t=3,p=4");
    for (const char* bad : {"", "m=65536,t=3", "t=3,m=65536,p=4", "m=065536,t=3,p=4",
                            "m=65536,t=3,p=4,", "m=7,t=1,p=1", "m=64,t=1,p=17", "m=64,t=0,p=1",
                            "m=4194305,t=1,p=1", "m=64,t=65,p=1", "m=+64,t=1,p=1"})
        CHECK_FALSE(Argon2Params::parse(bad).ok());
    // A damaged or hostile stored hash never reaches the library with huge costs.
    for (const char* bad :
         {"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
          "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
          "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
          "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
          "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$", "$argon2id$v=19$m=256,t=2,p=1$$abc",
          "$argon2id$v=19$m=256,t=2,p=1$c29t*XNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"}) {
        CHECK_FALSE(phc_params(bad).ok());
        auto v = verify_password(bad, as_bytes("password"));
        CHECK_FALSE(v.ok());
        if (!v.ok()) CHECK(v.error().code == Errc::invalid);
    }
}

TEST_CASE("P-256 ECDH known answer (RFC 5903 8.1) and key encodings") {
    PrivateKey initiator = rfc5903_initiator();
    CHECK(hex_of(initiator.public_key().to_point()) ==
          "04dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
          "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3");
    auto responder = PublicKey::from_point(hex(rfc5903_responder_point));
    REQUIRE(responder.ok());
    auto shared = ecdh(initiator, *responder);
    REQUIRE(shared.ok());
    CHECK(hex_of(shared->view()) ==
          "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de");

    // Round trips.
    auto key = PrivateKey::generate();
    REQUIRE(key.ok());
    const PublicKey pub = key->public_key();
    CHECK(*PublicKey::from_der(pub.to_der()) == pub);
    CHECK(*PublicKey::from_pem(pub.to_pem()) == pub);
    CHECK(*PublicKey::from_point(pub.to_point()) == pub);
    auto der = key->to_der();
    CHECK(PrivateKey::from_der(der.view())->public_key() == pub);
    auto pem = key->to_pem();
    CHECK(PrivateKey::from_pem(as_chars(pem.view()))->public_key() == pub);
    CHECK_FALSE(pub == responder.value());
    CHECK(pub.fingerprint_text().starts_with("SHA256:"));
    CHECK(pub.fingerprint_text().size() == 7 + 43);

    // Refusals: off the curve, wrong length, compressed, trailing bytes, other curves.
    Bytes off = hex(rfc5903_responder_point);
    off[64] ^= 1;
    CHECK_FALSE(PublicKey::from_point(off).ok());
    CHECK_FALSE(PublicKey::from_point(ByteView(off.data(), 64)).ok());
    Bytes compressed = hex(rfc5903_responder_point);
    compressed[0] = 0x02;
    CHECK_FALSE(PublicKey::from_point(compressed).ok());
    Bytes trailing = pub.to_der();
    trailing.push_back(0);
    CHECK_FALSE(PublicKey::from_der(trailing).ok());
    // A well-formed key on another curve is refused.
    EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
    REQUIRE(p384);
    Bytes p384_der(static_cast<std::size_t>(i2d_PUBKEY(p384, nullptr)));
    unsigned char* out = p384_der.data();
    i2d_PUBKEY(p384, &out);
    EVP_PKEY_free(p384);
    auto refused = PublicKey::from_der(p384_der);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == "not a P-256 public key");
    CHECK_FALSE(PrivateKey::from_der(Bytes{0x30, 0x00}).ok());
}

TEST_CASE("ECDSA signatures") {
    auto key = PrivateKey::generate();
    REQUIRE(key.ok());
    auto sig = sign(*key, as_bytes("challenge"));
    REQUIRE(sig.ok());
    CHECK(verify(key->public_key(), as_bytes("challenge"), *sig));
    CHECK_FALSE(verify(key->public_key(), as_bytes("challengf"), *sig));
    CHECK_FALSE(verify(PrivateKey::generate()->public_key(), as_bytes("challenge"), *sig));
    Bytes bad = *sig;
    bad.back() ^= 1;
    CHECK_FALSE(verify(key->public_key(), as_bytes("challenge"), bad));
}

TEST_CASE("sealing to a public key binds the context and the recipient") {
    auto recipient = PrivateKey::generate();
    REQUIRE(recipient.ok());
    const Bytes message = to_bytes("the management key");
    const Bytes sealed = seal_to(recipient->public_key(), as_bytes("card:USER-A"), message);
    CHECK(sealed.size() == 65 + message.size() + 16);
    auto opened = open_sealed(*recipient, as_bytes("card:USER-A"), sealed);
    REQUIRE(opened.ok());
    CHECK(Bytes(opened->view().begin(), opened->view().end()) == message);
    CHECK_FALSE(open_sealed(*recipient, as_bytes("card:USER-B"), sealed).ok());
    CHECK_FALSE(open_sealed(*PrivateKey::generate(), as_bytes("card:USER-A"), sealed).ok());
    CHECK_FALSE(open_sealed(*recipient, as_bytes("card:USER-A"), ByteView(sealed.data(), 80)).ok());
    Bytes flipped = sealed;
    flipped[70] ^= 1;
    CHECK_FALSE(open_sealed(*recipient, as_bytes("card:USER-A"), flipped).ok());
    // The ECDH may happen elsewhere (on a card): only the function is needed.
    int calls = 0;
    auto via_card = open_sealed(
        [&](const PublicKey& ephemeral) {
            ++calls;
            return ecdh(*recipient, ephemeral);
        },
        recipient->public_key(), as_bytes("card:USER-A"), sealed);
    CHECK(via_card.ok());
    CHECK(calls == 1);
    // Two seals of one message differ (a fresh ephemeral key each time).
    CHECK(seal_to(recipient->public_key(), as_bytes("c"), message) !=
          seal_to(recipient->public_key(), as_bytes("c"), message));
}

TEST_CASE("server and user certificates") {
    auto server_key = PrivateKey::generate();
    REQUIRE(server_key.ok());
    CertificateRequest server_request{"cug-server", 1700000000, 2000000000,
                                      CertificateRequest::Role::server_ca};
    auto server = make_self_signed(*server_key, server_request);
    REQUIRE(server.ok());
    CHECK(server->subject_cn() == "cug-server");
    CHECK(server->issuer_cn() == "cug-server");
    CHECK(server->issued_by(*server));
    CHECK(server->not_before() == 1700000000);
    CHECK(server->not_after() == 2000000000);
    CHECK(server->valid_at(1800000000));
    CHECK_FALSE(server->valid_at(2000000001));
    CHECK(server->serial().size() == 16);
    CHECK(*server->public_key() == server_key->public_key());

    auto card_key = PrivateKey::generate();
    CertificateRequest user_request{"USER-A", 1700000000, 1900000000,
                                    CertificateRequest::Role::user};
    auto user = issue_certificate(*server_key, *server, card_key->public_key(), user_request);
    REQUIRE(user.ok());
    CHECK(user->subject_cn() == "USER-A");
    CHECK(user->issuer_cn() == "cug-server");
    CHECK(user->issued_by(*server));
    CHECK_FALSE(user->issued_by(*user));
    CHECK(*user->public_key() == card_key->public_key());
    CHECK(user->serial() != server->serial());

    // Another deployment's server with the same name does not vouch for this user.
    auto other_key = PrivateKey::generate();
    auto other = make_self_signed(*other_key, server_request);
    CHECK_FALSE(user->issued_by(*other));
    // The issuer key must match the issuer certificate.
    CHECK_FALSE(issue_certificate(*other_key, *server, card_key->public_key(), user_request).ok());

    auto back = Certificate::from_der(user->to_der());
    REQUIRE(back.ok());
    CHECK(back->fingerprint() == user->fingerprint());
    CHECK(Certificate::from_pem(user->to_pem())->fingerprint() == user->fingerprint());
    Bytes trailing = user->to_der();
    trailing.push_back(0);
    CHECK_FALSE(Certificate::from_der(trailing).ok());
    CHECK_FALSE(Certificate::from_der(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}).ok());
    CertificateRequest empty_name{"", 1, 2, CertificateRequest::Role::user};
    CHECK_FALSE(make_self_signed(*server_key, empty_name).ok());
}

TEST_CASE("secret buffers are zero-filled, movable, wiped and compared in constant time") {
    SecretBuffer a(32);
    CHECK(a.size() == 32);
    CHECK(Bytes(a.view().begin(), a.view().end()) == Bytes(32, 0));
    a.data()[0] = 7;
    SecretBuffer b = std::move(a);
    CHECK(a.empty());
    CHECK(b.data()[0] == 7);
    CHECK(b.locked());
    b.clear();
    CHECK(b.empty());
    auto r1 = random_secret(32), r2 = random_secret(32);
    CHECK_FALSE(equal_ct(r1.view(), r2.view()));
    CHECK(equal_ct(r1.view(), SecretBuffer::copy_of(r1.view()).view()));
    CHECK_FALSE(equal_ct(as_bytes("abc"), as_bytes("abcd")));
    CHECK(equal_ct({}, {}));
    CHECK(random_u64() != random_u64());
}

TEST_CASE("block ciphers for PIV management keys (FIPS-197 C.1/C.3, SP 800-67 example)") {
    auto aes128 =
        block_encrypt(BlockCipher::aes128, range(0, 16), hex("00112233445566778899aabbccddeeff"));
    REQUIRE(aes128.ok());
    CHECK(hex_of(*aes128) == "69c4e0d86a7b0430d8cdb78070b4c55a");
    auto aes256 =
        block_encrypt(BlockCipher::aes256, range(0, 32), hex("00112233445566778899aabbccddeeff"));
    CHECK(hex_of(*aes256) == "8ea2b7ca516745bfeafc49904b496089");
    CHECK(hex_of(*block_decrypt(BlockCipher::aes256, range(0, 32), *aes256)) ==
          "00112233445566778899aabbccddeeff");
    const Bytes tdes_key = hex("0123456789abcdef23456789abcdef01456789abcdef0123");
    auto tdes = block_encrypt(BlockCipher::tdes, tdes_key, as_bytes("The qufc"));
    // SP 800-67's example spells its plaintext "The qufck brown fox jump".
    CHECK(hex_of(*tdes) == "a826fd8ce53b855f");
    CHECK(as_chars(*block_decrypt(BlockCipher::tdes, tdes_key, *tdes)) == "The qufc");
    CHECK_FALSE(block_encrypt(BlockCipher::tdes, tdes_key, Bytes(16)).ok());
    CHECK_FALSE(block_encrypt(BlockCipher::aes192, Bytes(16), Bytes(16)).ok());
}
