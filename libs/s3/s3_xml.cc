#include "libs/s3/s3_xml.h"

#include <expat.h>

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace arca::s3 {
namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxNodes = 1 << 20;

// A small element tree: S3 documents are shallow and need no more.
struct Node {
  std::string name;  // local name (any "prefix:" removed)
  std::string text;  // character data directly inside
  std::vector<std::unique_ptr<Node>> children;

  const Node* Child(std::string_view child_name) const {
    for (const auto& c : children) {
      if (c->name == child_name) return c.get();
    }
    return nullptr;
  }
};

struct ParseState {
  XML_Parser parser = nullptr;
  std::unique_ptr<Node> root;
  std::vector<Node*> stack;
  size_t nodes = 0;
  std::string error;  // set when a handler stopped the parser

  void Fail(std::string message) {
    if (error.empty()) error = std::move(message);
    XML_StopParser(parser, XML_FALSE);
  }
};

void XMLCALL OnStart(void* data, const XML_Char* name, const XML_Char** /*attrs*/) {
  auto* st = static_cast<ParseState*>(data);
  if (!st->error.empty()) return;
  if (st->stack.size() >= kMaxDepth) return st->Fail("elements nested too deep");
  if (++st->nodes > kMaxNodes) return st->Fail("too many elements");
  auto node = std::make_unique<Node>();
  std::string_view n(name);
  if (size_t colon = n.rfind(':'); colon != std::string_view::npos) n.remove_prefix(colon + 1);
  node->name = std::string(n);
  Node* raw = node.get();
  if (st->stack.empty()) {
    st->root = std::move(node);
  } else {
    st->stack.back()->children.push_back(std::move(node));
  }
  st->stack.push_back(raw);
}

void XMLCALL OnEnd(void* data, const XML_Char* /*name*/) {
  auto* st = static_cast<ParseState*>(data);
  if (!st->stack.empty()) st->stack.pop_back();
}

void XMLCALL OnText(void* data, const XML_Char* s, int len) {
  auto* st = static_cast<ParseState*>(data);
  if (!st->error.empty() || st->stack.empty()) return;
  st->stack.back()->text.append(s, static_cast<size_t>(len));
}

void XMLCALL OnDoctype(void* data, const XML_Char* /*name*/, const XML_Char* /*sysid*/,
                       const XML_Char* /*pubid*/, int /*has_internal_subset*/) {
  static_cast<ParseState*>(data)->Fail("a DOCTYPE (and so any entity) is not accepted");
}

void XMLCALL OnEntityDecl(void* data, const XML_Char* /*name*/, int /*is_param*/,
                          const XML_Char* /*value*/, int /*value_length*/, const XML_Char* /*base*/,
                          const XML_Char* /*system_id*/, const XML_Char* /*public_id*/,
                          const XML_Char* /*notation*/) {
  static_cast<ParseState*>(data)->Fail("entity declarations are not accepted");
}

// Parses `xml` into a tree whose root must be `root_name`.
absl::StatusOr<std::unique_ptr<Node>> ParseTree(std::string_view xml, std::string_view what,
                                                std::string_view root_name) {
  if (xml.size() > kMaxXmlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": document of ", xml.size(), " bytes is too large"));
  }
  std::unique_ptr<std::remove_pointer_t<XML_Parser>, void (*)(XML_Parser)> parser(
      XML_ParserCreate("UTF-8"), XML_ParserFree);
  if (parser == nullptr) return absl::ResourceExhaustedError("cannot create an XML parser");
  ParseState st;
  st.parser = parser.get();
  XML_SetUserData(st.parser, &st);
  XML_SetElementHandler(st.parser, OnStart, OnEnd);
  XML_SetCharacterDataHandler(st.parser, OnText);
  XML_SetStartDoctypeDeclHandler(st.parser, OnDoctype);
  XML_SetEntityDeclHandler(st.parser, OnEntityDecl);
  XML_SetParamEntityParsing(st.parser, XML_PARAM_ENTITY_PARSING_NEVER);
  if (XML_Parse(st.parser, xml.data(), static_cast<int>(xml.size()), XML_TRUE) != XML_STATUS_OK) {
    std::string reason =
        !st.error.empty() ? st.error : std::string(XML_ErrorString(XML_GetErrorCode(st.parser)));
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": malformed XML at line ",
                                                   XML_GetCurrentLineNumber(st.parser), ": ",
                                                   reason));
  }
  if (st.root == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": empty document"));
  }
  if (st.root->name != root_name) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": root element <",
                                                   st.root->name, "> instead of <",
                                                   std::string(root_name), ">"));
  }
  return std::move(st.root);
}

absl::Status Missing(std::string_view what, std::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(what), ": <", std::string(field), "> missing"));
}

std::string ChildText(const Node& n, std::string_view name) {
  const Node* c = n.Child(name);
  return c == nullptr ? std::string() : c->text;
}

absl::StatusOr<bool> ParseBool(std::string_view what, std::string_view field,
                               std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": <", std::string(field),
                                                 "> is '", std::string(text.substr(0, 64)),
                                                 "', not true or false"));
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp == 0xFFFE || cp == 0xFFFF) return false;  // not XML characters
    i += len;
  }
  return true;
}

bool ParseDigits(std::string_view s, size_t n, int* out) {
  if (s.size() < n) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

absl::StatusOr<int64_t> ParseIso8601(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ISO-8601 time '", std::string(text.substr(0, 64)), "'"));
  };
  // YYYY-MM-DDTHH:MM:SS
  int year, month, day, hour, minute, second;
  if (text.size() < 20 || !ParseDigits(text, 4, &year) || text[4] != '-' ||
      !ParseDigits(text.substr(5), 2, &month) || text[7] != '-' ||
      !ParseDigits(text.substr(8), 2, &day) || (text[10] != 'T' && text[10] != 't') ||
      !ParseDigits(text.substr(11), 2, &hour) || text[13] != ':' ||
      !ParseDigits(text.substr(14), 2, &minute) || text[16] != ':' ||
      !ParseDigits(text.substr(17), 2, &second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  absl::CivilSecond cs(year, month, day, hour, minute, second);
  if (cs.day() != day) return bad();  // e.g. February 30
  std::string_view rest = text.substr(19);
  int64_t frac_ns = 0;
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    int64_t scale = 100000000;
    size_t digits = 0;
    while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
      frac_ns += (rest[0] - '0') * scale;
      scale /= 10;
      rest.remove_prefix(1);
      if (++digits > 12) return bad();
    }
    if (digits == 0) return bad();
  }
  int offset_s = 0;
  if (rest == "Z" || rest == "z") {
    // UTC
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh, om;
    if (!ParseDigits(rest.substr(1), 2, &oh) || !ParseDigits(rest.substr(4), 2, &om) || oh > 23 ||
        om > 59) {
      return bad();
    }
    offset_s = (oh * 3600 + om * 60) * (rest[0] == '+' ? 1 : -1);
  } else {
    return bad();
  }
  absl::Time t = absl::FromCivil(cs, absl::UTCTimeZone()) - absl::Seconds(offset_s);
  return absl::ToUnixNanos(t) + frac_ns;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
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
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view xml) {
  constexpr std::string_view kWhat = "ListObjectsV2 result";
  auto root = ParseTree(xml, kWhat, "ListBucketResult");
  if (!root.ok()) return root.status();
  ListPage page;
  bool saw_truncated = false;
  for (const auto& child : (*root)->children) {
    if (child->name == "Contents") {
      ObjectInfo info;
      const Node* key = child->Child("Key");
      if (key == nullptr) return Missing(kWhat, "Contents/Key");
      info.key = key->text;
      const Node* size = child->Child("Size");
      if (size == nullptr) return Missing(kWhat, "Contents/Size");
      if (size->text.empty() || size->text.find_first_not_of("0123456789") != std::string::npos ||
          !absl::SimpleAtoi(size->text, &info.size)) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(kWhat), ": <Size> of '",
                                                       info.key, "' is '", size->text.substr(0, 64),
                                                       "', not a 64-bit byte count"));
      }
      if (const Node* lm = child->Child("LastModified"); lm != nullptr) {
        auto ns = ParseIso8601(lm->text);
        if (!ns.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              std::string(kWhat), ": <LastModified> of '", info.key, "': ", ns.status().message()));
        }
        info.last_modified_unix_ns = *ns;
      }
      info.etag = Unquote(ChildText(*child, "ETag"));
      page.objects.push_back(std::move(info));
    } else if (child->name == "CommonPrefixes") {
      const Node* prefix = child->Child("Prefix");
      if (prefix == nullptr) return Missing(kWhat, "CommonPrefixes/Prefix");
      page.common_prefixes.push_back(prefix->text);
    } else if (child->name == "IsTruncated") {
      auto b = ParseBool(kWhat, "IsTruncated", child->text);
      if (!b.ok()) return b.status();
      page.truncated = *b;
      saw_truncated = true;
    } else if (child->name == "NextContinuationToken") {
      page.next_continuation_token = child->text;
    }
  }
  if (!saw_truncated) return Missing(kWhat, "IsTruncated");
  if (page.truncated && page.next_continuation_token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(kWhat), ": truncated but no <NextContinuationToken>"));
  }
  return page;
}

absl::StatusOr<S3ErrorDocument> ParseErrorDocument(std::string_view xml) {
  auto root = ParseTree(xml, "S3 error document", "Error");
  if (!root.ok()) return root.status();
  S3ErrorDocument doc;
  doc.code = ChildText(**root, "Code");
  doc.message = ChildText(**root, "Message");
  return doc;
}

absl::StatusOr<std::vector<DeleteError>> ParseDeleteResult(std::string_view xml) {
  constexpr std::string_view kWhat = "DeleteObjects result";
  auto root = ParseTree(xml, kWhat, "DeleteResult");
  if (!root.ok()) return root.status();
  std::vector<DeleteError> errors;
  for (const auto& child : (*root)->children) {
    if (child->name == "Deleted") {
      if (child->Child("Key") == nullptr) return Missing(kWhat, "Deleted/Key");
    } else if (child->name == "Error") {
      DeleteError e;
      const Node* key = child->Child("Key");
      if (key == nullptr) return Missing(kWhat, "Error/Key");
      e.key = key->text;
      const Node* code = child->Child("Code");
      if (code == nullptr) return Missing(kWhat, "Error/Code");
      e.code = code->text;
      e.message = ChildText(*child, "Message");
      errors.push_back(std::move(e));
    }
  }
  return errors;
}

absl::StatusOr<std::string> BuildDeleteObjectsBody(const std::vector<std::string>& keys) {
  if (keys.empty() || keys.size() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("DeleteObjects takes 1 to 1000 keys, not ", keys.size()));
  }
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
  for (const std::string& key : keys) {
    for (char c : key) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return absl::InvalidArgumentError(absl::StrCat(
            "key '", absl::CEscape(key), "' has a control character XML cannot carry"));
      }
    }
    if (key.empty() || !ValidUtf8(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", absl::CEscape(key), "' is empty or not valid UTF-8"));
    }
    absl::StrAppend(&body, "<Object><Key>", XmlEscape(key), "</Key></Object>");
  }
  body += "</Delete>";
  return body;
}

}  // namespace arca::s3
