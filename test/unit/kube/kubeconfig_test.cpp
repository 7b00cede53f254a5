#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include "operator/kube/base64.h"

#include "operator/kube/kubeconfig.h"
#include "test/support/process.h"

using kube::loadRestConfig;

namespace {

const char* kCa = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const char* kCaB64 =  // base64 of kCa
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string config(const std::string& clusters, const std::string& users,
                   const std::string& contexts, const std::string& current) {
  return "apiVersion: v1\nkind: Config\nclusters:\n" + clusters + "users:\n" + users +
         "contexts:\n" + contexts + (current.empty() ? "" : "current-context: " + current + "\n");
}

std::string cluster(const std::string& name, const std::string& server,
                    const std::string& extra = "") {
  return "- name: " + name + "\n  cluster:\n    server: " + server + "\n" + extra;
}
std::string user(const std::string& name, const std::string& body) {
  return "- name: " + name + "\n  user:\n" + body;
}
std::string context(const std::string& name, const std::string& c, const std::string& u,
                    const std::string& ns = "") {
  return "- name: " + name + "\n  context:\n    cluster: " + c + "\n    user: " + u + "\n" +
         (ns.empty() ? "" : "    namespace: " + ns + "\n");
}

}  // namespace

TEST_CASE("kubeconfig with a token and CA data") {
  testsupport::TempDir dir;
  write(dir.file("config"),
        config(cluster("c1", "https://10.0.0.1:6443",
                       std::string("    certificate-authority-data: ") + kCaB64 + "\n"),
               user("u1", "    token: abcdefgh12345678\n"), context("ctx", "c1", "u1", "data"),
               "ctx"));
  auto cfg = loadRestConfig(dir.file("config"), "");
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://10.0.0.1:6443");
  CHECK(cfg->caPem == kCa);
  CHECK(cfg->caSource ==
        "kubeconfig " + dir.file("config") + ": clusters[0].cluster.certificate-authority-data");
  CHECK(cfg->bearerToken == "abcdefgh12345678");
  CHECK(cfg->ns == "data");
  CHECK(cfg->contextName == "ctx");
  CHECK_FALSE(cfg->insecureSkipTlsVerify);
  // What a 401 names: the kind of credential, the user, the file and the context.
  CHECK(kube::describeCredential(cfg.value()) ==
        "the token of user \"u1\" in kubeconfig " + dir.file("config") + " (context ctx)");
}

TEST_CASE("kubeconfig with files relative to the kubeconfig and a tokenFile") {
  testsupport::TempDir dir;
  write(dir.file("ca.crt"), kCa);
  write(dir.file("client.crt"), "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n");
  write(dir.file("client.key"), "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n");
  write(dir.file("token"), "tok-from-file-123\n");
  write(dir.file("config"),
        config(cluster("c1", "https://k8s.example:443", "    certificate-authority: ca.crt\n"),
               user("u1", "    client-certificate: client.crt\n    client-key: " +
                              dir.file("client.key") + "\n    tokenFile: token\n"),
               context("ctx", "c1", "u1"), "ctx"));
  auto cfg = loadRestConfig(dir.file("config"), "");
  REQUIRE(cfg.ok());
  CHECK(cfg->caPem == kCa);
  CHECK(cfg->clientCertPem.find("BEGIN CERTIFICATE") != std::string::npos);
  CHECK(cfg->clientKeyPem.find("PRIVATE KEY") != std::string::npos);
  CHECK(cfg->tokenFile == dir.file("token"));
  CHECK(cfg->bearerToken.empty());
}

TEST_CASE("kubeconfig client certificate data and insecure-skip-tls-verify") {
  testsupport::TempDir dir;
  write(dir.file("config"),
        config(cluster("c1", "https://127.0.0.1:1", "    insecure-skip-tls-verify: true\n"),
               user("u1", std::string("    client-certificate-data: ") + kCaB64 +
                              "\n    client-key-data: " + kCaB64 + "\n"),
               context("ctx", "c1", "u1"), "ctx"));
  auto cfg = loadRestConfig(dir.file("config"), "");
  REQUIRE(cfg.ok());
  CHECK(cfg->insecureSkipTlsVerify);
  CHECK(cfg->clientCertPem == kCa);
  CHECK(cfg->clientKeyPem == kCa);
}

TEST_CASE("kubeconfig --context chooses another context") {
  testsupport::TempDir dir;
  write(dir.file("config"),
        config(cluster("a", "https://a:1") + cluster("b", "https://b:2"),
               user("u", "    token: tokentoken\n"),
               context("ctx-a", "a", "u") + context("ctx-b", "b", "u", "bns"), "ctx-a"));
  auto a = loadRestConfig(dir.file("config"), "");
  REQUIRE(a.ok());
  CHECK(a->server == "https://a:1");
  auto b = loadRestConfig(dir.file("config"), "ctx-b");
  REQUIRE(b.ok());
  CHECK(b->server == "https://b:2");
  CHECK(b->ns == "bns");
  auto missing = loadRestConfig(dir.file("config"), "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message ==
        "kubeconfig " + dir.file("config") + ": --context: context \"nope\" not found");
}

TEST_CASE("KUBECONFIG lists files merged with the first file winning per name") {
  testsupport::TempDir dir;
  write(dir.file("one"), config(cluster("shared", "https://first:1"),
                                user("u", "    token: first-token\n"), "", "ctx"));
  write(dir.file("two"),
        config(cluster("shared", "https://second:2") + cluster("other", "https://other:3"),
               user("u", "    token: second-token\n"),
               context("ctx", "shared", "u") + context("ctx2", "other", "u"), "ctx2"));
  std::string list = dir.file("one") + ":" + dir.file("missing") + ":" + dir.file("two");
  setenv("KUBECONFIG", list.c_str(), 1);
  auto cfg = loadRestConfig("", "");
  unsetenv("KUBECONFIG");
  REQUIRE(cfg.ok());
  // current-context from the first file that sets it; cluster and user from the first file.
  CHECK(cfg->contextName == "ctx");
  CHECK(cfg->server == "https://first:1");
  CHECK(cfg->bearerToken == "first-token");
}

TEST_CASE("the home kubeconfig ~/.kube/config is used when KUBECONFIG is unset") {
  testsupport::TempDir dir;
  std::string kube = dir.path() + "/.kube";
  REQUIRE(testsupport::runProcess({"mkdir", "-p", kube}).exitCode == 0);
  write(kube + "/config", config(cluster("c", "https://home:1"),
                                 user("u", "    token: hometoken\n"), context("x", "c", "u"), "x"));
  unsetenv("KUBECONFIG");
  setenv("HOME", dir.path().c_str(), 1);
  auto cfg = loadRestConfig("", "");
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://home:1");
}

TEST_CASE("broken kubeconfigs get one error naming file, field and problem") {
  testsupport::TempDir dir;
  std::string f = dir.file("config");
  auto err = [&](const std::string& text, const std::string& ctx = "") {
    write(f, text);
    auto cfg = loadRestConfig(f, ctx);
    REQUIRE_FALSE(cfg.ok());
    CHECK(cfg.error().reason == "InvalidKubeconfig");
    return cfg.error().message;
  };
  SECTION("bad YAML") {
    CHECK(
        err("clusters: [\n  - name: a\n").rfind("kubeconfig " + f + ": invalid YAML at line", 0) ==
        0);
  }
  SECTION("missing current context") {
    CHECK(err(config(cluster("c", "https://x:1"), user("u", "    token: t\n"),
                     context("ctx", "c", "u"), "")) ==
          "kubeconfig " + f +
              ": current-context is not set (set it, or choose a context with --context)");
  }
  SECTION("current context not found") {
    CHECK(err(config(cluster("c", "https://x:1"), user("u", "    token: t\n"),
                     context("ctx", "c", "u"), "other")) ==
          "kubeconfig " + f + ": current-context: context \"other\" not found");
  }
  SECTION("missing cluster") {
    CHECK(err(config(cluster("c", "https://x:1"), user("u", "    token: t\n"),
                     context("ctx", "nocluster", "u"), "ctx")) ==
          "kubeconfig " + f + ": contexts[0].context.cluster: cluster \"nocluster\" not found");
  }
  SECTION("missing user") {
    CHECK(err(config(cluster("c", "https://x:1"), user("u", "    token: t\n"),
                     context("ctx", "c", "nouser"), "ctx")) ==
          "kubeconfig " + f + ": contexts[0].context.user: user \"nouser\" not found");
  }
  SECTION("bad base64") {
    CHECK(err(config(cluster("c", "https://x:1"),
                     user("u0", "    token: t\n") +
                         user("u", "    client-certificate-data: " + std::string(kCaB64) +
                                       "\n    client-key-data: '***notbase64'\n"),
                     context("ctx", "c", "u"), "ctx")) ==
          "kubeconfig " + f + ": users[1].user.client-key-data: invalid base64");
  }
  SECTION("unreadable CA file") {
    CHECK(
        err(config(cluster("c", "https://x:1", "    certificate-authority: /nonexistent/ca.crt\n"),
                   user("u", "    token: t\n"), context("ctx", "c", "u"), "ctx")) ==
        "kubeconfig " + f +
            ": clusters[0].cluster.certificate-authority: cannot read /nonexistent/ca.crt: No "
            "such file or directory");
  }
  SECTION("CA data that is not PEM") {
    CHECK(
        err(config(cluster("c", "https://x:1", "    certificate-authority-data: aGVsbG8=\n"),
                   user("u", "    token: t\n"), context("ctx", "c", "u"), "ctx")) ==
        "kubeconfig " + f +
            ": clusters[0].cluster.certificate-authority-data: not PEM data (no -----BEGIN line)");
  }
  SECTION("server missing") {
    CHECK(err("clusters:\n- name: c\n  cluster: {}\nusers: []\ncontexts:\n" +
              context("ctx", "c", "") + "current-context: ctx\n") ==
          "kubeconfig " + f + ": clusters[0].cluster.server: missing");
  }
  SECTION("clusters is not a list") {
    CHECK(err("clusters: 3\n") == "kubeconfig " + f + ": clusters: expected a list");
  }
  SECTION("legacy auth-provider") {
    CHECK(
        err(config(cluster("c", "https://x:1"), user("u", "    auth-provider:\n      name: gcp\n"),
                   context("ctx", "c", "u"), "ctx")) ==
        "kubeconfig " + f +
            ": users[0].user.auth-provider: \"gcp\" is not supported; use an exec credential "
            "plugin instead");
  }
  SECTION("an explicit file that does not exist") {
    auto cfg = loadRestConfig(dir.file("absent"), "");
    REQUIRE_FALSE(cfg.ok());
    CHECK(cfg.error().message ==
          "kubeconfig " + dir.file("absent") + ": cannot read: No such file or directory");
  }
}

TEST_CASE("exec plugin configuration is parsed") {
  testsupport::TempDir dir;
  write(dir.file("config"),
        config(cluster("c", "https://x:1"),
               user("u",
                    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                    "      command: ./bin/plugin\n      args: [get-token, --cluster, x]\n"
                    "      env:\n      - name: A\n        value: b\n"
                    "      provideClusterInfo: true\n      interactiveMode: Never\n"),
               context("ctx", "c", "u"), "ctx"));
  auto cfg = loadRestConfig(dir.file("config"), "");
  REQUIRE(cfg.ok());
  REQUIRE(cfg->exec.has_value());
  CHECK(cfg->exec->command == dir.path() + "/./bin/plugin");
  CHECK(cfg->exec->args == std::vector<std::string>{"get-token", "--cluster", "x"});
  REQUIRE(cfg->exec->env.size() == 1);
  CHECK(cfg->exec->env[0] == std::pair<std::string, std::string>{"A", "b"});
  CHECK(cfg->exec->provideClusterInfo);
}

TEST_CASE("in-cluster configuration from the service account directory") {
  testsupport::TempDir dir;
  write(dir.file("token"), "sa-token-abcdef\n");
  write(dir.file("ca.crt"), kCa);
  write(dir.file("namespace"), "prefect\n");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = kube::inClusterConfig(dir.path());
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://10.96.0.1:443");
  CHECK(cfg->tokenFile == dir.file("token"));
  CHECK(cfg->caPem == kCa);
  CHECK(cfg->ns == "prefect");

  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  auto v6 = kube::inClusterConfig(dir.path());
  REQUIRE(v6.ok());
  CHECK(v6->server == "https://[fd00::1]:443");

  unsetenv("KUBERNETES_SERVICE_HOST");
  auto none = kube::inClusterConfig(dir.path());
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().reason == "NotInCluster");
}

TEST_CASE("base64 decoding") {
  CHECK(kube::base64Decode("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(kube::base64Decode("aGVsbG8") == std::optional<std::string>("hello"));
  CHECK(kube::base64Decode("aGVs\nbG8=") == std::optional<std::string>("hello"));
  CHECK_FALSE(kube::base64Decode("a").has_value());
  CHECK_FALSE(kube::base64Decode("***").has_value());
  CHECK_FALSE(kube::base64Decode("aGVsbG8=x").has_value());
}
