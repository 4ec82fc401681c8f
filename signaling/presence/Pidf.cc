#include "signaling/presence/Pidf.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace rdv::presence {
namespace {

constexpr std::string_view kPidfNs = "urn:ietf:params:xml:ns:pidf";
// Larger documents are refused before libxml2 sees them (the B2BUA's limit is smaller still).
constexpr size_t kMaxDocumentBytes = 1 << 20;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

std::string_view text(const xmlChar* s) {
  return s == nullptr ? std::string_view() : reinterpret_cast<const char*>(s);
}

bool isPidf(const xmlNode* n, std::string_view name) {
  return n->type == XML_ELEMENT_NODE && text(n->name) == name && n->ns != nullptr &&
         text(n->ns->href) == kPidfNs;
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  std::string out(text(v));
  xmlFree(v);
  return out;
}

std::string content(const xmlNode* n) {
  xmlChar* v = xmlNodeGetContent(n);
  std::string out(text(v));
  xmlFree(v);
  const auto space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!out.empty() && space(out.back())) out.pop_back();
  const auto first = std::find_if_not(out.begin(), out.end(), space);
  out.erase(out.begin(), first);
  return out;
}

// One line of at most 100 printable characters: it ends up in a reason phrase.
std::string reasonText(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 100) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The user part of a pres:/sip:/sips: URI (RFC 3859 §3.1), empty when it has none.
std::string_view entityUser(std::string_view uri) {
  for (std::string_view scheme : {"pres:", "sip:", "sips:"}) {
    if (uri.size() > scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), uri.begin(), [](char a, char b) {
          return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
        })) {
      uri.remove_prefix(scheme.size());
      const auto at = uri.find('@');
      return at == std::string_view::npos ? std::string_view() : uri.substr(0, at);
    }
  }
  return {};
}

Expected<bool, PidfError> readTuple(const xmlNode* tuple, PidfDocument& doc) {
  if (attribute(tuple, "id").empty()) return Unexpected(PidfError{"PIDF tuple without an id"});
  const xmlNode* status = nullptr;
  for (const xmlNode* c = tuple->children; c != nullptr; c = c->next) {
    if (isPidf(c, "status") && status == nullptr) status = c;
    if (isPidf(c, "note") && doc.note.empty()) doc.note = content(c);
  }
  if (status == nullptr) return Unexpected(PidfError{"PIDF tuple without a status"});
  for (const xmlNode* c = status->children; c != nullptr; c = c->next) {
    if (!isPidf(c, "basic")) continue;
    const std::string b = content(c);
    if (b != "open" && b != "closed")
      return Unexpected(PidfError{"PIDF basic status is neither open nor closed"});
    if (!doc.basic) doc.basic = b == "open" ? Basic::Open : Basic::Closed;
  }
  return true;
}

}  // namespace

Expected<PidfDocument, PidfError> parsePidf(std::string_view body, std::string_view user) {
  if (body.empty()) return Unexpected(PidfError{"empty PIDF body"});
  if (body.size() > kMaxDocumentBytes) return Unexpected(PidfError{"PIDF body too large"});
  xmlInitParser();
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return Unexpected(PidfError{"XML parser unavailable"});
  std::unique_ptr<xmlDoc, DocFree> xml(
      xmlCtxtReadMemory(ctxt.get(), body.data(), static_cast<int>(body.size()), "pidf.xml", nullptr,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!xml || ctxt->wellFormed == 0) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    return Unexpected(PidfError{fmt::format(
        "malformed XML: {}",
        reasonText(e != nullptr ? text(reinterpret_cast<const xmlChar*>(e->message)) : "not well-formed"))});
  }
  if (xml->intSubset != nullptr || xml->extSubset != nullptr)
    return Unexpected(PidfError{"DTD not allowed in PIDF"});
  const xmlNode* root = xmlDocGetRootElement(xml.get());
  if (root == nullptr || !isPidf(root, "presence")) {
    return Unexpected(PidfError{"root element is not <presence> in the PIDF namespace"});
  }
  PidfDocument doc;
  doc.entity = attribute(root, "entity");
  if (doc.entity.empty()) return Unexpected(PidfError{"PIDF presence without an entity"});
  if (!user.empty() && entityUser(doc.entity) != user) {
    return Unexpected(PidfError{fmt::format("PIDF entity is not {}", reasonText(user))});
  }
  for (const xmlNode* c = root->children; c != nullptr; c = c->next) {
    if (isPidf(c, "tuple")) {
      ++doc.tuples;
      if (auto ok = readTuple(c, doc); !ok) return Unexpected(ok.error());
    } else if (isPidf(c, "note") && doc.note.empty()) {
      doc.note = content(c);
    }
  }
  return doc;
}

std::string xmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;  // a raw CR would be normalized away (XML 1.0 §2.11)
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string buildPidf(std::string_view entity, Basic basic, std::string_view note, std::string_view tupleId,
                      std::string_view contact) {
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{}\">\r\n"
      "  <tuple id=\"{}\">\r\n"
      "    <status><basic>{}</basic></status>\r\n",
      xmlEscape(entity), xmlEscape(tupleId), basic == Basic::Open ? "open" : "closed");
  if (!contact.empty()) out += fmt::format("    <contact>{}</contact>\r\n", xmlEscape(contact));
  if (!note.empty()) out += fmt::format("    <note>{}</note>\r\n", xmlEscape(note));
  out += "  </tuple>\r\n</presence>\r\n";
  return out;
}

}  // namespace rdv::presence
