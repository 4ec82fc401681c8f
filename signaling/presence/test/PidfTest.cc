#include "signaling/presence/Pidf.h"

#include <gtest/gtest.h>

namespace rdv::presence {
namespace {

constexpr std::string_view kAliceOpen =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:alice@example.com\">\n"
    "  <tuple id=\"t1\"><status><basic>open</basic></status><note>In a meeting</note></tuple>\n"
    "</presence>\n";

TEST(Pidf, ParsesEntityBasicAndNote) {
  auto doc = parsePidf(kAliceOpen, "alice");
  ASSERT_TRUE(doc) << doc.error().reason;
  EXPECT_EQ(doc->entity, "pres:alice@example.com");
  ASSERT_TRUE(doc->basic);
  EXPECT_EQ(*doc->basic, Basic::Open);
  EXPECT_EQ(doc->note, "In a meeting");
  EXPECT_EQ(doc->tuples, 1U);
}

TEST(Pidf, AcceptsSipEntityAndPrefixedNamespace) {
  auto doc = parsePidf(
      "<p:presence xmlns:p=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:bob@h\"><p:tuple id=\"a\"><p:status>"
      "<p:basic>closed</p:basic></p:status></p:tuple></p:presence>",
      "bob");
  ASSERT_TRUE(doc) << doc.error().reason;
  EXPECT_EQ(*doc->basic, Basic::Closed);
}

TEST(Pidf, RefusesAnotherUsersEntity) {
  auto doc = parsePidf(kAliceOpen, "mallory");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().reason, "PIDF entity is not mallory");
}

TEST(Pidf, RefusesMalformedXmlWithAReason) {
  auto doc = parsePidf("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><tuple>");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().reason.rfind("malformed XML", 0), 0U) << doc.error().reason;
  EXPECT_EQ(doc.error().reason.find('\n'), std::string::npos);
}

TEST(Pidf, RefusesWrongRootNamespaceMissingEntityTupleWithoutStatusAndBadBasic) {
  EXPECT_FALSE(parsePidf("<presence entity=\"pres:a@b\"/>"));
  EXPECT_FALSE(parsePidf("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>"));
  EXPECT_FALSE(
      parsePidf("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><tuple id=\"x\"/>"
                "</presence>"));
  EXPECT_FALSE(
      parsePidf("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><tuple>"
                "<status/></tuple></presence>"));
  auto bad = parsePidf(
      "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><tuple id=\"x\">"
      "<status><basic>maybe</basic></status></tuple></presence>");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().reason, "PIDF basic status is neither open nor closed");
  EXPECT_FALSE(parsePidf(""));
}

TEST(Pidf, RefusesDocumentTypeDeclarations) {  // no entity expansion (billion laughs)
  auto doc = parsePidf(
      "<?xml version=\"1.0\"?><!DOCTYPE presence [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
      "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>&b;</note></presence>");
  ASSERT_FALSE(doc);
}

TEST(Pidf, BuiltDocumentsParseBackWithEscapedText) {
  const std::string body =
      buildPidf("pres:alice@example.com", Basic::Closed, "Out <to> lunch & \"back\"", "reg");
  auto doc = parsePidf(body, "alice");
  ASSERT_TRUE(doc) << doc.error().reason << "\n" << body;
  EXPECT_EQ(*doc->basic, Basic::Closed);
  EXPECT_EQ(doc->note, "Out <to> lunch & \"back\"");
}

}  // namespace
}  // namespace rdv::presence
