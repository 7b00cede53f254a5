#include "operator/kube/exec_credential.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "operator/kube/base64.h"
#include "operator/kube/redaction.h"

extern char** environ;

namespace kube {

namespace {

std::string utcText(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ApiError pluginError(const ExecConfig& exec, const std::string& problem) {
  return ApiError::transport("ExecPluginFailed", "exec plugin " + exec.command + ": " + problem);
}

struct ProcessOutput {
  int exitCode = -1;
  std::string out;
  std::string err;
  bool timedOut = false;
  int execErrno = 0;
};

// fork/exec without a shell. Everything the child needs is prepared before fork(), since only
// async-signal-safe calls are allowed in the child of a threaded process.
std::optional<ProcessOutput> runCommand(const std::string& command,
                                        const std::vector<std::string>& args,
                                        const std::map<std::string, std::string>& extraEnv,
                                        std::chrono::milliseconds timeout, std::string& problem) {
  std::vector<std::string> argvStore{command};
  argvStore.insert(argvStore.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argvStore) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extraEnv) env[k] = v;
  std::vector<std::string> envStore;
  for (const auto& [k, v] : env) envStore.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envStore) envp.push_back(e.data());
  envp.push_back(nullptr);

  int outPipe[2], errPipe[2], execPipe[2];
  if (pipe2(outPipe, O_CLOEXEC) != 0) {
    problem = std::strerror(errno);
    return std::nullopt;
  }
  if (pipe2(errPipe, O_CLOEXEC) != 0) {
    problem = std::strerror(errno);
    close(outPipe[0]);
    close(outPipe[1]);
    return std::nullopt;
  }
  // Reports an exec failure (errno) to the parent; closed by a successful exec (CLOEXEC).
  if (pipe2(execPipe, O_CLOEXEC) != 0) {
    problem = std::strerror(errno);
    for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1]}) close(fd);
    return std::nullopt;
  }
  pid_t pid = fork();
  if (pid < 0) {
    problem = std::strerror(errno);
    for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1], execPipe[0], execPipe[1]})
      close(fd);
    return std::nullopt;
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own process group, so a timeout kills the plugin's children too
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(outPipe[1], 1);
    dup2(errPipe[1], 2);
    execvpe(argv[0], argv.data(), envp.data());
    int err = errno;
    ssize_t ignored = write(execPipe[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(outPipe[1]);
  close(errPipe[1]);
  close(execPipe[1]);

  ProcessOutput result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool outOpen = true, errOpen = true;
  char buf[8192];
  while (outOpen || errOpen) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timedOut = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{outOpen ? outPipe[0] : -1, POLLIN, 0},
                     {errOpen ? errPipe[0] : -1, POLLIN, 0}};
    int r = poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
        // A misbehaving plugin must not exhaust memory.
        if (result.out.size() + result.err.size() > (16u << 20)) {
          kill(-pid, SIGKILL);
          outOpen = errOpen = false;
        }
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? outOpen : errOpen) = false;
      }
    }
  }
  close(outPipe[0]);
  close(errPipe[0]);
  int execErr = 0;
  if (read(execPipe[0], &execErr, sizeof execErr) == static_cast<ssize_t>(sizeof execErr)) {
    result.execErrno = execErr;
  }
  close(execPipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  return result;
}

std::string firstLines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 400) text = text.substr(0, 400) + "...";
  return redactText(text);
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  long offset = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int sign = *rest == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset = sign * (hh * 3600L + mm * 60L);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits (up to 2262): clamp far-future expiries.
  constexpr time_t kMax = 7258118400;  // 2200-01-01T00:00:00Z
  return std::chrono::system_clock::from_time_t(std::min<time_t>(t - offset, kMax));
}

Result<ExecCredential> runExecPlugin(const ExecConfig& exec, const RestConfig& cluster,
                                     std::chrono::milliseconds timeout) {
  json info = {{"apiVersion", exec.apiVersion},
               {"kind", "ExecCredential"},
               {"spec", {{"interactive", false}}}};
  if (exec.provideClusterInfo) {
    json c = {{"server", cluster.server},
              {"insecure-skip-tls-verify", cluster.insecureSkipTlsVerify}};
    if (!cluster.caPem.empty()) c["certificate-authority-data"] = base64Encode(cluster.caPem);
    if (!cluster.tlsServerName.empty()) c["tls-server-name"] = cluster.tlsServerName;
    info["spec"]["cluster"] = c;
  }
  std::map<std::string, std::string> env;
  for (const auto& [k, v] : exec.env) env[k] = v;
  env["KUBERNETES_EXEC_INFO"] = info.dump();

  std::string problem;
  auto out = runCommand(exec.command, exec.args, env, timeout, problem);
  if (!out) return pluginError(exec, "cannot start: " + problem);
  if (out->execErrno) {
    std::string msg = std::string("cannot run: ") + std::strerror(out->execErrno);
    if (!exec.installHint.empty()) msg += " (" + exec.installHint + ")";
    return pluginError(exec, msg);
  }
  if (out->timedOut) {
    return pluginError(exec, "did not finish within " + std::to_string(timeout.count()) + " ms");
  }
  if (out->exitCode != 0) {
    std::string msg = "exited with code " + std::to_string(out->exitCode);
    if (!out->err.empty()) msg += ": " + firstLines(out->err);
    return pluginError(exec, msg);
  }
  json cred = json::parse(out->out, nullptr, false);
  if (cred.is_discarded() || !cred.is_object()) {
    return pluginError(exec, "stdout is not an ExecCredential JSON object");
  }
  if (cred.value("kind", "") != "ExecCredential") {
    return pluginError(
        exec, "stdout: kind is \"" + cred.value("kind", "") + "\", expected ExecCredential");
  }
  if (cred.value("apiVersion", "") != exec.apiVersion) {
    return pluginError(exec, "stdout: apiVersion \"" + cred.value("apiVersion", "") +
                                 "\" does not match the configured " + exec.apiVersion);
  }
  auto st = cred.find("status");
  if (st == cred.end() || !st->is_object()) return pluginError(exec, "stdout: status is missing");
  ExecCredential c;
  c.token = st->value("token", "");
  c.clientCertPem = st->value("clientCertificateData", "");
  c.clientKeyPem = st->value("clientKeyData", "");
  if (c.token.empty() && (c.clientCertPem.empty() || c.clientKeyPem.empty())) {
    return pluginError(exec,
                       "stdout: status has neither a token nor clientCertificateData and "
                       "clientKeyData");
  }
  if (c.clientCertPem.empty() != c.clientKeyPem.empty()) {
    return pluginError(exec, "stdout: clientCertificateData and clientKeyData must come together");
  }
  if (auto exp = st->find("expirationTimestamp"); exp != st->end() && exp->is_string()) {
    c.expiry = parseRfc3339(exp->get<std::string>());
    if (!c.expiry) {
      return pluginError(exec, "stdout: status.expirationTimestamp \"" + exp->get<std::string>() +
                                   "\" is not RFC 3339");
    }
  }
  registerSecret(c.token);
  registerSecret(c.clientKeyPem);
  return c;
}

ExecCredentialProvider::ExecCredentialProvider(ExecConfig exec, RestConfig cluster)
    : exec_(std::move(exec)), cluster_(std::move(cluster)) {}

Result<ExecCredential> ExecCredentialProvider::get() {
  std::lock_guard<std::mutex> lock(mu_);
  // Refresh a little early so a request never goes out with a token about to expire.
  constexpr auto kSkew = std::chrono::seconds(10);
  // A plugin that failed, or handed out a credential already expired, is not run again for
  // every request (a broken plugin would run hundreds of times a second): its error stands
  // for this long.
  constexpr auto kRetryAfterFailure = std::chrono::seconds(5);
  const auto now = std::chrono::system_clock::now();
  if (cached_ && (!cached_->expiry || now + kSkew < *cached_->expiry)) return *cached_;
  const auto steadyNow = std::chrono::steady_clock::now();
  if (lastError_ && steadyNow < nextRun_) return *lastError_;
  ++runs_;
  nextRun_ = steadyNow + kRetryAfterFailure;
  auto c = runExecPlugin(exec_, cluster_);
  if (c && c->expiry && *c->expiry <= now) {
    c = pluginError(exec_, "stdout: status.expirationTimestamp " + utcText(*c->expiry) +
                               " is in the past: the plugin returned a credential that has "
                               "already expired (check the plugin's cache and this machine's "
                               "clock)");
  }
  if (!c) {
    cached_.reset();
    lastError_ = c.error();
    return c.error();
  }
  lastError_.reset();
  cached_ = c.value();
  return c;
}

void ExecCredentialProvider::invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  cached_.reset();
  lastError_.reset();
}

int ExecCredentialProvider::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

}  // namespace kube
