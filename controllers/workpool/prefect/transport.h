#pragma once
// The one door to a Prefect API server: a request in, a response (or a transport failure) out.
// HttpTransport speaks HTTP; tests put a fake behind the same interface.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace controllers::workpool::prefect {

// Prefect's REST API version the real 2.17.1 client sends (X-PREFECT-API-VERSION).
inline constexpr const char* kApiVersion = "0.8.4";

struct Response {
  // HTTP status, or 0 when no answer came (connection refused, timeout, TLS failure).
  int status = 0;
  nlohmann::json body;  // parsed JSON body; null for 204 or an empty body
  std::string error;    // transport failure or unparsable body, for a person; never holds the key
  bool malformed = false;  // the body was not JSON
  bool ok() const { return status >= 200 && status < 300 && !malformed; }
};

class Transport {
 public:
  virtual ~Transport() = default;
  // `path` is relative to the API URL, e.g. "/work_pools/k8s-pool". `body` null: no body.
  virtual Response request(const std::string& method, const std::string& path,
                           const nlohmann::json& body) = 0;
};

}  // namespace controllers::workpool::prefect
