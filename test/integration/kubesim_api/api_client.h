#pragma once
// A minimal HTTPS client for kubesim tests and benchmarks: verifies the server against the
// Simulator's CA, sends the bearer token, and reads watch streams line by line.
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <functional>
#include <memory>
#include <string>

#include "test/kubesim/simulator.h"

namespace kubesimtest {

using json = nlohmann::json;

class ApiClient {
 public:
  ApiClient(kubesim::Simulator& sim, const std::string& user = "admin")
      : client_("127.0.0.1", sim.port()), token_(sim.tokenFor(user)) {
    X509_STORE* store = X509_STORE_new();
    std::string pem = sim.caPem();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    BIO_free(bio);
    client_.set_ca_cert_store(store);  // the client owns the store
    client_.enable_server_certificate_verification(true);
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);
    client_.set_read_timeout(30, 0);
  }

  struct Response {
    int status = 0;
    json body;
    std::string text;
  };

  Response request(const std::string& method, const std::string& path, const json& body = nullptr,
                   const std::string& contentType = "application/json") {
    httplib::Headers h = {{"Authorization", "Bearer " + token_}, {"Accept", "application/json"}};
    httplib::Result r{nullptr, httplib::Error::Unknown};
    std::string payload = body.is_null() ? std::string() : body.dump();
    if (method == "GET")
      r = client_.Get(path.c_str(), h);
    else if (method == "POST")
      r = client_.Post(path.c_str(), h, payload, contentType.c_str());
    else if (method == "PUT")
      r = client_.Put(path.c_str(), h, payload, contentType.c_str());
    else if (method == "PATCH")
      r = client_.Patch(path.c_str(), h, payload, contentType.c_str());
    else if (method == "DELETE")
      r = client_.Delete(path.c_str(), h, payload, "application/json");
    Response out;
    if (!r) return out;
    out.status = r->status;
    out.text = r->body;
    out.body = json::parse(r->body, nullptr, false);
    return out;
  }

  // Streams a watch; `onEvent` gets each event and returns false to stop. Returns the HTTP status.
  int watch(const std::string& path, const std::function<bool(const json&)>& onEvent) {
    httplib::Headers h = {{"Authorization", "Bearer " + token_}, {"Accept", "application/json"}};
    std::string buffer;
    int status = 0;
    auto r = client_.Get(
        path.c_str(), h,
        [&](const httplib::Response& resp) {
          status = resp.status;
          return true;
        },
        [&](const char* data, size_t len) {
          buffer.append(data, len);
          std::size_t nl;
          while ((nl = buffer.find('\n')) != std::string::npos) {
            std::string line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            if (line.empty()) continue;
            json ev = json::parse(line, nullptr, false);
            if (status == 200 && !onEvent(ev)) return false;
            if (status != 200) lastError_ = ev;
          }
          if (status != 200) lastError_ = json::parse(buffer, nullptr, false);
          return true;
        });
    if (r && status == 0) status = r->status;
    return status;
  }
  const json& lastError() const { return lastError_; }

 private:
  httplib::SSLClient client_;
  std::string token_;
  json lastError_;
};

}  // namespace kubesimtest
