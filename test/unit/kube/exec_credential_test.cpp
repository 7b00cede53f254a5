#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>
#include "operator/kube/base64.h"

#include "operator/kube/exec_credential.h"
#include "test/support/process.h"

namespace {

std::string writeScript(const testsupport::TempDir& dir, const std::string& body) {
  std::string path = dir.file("plugin.sh");
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
  return path;
}

kube::ExecConfig execConfig(const std::string& command,
                            const std::string& apiVersion = "client.authentication.k8s.io/v1") {
  kube::ExecConfig e;
  e.apiVersion = apiVersion;
  e.command = command;
  return e;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("exec plugin token with expiry, args, env and KUBERNETES_EXEC_INFO") {
  testsupport::TempDir dir;
  std::string script = writeScript(
      dir, "echo \"$KUBERNETES_EXEC_INFO\" > " + dir.file("info") + "\n" +
               "echo \"$1 $MY_VAR\" > " + dir.file("args") + "\n" + "echo run >> " +
               dir.file("runs") + "\n" +
               "cat <<JSON\n"
               "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
               "\"status\":{\"token\":\"plugin-token-123\",\"expirationTimestamp\":\"2999-01-02T03:"
               "04:05Z\"}}\n"
               "JSON\n");
  auto cfg = execConfig(script);
  cfg.args = {"get-token"};
  cfg.env = {{"MY_VAR", "hello"}};
  cfg.provideClusterInfo = true;
  kube::RestConfig cluster;
  cluster.server = "https://127.0.0.1:6443";
  cluster.caPem = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n";

  kube::ExecCredentialProvider provider(cfg, cluster);
  auto c = provider.get();
  REQUIRE(c.ok());
  CHECK(c->token == "plugin-token-123");
  REQUIRE(c->expiry.has_value());
  CHECK(*c->expiry == *kube::parseRfc3339("2999-01-02T03:04:05Z"));
  CHECK(readFile(dir.file("args")) == "get-token hello\n");
  auto info = kube::json::parse(readFile(dir.file("info")));
  CHECK(info["kind"] == "ExecCredential");
  CHECK(info["apiVersion"] == "client.authentication.k8s.io/v1");
  CHECK(info["spec"]["interactive"] == false);
  CHECK(info["spec"]["cluster"]["server"] == "https://127.0.0.1:6443");
  CHECK(kube::base64Decode(
            info["spec"]["cluster"]["certificate-authority-data"].get<std::string>()) ==
        cluster.caPem);

  // Cached until it expires; invalidate() (a 401) runs the plugin again.
  REQUIRE(provider.get().ok());
  CHECK(provider.runs() == 1);
  provider.invalidate();
  REQUIRE(provider.get().ok());
  CHECK(provider.runs() == 2);
  CHECK(readFile(dir.file("runs")) == "run\nrun\n");
}

TEST_CASE("an exec plugin credential that has already expired is refused, not re-run per request") {
  testsupport::TempDir dir;
  std::string script = writeScript(
      dir,
      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"short-lived-token\",\"expirationTimestamp\":\"2000-01-01T00:00:"
      "00Z\"}}'\n");
  kube::ExecCredentialProvider provider(execConfig(script, "client.authentication.k8s.io/v1beta1"),
                                        {});
  auto first = provider.get();
  REQUIRE_FALSE(first.ok());
  CHECK_THAT(first.error().message,
             Catch::Contains("status.expirationTimestamp 2000-01-01T00:00:00Z is in the past"));
  CHECK(first.error().message.find("short-lived-token") == std::string::npos);
  // The same answer for the next requests, without running the plugin again...
  auto second = provider.get();
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message == first.error().message);
  CHECK(provider.runs() == 1);
  // ...until a 401 asks for a fresh credential.
  provider.invalidate();
  REQUIRE_FALSE(provider.get().ok());
  CHECK(provider.runs() == 2);
}

TEST_CASE("exec plugin client certificate") {
  testsupport::TempDir dir;
  std::string script = writeScript(
      dir,
      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY\"}}'\n");
  auto c = kube::runExecPlugin(execConfig(script), {});
  REQUIRE(c.ok());
  CHECK(c->token.empty());
  CHECK(c->clientCertPem == "CERT");
  CHECK(c->clientKeyPem == "KEY");
  CHECK_FALSE(c->expiry.has_value());
}

TEST_CASE("exec plugin failures are reported with the command and stderr") {
  testsupport::TempDir dir;
  SECTION("non-zero exit") {
    std::string script = writeScript(dir, "echo 'you must log in first' >&2\nexit 3\n");
    auto c = kube::runExecPlugin(execConfig(script), {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().reason == "ExecPluginFailed");
    CHECK(c.error().message ==
          "exec plugin " + script + ": exited with code 3: you must log in first");
  }
  SECTION("command not found, with the install hint") {
    auto cfg = execConfig(dir.file("no-such-plugin"));
    cfg.installHint = "install it with brew";
    auto c = kube::runExecPlugin(cfg, {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message ==
          "exec plugin " + dir.file("no-such-plugin") +
              ": cannot run: No such file or directory (install it with brew)");
  }
  SECTION("wrong apiVersion in the output") {
    std::string script =
        writeScript(dir,
                    "echo "
                    "'{\"apiVersion\":\"client.authentication.k8s.io/"
                    "v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}'\n");
    auto c = kube::runExecPlugin(execConfig(script), {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message.find("does not match the configured client.authentication.k8s.io/v1") !=
          std::string::npos);
  }
  SECTION("not JSON") {
    std::string script = writeScript(dir, "echo hello\n");
    auto c = kube::runExecPlugin(execConfig(script), {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message ==
          "exec plugin " + script + ": stdout is not an ExecCredential JSON object");
  }
  SECTION("timeout") {
    std::string script = writeScript(dir, "sleep 5\n");
    auto c = kube::runExecPlugin(execConfig(script), {}, std::chrono::milliseconds(200));
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message == "exec plugin " + script + ": did not finish within 200 ms");
  }
}

TEST_CASE("RFC 3339 timestamps") {
  auto z = kube::parseRfc3339("2026-11-23T19:00:00Z");
  REQUIRE(z);
  CHECK(std::chrono::system_clock::to_time_t(*z) == 1795460400);
  CHECK(kube::parseRfc3339("2026-11-23T20:00:00+01:00") == z);
  CHECK(kube::parseRfc3339("2026-11-23T19:00:00.123456Z") == z);
  CHECK_FALSE(kube::parseRfc3339("yesterday"));
  CHECK_FALSE(kube::parseRfc3339("2026-11-23T19:00:00"));
}
