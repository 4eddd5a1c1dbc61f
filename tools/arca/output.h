// Formatting for the CLI: JSON strings for raw path bytes, human sizes,
// file modes and times.
#ifndef ARCA_TOOLS_ARCA_OUTPUT_H_
#define ARCA_TOOLS_ARCA_OUTPUT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arca/v1/common.pb.h"
#include "google/protobuf/message.h"
#include "libs/s3/s3_client.h"

namespace arca::cli {

// A quoted JSON string. Valid UTF-8 passes through; control characters are
// escaped; bytes that are not UTF-8 become \u00XX (so names that are not
// UTF-8 stay distinguishable; see README "JSON output").
std::string JsonString(const std::string& bytes);
// A JSON array of JsonString.
std::string JsonStrings(const std::vector<std::string>& v);

// Protobuf JSON mapping with proto field names, all fields printed.
std::string ProtoJson(const google::protobuf::Message& m);

std::string HumanBytes(uint64_t bytes);
// Labels as "k1=v1,k2=v2" in key order (the LABELS column of `snapshots`);
// "" for none.
std::string LabelsText(const std::map<std::string, std::string>& labels);
template <typename Map>
std::string LabelsText(const Map& labels) {
  return LabelsText(std::map<std::string, std::string>(labels.begin(), labels.end()));
}
// "drwxr-xr-x" style, incl. setuid/setgid/sticky letters.
std::string ModeString(v1::EntryType type, uint32_t mode);
// UTC "2026-11-25 13:50:01.123456789".
std::string TimeString(int64_t unix_ns);
std::string EntryTypeName(v1::EntryType type);

// One entry as a JSON object (path as JsonString, not base64).
std::string EntryJson(const v1::Entry& e);
std::string WarningJson(const v1::Warning& w);

// What a restore changed besides writing (stderr, both modes): "deleted:
// PATH" per removed subtree (the first 1,000), then "deleted N entries the
// snapshot lacks" (N counts every node of those subtrees) and "kept N
// existing entries as they were" when not 0.
void PrintRestoreChanges(uint64_t skipped, uint64_t deleted,
                         const std::vector<std::string>& deleted_paths);
// An S3 client's request counts as {"total":N,"retries":N,"by_op":{"GetObject":N,...}}
// (the "s3_requests" of `arca backup --json` on an s3:// repository).
std::string S3RequestsJson(const s3::RequestCounts& counts);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_OUTPUT_H_
