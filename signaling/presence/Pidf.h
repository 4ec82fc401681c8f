#pragma once
// PIDF, the Presence Information Data Format (RFC 3863): the one checked entry point for a
// PUBLISHed document and the writer of the documents we compose from registration state.
//
// parsePidf() accepts exactly what RFC 3863 §4 requires: a well-formed XML document (libxml2, no
// network, no DTD, so no entity expansion) whose root is <presence> in the
// urn:ietf:params:xml:ns:pidf namespace with an `entity` URI, every <tuple> with an `id` and a
// <status>, and <basic> (when present) "open" or "closed". Anything else is a PidfError whose
// reason is fit for a 400 reason phrase.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"

namespace rdv::presence {

inline constexpr std::string_view kPidfType = "application/pidf+xml";

enum class Basic : uint8_t { Open, Closed };

struct PidfError {
  std::string reason;  // one line, no CR/LF
};

struct PidfDocument {
  std::string entity;          // the entity attribute as written (pres:alice@example.com)
  std::optional<Basic> basic;  // the first tuple's <basic>, if any tuple has one
  std::string note;            // the first <note> (document or tuple level), trimmed
  size_t tuples = 0;
};

// Parses `body`. With a non-empty `user`, the entity's user part (pres:, sip: or sips: URI) must
// be `user`: a PUBLISH may only describe its own presentity.
[[nodiscard]] Expected<PidfDocument, PidfError> parsePidf(std::string_view body, std::string_view user = {});

// A minimal PIDF document: one tuple `tupleId` with <basic>, <contact> when given, and a <note>
// when `note` is not empty. Text is XML-escaped.
std::string buildPidf(std::string_view entity, Basic basic, std::string_view note, std::string_view tupleId,
                      std::string_view contact = {});

// `text` with & < > " ' escaped for XML character data and attribute values.
std::string xmlEscape(std::string_view text);

}  // namespace rdv::presence
