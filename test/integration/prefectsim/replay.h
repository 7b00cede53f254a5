// Replays recorded Prefect exchanges against prefectsim: maps the recorded ids to the ones the
// simulator hands out, shifts recorded timestamps to now, and compares status and body shape.
#pragma once

#include <httplib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace prefectsim_test {

using json = nlohmann::json;

std::string recordingsDir();
json loadJson(const std::string& path);
std::vector<std::string> numberedRecordings();  // NN-*.json, in order

bool isUuid(const std::string& s);
bool isTimestamp(const std::string& s);

class Replayer {
 public:
  explicit Replayer(int port) : client_("127.0.0.1", port) { client_.set_read_timeout(10, 0); }

  struct Result {
    int status = 0;
    json body;
    std::vector<std::string> mismatches;  // empty when the answer matches the recording
  };
  // Sends the recorded request (ids mapped, times shifted) and compares with the recorded response.
  Result replay(const std::string& method, const std::string& path, const json& body,
                int expectedStatus, const json& expectedBody, const httplib::Headers& headers);

  std::string mapString(const std::string& s) const;
  json mapIds(const json& j) const;

 private:
  void learn(const json& expected, const json& actual);
  void compare(const json& expected, const json& actual, const std::string& where,
               std::vector<std::string>& out);
  httplib::Client client_;
  std::map<std::string, std::string> ids_;
  long long shiftMicros_ = 0;
  bool shiftKnown_ = false;
};

}  // namespace prefectsim_test
