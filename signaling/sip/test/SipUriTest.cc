#include "signaling/sip/SipUri.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipLex.h"
#include "signaling/sip/Via.h"

namespace rdv::sip {
namespace {

// ---- Lexical helpers ----

std::vector<std::string_view> elements(std::string_view value) {
  std::vector<std::string_view> out;
  for (SipListCursor cursor(value); !cursor.done();) {
    out.push_back(cursor.next());
  }
  return out;
}

TEST(SipListCursor, SplitsAtCommasOutsideQuotesAndAngleBrackets) {
  EXPECT_EQ(elements(R"("Doe, John" <sip:a@b;x=1,2>;q=0.5 , <sip:c@d>)"),
            (std::vector<std::string_view>{R"("Doe, John" <sip:a@b;x=1,2>;q=0.5)", "<sip:c@d>"}));
}

TEST(SipListCursor, ReportsEmptyElementsAndHonoursEscapedQuotes) {
  EXPECT_EQ(elements("a,,b,"), (std::vector<std::string_view>{"a", "", "b", ""}));
  EXPECT_EQ(elements(""), (std::vector<std::string_view>{""}));
  EXPECT_EQ(elements(R"("x\",y", z)"), (std::vector<std::string_view>{R"("x\",y")", "z"}));
}

TEST(SipParamCursor, TrimsLwsAroundNamesAndValuesAndKeepsQuotedSemicolons) {
  SipParamCursor cursor(" tag = 12\r\n ;lr; x=\"a;b\"");
  SipParam p = cursor.next();
  EXPECT_EQ(p.name, "tag");
  EXPECT_EQ(p.value, "12");
  EXPECT_TRUE(p.hasValue);
  p = cursor.next();
  EXPECT_EQ(p.name, "lr");
  EXPECT_FALSE(p.hasValue);
  p = cursor.next();
  EXPECT_EQ(p.name, "x");
  EXPECT_EQ(p.value, "\"a;b\"");
  EXPECT_TRUE(cursor.done());
}

TEST(FindSipParam, IsCaseInsensitiveAndUnquotes) {
  EXPECT_EQ(findSipParam("TAG=1;Expires=60;+sip.instance=\"<urn:x>\"", "expires"), "60");
  EXPECT_EQ(findSipParam("TAG=1;+sip.instance=\"<urn:x>\"", "+sip.instance"), "<urn:x>");
  EXPECT_EQ(findSipParam("lr", "lr"), "");
  EXPECT_FALSE(findSipParam("lr", "tag").has_value());
  EXPECT_FALSE(findSipParam("", "tag").has_value());
}

// ---- SipUri ----

TEST(SipUri, SplitsAllPartsOfAFullSipUri) {
  auto uri = SipUri::parse("sips:alice:secret@Example.COM:5061;transport=tls;LR?Subject=hi&Priority=urgent");
  ASSERT_TRUE(uri) << uri.error().reason;
  EXPECT_EQ(uri->scheme, "sips");
  EXPECT_EQ(uri->user, "alice");
  EXPECT_EQ(uri->password, "secret");
  EXPECT_EQ(uri->host, "Example.COM");
  EXPECT_EQ(uri->port, 5061);
  EXPECT_EQ(uri->params, "transport=tls;LR");
  EXPECT_EQ(uri->headers, "Subject=hi&Priority=urgent");
  EXPECT_EQ(uri->param("lr"), "");
  EXPECT_EQ(uri->param("Transport"), "tls");
  EXPECT_FALSE(uri->param("maddr"));
}

TEST(SipUri, HostOnlyUriHasNoUserAndNoPort) {
  auto uri = SipUri::parse("SIP:registrar.example.com");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->scheme, "SIP");
  EXPECT_EQ(uri->user, "");
  EXPECT_EQ(uri->host, "registrar.example.com");
  EXPECT_EQ(uri->port, 0);
}

TEST(SipUri, Ipv6ReferenceLosesItsBracketsAndKeepsThePort) {
  auto uri = SipUri::parse("sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]");
  ASSERT_TRUE(uri) << uri.error().reason;
  EXPECT_EQ(uri->host, "2001:db8::10");
  EXPECT_EQ(uri->port, 5070);
  EXPECT_EQ(uri->param("maddr"), "[2001:db8::1]");
  // RFC 5118: a port-like suffix inside the brackets belongs to the address.
  auto inside = SipUri::parse("sip:[2001:db8::10:5070]");
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->host, "2001:db8::10:5070");
  EXPECT_EQ(inside->port, 0);
}

TEST(SipUri, EscapedUserIsKeptRawAndDecodedOnRequest) {
  auto uri = SipUri::parse("sip:sips%3Auser%40example.com@example.net");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->user, "sips%3Auser%40example.com");
  EXPECT_EQ(uri->host, "example.net");
  EXPECT_EQ(uri->unescapedUser(), "sips:user@example.com");

  auto withNul = SipUri::parse("sip:null-%00-null@example.com");
  ASSERT_TRUE(withNul);
  EXPECT_EQ(withNul->unescapedUser(), std::string("null-\0-null", 11));
}

TEST(SipUri, UserMayHoldSemicolonsAndQuestionMarks) {
  auto uri = SipUri::parse("sip:user;par=u%40example.net@example.com");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->user, "user;par=u%40example.net");
  EXPECT_EQ(uri->host, "example.com");
  EXPECT_EQ(uri->params, "");
}

TEST(SipUri, TelUriPutsTheSubscriberInUser) {
  auto uri = SipUri::parse("tel:+1-201-555-0123;phone-context=example.com");
  ASSERT_TRUE(uri) << uri.error().reason;
  EXPECT_EQ(uri->user, "+1-201-555-0123");
  EXPECT_EQ(uri->host, "");
  EXPECT_EQ(uri->param("phone-context"), "example.com");
}

TEST(SipUri, OtherSchemesAreUnsupportedWith416) {
  auto uri = SipUri::parse("http://example.com/");
  ASSERT_FALSE(uri);
  EXPECT_EQ(uri.error().status, 416);
  EXPECT_EQ(uri.error().reason, "Unsupported URI Scheme");
}

TEST(SipUri, RejectsMalformedUrisWithSpecificReasons) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "Malformed URI"},
      {"sip:user@example.com; lr", "Malformed URI"},
      {"example.com", "Malformed URI"},
      {"1sip:example.com", "Malformed URI scheme"},
      {"sip:@example.com", "Malformed URI user"},
      {"sip:us%zzer@example.com", "Malformed URI user"},
      {"sip:user:pa@ss@example.com", "Malformed URI host"},
      {"sip:user:p<w@example.com", "Malformed URI password"},
      {"sip:user:p|w@example.com", "Malformed URI password"},
      {"sip:", "Malformed URI host"},
      {"sip:user@", "Malformed URI host"},
      {"sip:[2001:db8::1", "Malformed URI host"},
      {"sip:[zz]", "Malformed URI host"},
      {"sip:example.com:0", "Malformed URI port"},
      {"sip:example.com:65536", "Malformed URI port"},
      {"sip:example.com:", "Malformed URI port"},
      {"sip:example.com;;lr", "Malformed URI parameters"},
      {"sip:example.com;lr;", "Malformed URI parameters"},
      {"sip:example.com;x=", "Malformed URI parameters"},
      {"sip:example.com?", "Malformed URI headers"},
      {"sip:example.com?Subject", "Malformed URI headers"},
      {"sip:example.com/path", "Malformed URI host"},
      {"tel:", "Malformed URI user"},
      {"tel:+1 555", "Malformed URI"},
      {"tel:+1555;x=?", "Malformed URI parameters"},
  };
  for (const Case& c : cases) {
    auto uri = SipUri::parse(c.text);
    ASSERT_FALSE(uri) << c.text;
    EXPECT_EQ(uri.error().reason, c.reason) << c.text;
    EXPECT_EQ(uri.error().status, 400) << c.text;
  }
}

TEST(CheckAnyUri, AcceptsForeignSchemesByShapeOnly) {
  EXPECT_EQ(*checkAnyUri("mailto:alice@example.com"), "mailto");
  EXPECT_EQ(*checkAnyUri("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), "urn");
  EXPECT_EQ(checkAnyUri("mailto:").error().reason, "Malformed URI");
  EXPECT_EQ(checkAnyUri("sip:a@").error().reason, "Malformed URI host");
}

// ---- NameAddr ----

TEST(NameAddr, QuotedDisplayNameKeepsEscapesAndHeaderParamsFollowTheBracket) {
  auto na = NameAddr::parse(R"("J Rosenberg \\\""   <sip:jdrosen@example.com>
  ;
  tag = 98asjd8)");
  ASSERT_TRUE(na) << na.error().reason;
  EXPECT_EQ(na->displayName, R"(J Rosenberg \\\")");
  EXPECT_EQ(na->uri, "sip:jdrosen@example.com");
  EXPECT_EQ(na->param("tag"), "98asjd8");
  EXPECT_FALSE(na->star);
}

TEST(NameAddr, TokenDisplayNameNeedsNoSpaceBeforeTheBracket) {
  auto na = NameAddr::parse("caller<sip:caller@example.com>;tag=323");
  ASSERT_TRUE(na);
  EXPECT_EQ(na->displayName, "caller");
  EXPECT_EQ(na->uri, "sip:caller@example.com");
  EXPECT_EQ(na->params, "tag=323");

  auto words = NameAddr::parse("Alice  Smith <sip:alice@example.com>");
  ASSERT_TRUE(words);
  EXPECT_EQ(words->displayName, "Alice  Smith");
}

TEST(NameAddr, AddrSpecParamsBelongToTheHeaderNotTheUri) {
  auto na = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
  ASSERT_TRUE(na) << na.error().reason;
  EXPECT_EQ(na->displayName, "");
  EXPECT_EQ(na->uri, "sip:vivekg@chair-dnrc.example.com");
  EXPECT_EQ(na->param("tag"), "1918181833n");
}

TEST(NameAddr, StarAndForeignSchemesAreAccepted) {
  auto star = NameAddr::parse(" * ");
  ASSERT_TRUE(star);
  EXPECT_TRUE(star->star);
  auto mail = NameAddr::parse("<mailto:alice@example.com>;purpose=info");
  ASSERT_TRUE(mail);
  EXPECT_EQ(mail->uri, "mailto:alice@example.com");
  auto quotedParam = NameAddr::parse("<sip:a@b>;+sip.instance=\"<urn:uuid:1;2>\";reg-id=1");
  ASSERT_TRUE(quotedParam);
  EXPECT_EQ(quotedParam->param("+sip.instance"), "<urn:uuid:1;2>");
  EXPECT_EQ(quotedParam->param("reg-id"), "1");
}

TEST(NameAddr, RejectsMalformedValuesWithSpecificReasons) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "Empty name-addr"},
      {"  ", "Empty name-addr"},
      {"\"Mr. J. User <sip:j.user@example.com>", "Unterminated quoted string"},
      {"\"Bob\" sip:bob@example.com", "Malformed display name"},
      {"<sip:bob@example.com", "Missing > in name-addr"},
      {"Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "Unbracketed URI with , or ?"},
      {"sip:user@example.com?Route=%3Csip:example.com%3E", "Unbracketed URI with , or ?"},
      {"< sip:t.watson@example.org >", "Malformed URI"},
      {"<sip:a@b> junk", "Malformed header parameters"},
      {"<sip:a@b>;", "Malformed header parameters"},
      {"<sip:a@b>;tag=", "Malformed header parameters"},
      {"<sip:a@b>;tag=a b", "Malformed header parameters"},
      {"<sip:a@b>;x=\"open", "Malformed header parameters"},
      {"<sip:a@[::1>", "Malformed URI host"},
      {"<urn>", "Malformed URI"},
  };
  for (const Case& c : cases) {
    auto na = NameAddr::parse(c.text);
    ASSERT_FALSE(na) << c.text;
    EXPECT_EQ(na.error().reason, c.reason) << c.text;
  }
}

TEST(NameAddr, DisplayNameTextUndoesQuotedPairsAndJoinsTokenWords) {
  auto quoted = NameAddr::parse(R"("J Rosenberg \\\"" <sip:jdrosen@example.com>)");
  ASSERT_TRUE(quoted);
  EXPECT_TRUE(quoted->quoted);
  EXPECT_EQ(quoted->displayNameText(), R"(J Rosenberg \")");
  auto folded = NameAddr::parse("\"Big\r\n  Boss\" <sip:b@example.com>");
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->displayNameText(), "Big  Boss") << "a fold reads as its whitespace";
  auto words = NameAddr::parse("Alice \t Smith <sip:alice@example.com>");
  ASSERT_TRUE(words);
  EXPECT_FALSE(words->quoted);
  EXPECT_EQ(words->displayNameText(), "Alice Smith");
  auto none = NameAddr::parse("<sip:alice@example.com>");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->displayNameText(), "");
}

TEST(NameAddr, FormatQuotesWhateverIsNotPlainTokenWordsAndParsesBackToTheSameName) {
  struct Case {
    std::string name;
    std::string written;
  };
  const Case cases[] = {
      {"", "<sip:a@example.com>"},
      {"Alice", "Alice <sip:a@example.com>"},
      {"Alice Smith", "Alice Smith <sip:a@example.com>"},
      {"Boss, Big", R"("Boss, Big" <sip:a@example.com>)"},
      {R"(Say "hi")", R"("Say \"hi\"" <sip:a@example.com>)"},
      {R"(back\slash)", R"("back\\slash" <sip:a@example.com>)"},
      {"ceo <sip:ceo@bank.example>", R"("ceo <sip:ceo@bank.example>" <sip:a@example.com>)"},
      {"J\xc3\xb6rg", "\"J\xc3\xb6rg\" <sip:a@example.com>"},
      {"two  spaces", R"("two  spaces" <sip:a@example.com>)"},
      {" lead", R"(" lead" <sip:a@example.com>)"},
      {"semi;colon", R"("semi;colon" <sip:a@example.com>)"},
      {"line\r\nbreak", R"("line  break" <sip:a@example.com>)"},
      {std::string("nul\0bell\x07", 9), R"("nulbell" <sip:a@example.com>)"},
  };
  for (const Case& c : cases) {
    const std::string written = formatNameAddr(c.name, "sip:a@example.com");
    EXPECT_EQ(written, c.written);
    auto back = NameAddr::parse(written);
    ASSERT_TRUE(back) << written << ": " << back.error().reason;
    EXPECT_EQ(back->uri, "sip:a@example.com");
    if (c.name.find_first_of(std::string("\r\n\0\x07", 4)) == std::string::npos) {
      EXPECT_EQ(back->displayNameText(), c.name) << written;
    }
  }
}

// ---- Via ----

TEST(Via, ParsesSentByAndTheParamsTheTransactionLayerNeeds) {
  auto via = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=198.51.100.7");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->transport, "UDP");
  EXPECT_EQ(via->host, "192.0.2.1");
  EXPECT_EQ(via->port, 5060);
  EXPECT_EQ(via->branch, "z9hG4bK776asdhds");
  EXPECT_TRUE(via->hasRport);
  EXPECT_FALSE(via->rport.has_value());
  EXPECT_EQ(via->received, "198.51.100.7");
  EXPECT_EQ(via->params, "branch=z9hG4bK776asdhds;rport;received=198.51.100.7");
  EXPECT_EQ(via->param("RPORT"), "");
}

TEST(Via, RportWithValueAsAServerStampsIt) {
  auto via = Via::parse("SIP/2.0/TCP client.example.com;branch=z9hG4bKx;rport=34567;received=2001:db8::9");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->port, 0);
  EXPECT_TRUE(via->hasRport);
  EXPECT_EQ(via->rport, 34567);
  EXPECT_EQ(via->received, "2001:db8::9");
}

TEST(Via, ToleratesLwsAndFoldsAroundSeparators) {
  auto via = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2 : 5062 ;rport;branch=\r\n z9hG4bK30239");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->transport, "UDP");
  EXPECT_EQ(via->host, "192.0.2.2");
  EXPECT_EQ(via->port, 5062);
  EXPECT_EQ(via->branch, "z9hG4bK30239");
}

TEST(Via, AcceptsUnknownTransportsAndIpv6SentBy) {
  auto via = Via::parse("SIP/2.0/TLS-SCTP [2001:db8::9:1]:5061;branch=z9hG4bKa");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->transport, "TLS-SCTP");
  EXPECT_EQ(via->host, "2001:db8::9:1");
  EXPECT_EQ(via->port, 5061);
  auto noBranch = Via::parse("SIP/2.0/UDP host.example.com");  // RFC 2543 senders
  ASSERT_TRUE(noBranch);
  EXPECT_EQ(noBranch->branch, "");
}

TEST(Via, RejectsMalformedValuesWithSpecificReasons) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "Malformed Via sent-protocol"},
      {"SIP/3.0/UDP host", "Malformed Via sent-protocol"},
      {"HTTP/2.0/UDP host", "Malformed Via sent-protocol"},
      {"SIP/2.0 host", "Malformed Via sent-protocol"},
      {"SIP/2.0/UDP", "Malformed Via sent-by"},
      {"SIP/2.0/UDPhost", "Malformed Via sent-by"},
      {"SIP/2.0/UDP 2001:db8::1", "Malformed Via sent-by"},
      {"SIP/2.0/UDP host:0", "Malformed Via sent-by"},
      {"SIP/2.0/UDP host:99999", "Malformed Via sent-by"},
      {"SIP/2.0/UDP host junk", "Malformed Via sent-by"},
      {"SIP/2.0/UDP 192.0.2.15;;", "Malformed Via parameters"},
      {"SIP/2.0/UDP host;branch=", "Malformed Via parameters"},
      {"SIP/2.0/UDP host;branch", "Malformed Via parameters"},
      {"SIP/2.0/UDP host;rport=0", "Malformed Via parameters"},
      {"SIP/2.0/UDP host;rport=x", "Malformed Via parameters"},
      {"SIP/2.0/UDP host;received", "Malformed Via parameters"},
  };
  for (const Case& c : cases) {
    auto via = Via::parse(c.text);
    ASSERT_FALSE(via) << c.text;
    EXPECT_EQ(via.error().reason, c.reason) << c.text;
  }
}

}  // namespace
}  // namespace rdv::sip
