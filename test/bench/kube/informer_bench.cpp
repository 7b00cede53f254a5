// Informer benchmark. Prints:
//  - watch events applied per second into the store: (a) parse + transform + apply of watch
//    lines in memory, (b) end to end through the HTTP client's watch stream from a local server;
//  - bytes of memory per cached object (realistic Pods with managedFields), kept whole and
//    trimmed by kube::defaultTransform(), measured with mallinfo2().
// Usage: bench_kube_informer [objects=5000] [events=100000]
#include <httplib.h>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "operator/kube/http_client.h"
#include "operator/kube/object_cache.h"

using kube::json;
using Clock = std::chrono::steady_clock;

namespace {

// A Pod as a Job controller creates it, after kubectl, the controller and the kubelet wrote it.
json realisticPod(int i, int rv) {
  std::string name = "flowrun-" + std::to_string(i) + "-x7k2p";
  std::string uid = "6f0c6f9e-0d4b-4c1e-9f55-" + std::to_string(100000000000 + i);
  json managed = json::array();
  managed.push_back(
      {{"manager", "kube-controller-manager"},
       {"operation", "Update"},
       {"apiVersion", "v1"},
       {"time", "2026-11-23T18:00:00Z"},
       {"fieldsType", "FieldsV1"},
       {"fieldsV1",
        {{"f:metadata",
          {{"f:generateName", json::object()},
           {"f:labels",
            {{".", json::object()},
             {"f:batch.kubernetes.io/controller-uid", json::object()},
             {"f:batch.kubernetes.io/job-name", json::object()},
             {"f:prefect.io/flow-run-id", json::object()},
             {"f:prefect.io/flowrun", json::object()}}},
           {"f:ownerReferences",
            {{".", json::object()}, {"k:{\"uid\":\"" + uid + "\"}", json::object()}}}}},
         {"f:spec",
          {{"f:containers",
            {{"k:{\"name\":\"prefect-job\"}",
              {{".", json::object()},
               {"f:args", json::object()},
               {"f:env",
                {{".", json::object()},
                 {"k:{\"name\":\"PREFECT_API_URL\"}",
                  {{".", json::object()}, {"f:name", json::object()}, {"f:value", json::object()}}},
                 {"k:{\"name\":\"PREFECT__FLOW_RUN_ID\"}",
                  {{".", json::object()},
                   {"f:name", json::object()},
                   {"f:value", json::object()}}}}},
               {"f:image", json::object()},
               {"f:imagePullPolicy", json::object()},
               {"f:name", json::object()},
               {"f:resources", json::object()},
               {"f:terminationMessagePath", json::object()},
               {"f:terminationMessagePolicy", json::object()}}}}},
           {"f:dnsPolicy", json::object()},
           {"f:enableServiceLinks", json::object()},
           {"f:restartPolicy", json::object()},
           {"f:schedulerName", json::object()},
           {"f:securityContext", json::object()},
           {"f:terminationGracePeriodSeconds", json::object()}}}}}});
  managed.push_back(
      {{"manager", "kubelet"},
       {"operation", "Update"},
       {"apiVersion", "v1"},
       {"time", "2026-11-23T18:00:05Z"},
       {"fieldsType", "FieldsV1"},
       {"subresource", "status"},
       {"fieldsV1",
        {{"f:status",
          {{"f:conditions",
            {{"k:{\"type\":\"ContainersReady\"}",
              {{".", json::object()},
               {"f:lastProbeTime", json::object()},
               {"f:lastTransitionTime", json::object()},
               {"f:status", json::object()},
               {"f:type", json::object()}}},
             {"k:{\"type\":\"Initialized\"}",
              {{".", json::object()},
               {"f:lastProbeTime", json::object()},
               {"f:lastTransitionTime", json::object()},
               {"f:status", json::object()},
               {"f:type", json::object()}}},
             {"k:{\"type\":\"Ready\"}",
              {{".", json::object()},
               {"f:lastProbeTime", json::object()},
               {"f:lastTransitionTime", json::object()},
               {"f:status", json::object()},
               {"f:type", json::object()}}}}},
           {"f:containerStatuses", json::object()},
           {"f:hostIP", json::object()},
           {"f:phase", json::object()},
           {"f:podIP", json::object()},
           {"f:podIPs",
            {{".", json::object()},
             {"k:{\"ip\":\"10.244.0.12\"}", {{".", json::object()}, {"f:ip", json::object()}}}}},
           {"f:startTime", json::object()}}}}}});
  json cond = [](const char* type) {
    return json{{"type", type},
                {"status", "True"},
                {"lastProbeTime", nullptr},
                {"lastTransitionTime", "2026-11-23T18:00:05Z"}};
  }("Ready");
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"generateName", "flowrun-" + std::to_string(i) + "-"},
        {"namespace", "data"},
        {"uid", "a1b2c3d4-0000-4000-8000-" + std::to_string(100000000000 + i)},
        {"resourceVersion", std::to_string(rv)},
        {"creationTimestamp", "2026-11-23T18:00:00Z"},
        {"labels",
         {{"batch.kubernetes.io/controller-uid", uid},
          {"batch.kubernetes.io/job-name", "flowrun-" + std::to_string(i)},
          {"controller-uid", uid},
          {"job-name", "flowrun-" + std::to_string(i)},
          {"prefect.io/flow-run-id", "0b8c1b5e-1111-4222-8333-" + std::to_string(100000000000 + i)},
          {"prefect.io/flowrun", "flowrun-" + std::to_string(i)}}},
        {"annotations",
         {{"kubectl.kubernetes.io/last-applied-configuration",
           std::string(
               R"({"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"labels":{"app":"flow"},"name":")") +
               name +
               R"(","namespace":"data"},"spec":{"containers":[{"image":"prefecthq/prefect:3-latest","name":"prefect-job"}]}})"}}},
        {"ownerReferences",
         {{{"apiVersion", "batch/v1"},
           {"kind", "Job"},
           {"name", "flowrun-" + std::to_string(i)},
           {"uid", uid},
           {"controller", true},
           {"blockOwnerDeletion", true}}}},
        {"managedFields", managed}}},
      {"spec",
       {{"containers",
         {{{"name", "prefect-job"},
           {"image", "prefecthq/prefect:3-latest"},
           {"args", {"prefect", "flow-run", "execute"}},
           {"env",
            {{{"name", "PREFECT_API_URL"}, {"value", "http://prefect-server.prefect:4200/api"}},
             {{"name", "PREFECT__FLOW_RUN_ID"},
              {"value", "0b8c1b5e-1111-4222-8333-" + std::to_string(i)}}}},
           {"imagePullPolicy", "IfNotPresent"},
           {"resources", json::object()},
           {"terminationMessagePath", "/dev/termination-log"},
           {"terminationMessagePolicy", "File"}}}},
        {"restartPolicy", "Never"},
        {"terminationGracePeriodSeconds", 30},
        {"dnsPolicy", "ClusterFirst"},
        {"serviceAccountName", "flow-runner"},
        {"nodeName", "kubesim-node-1"},
        {"schedulerName", "default-scheduler"},
        {"securityContext", json::object()}}},
      {"status",
       {{"phase", "Running"},
        {"conditions", {cond, cond, cond}},
        {"hostIP", "172.18.0.2"},
        {"podIP", "10.244.0.12"},
        {"podIPs", {{{"ip", "10.244.0.12"}}}},
        {"startTime", "2026-11-23T18:00:00Z"},
        {"containerStatuses",
         {{{"name", "prefect-job"},
           {"ready", true},
           {"restartCount", 0},
           {"image", "docker.io/prefecthq/prefect:3-latest"},
           {"imageID", "docker.io/prefecthq/prefect@sha256:0123456789abcdef0123456789abcdef"},
           {"containerID", "containerd://0123456789abcdef0123456789abcdef"},
           {"started", true},
           {"state", {{"running", {{"startedAt", "2026-11-23T18:00:04Z"}}}}}}}}}}};
}

std::size_t heapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

double bytesPerObject(int objects, bool trim) {
  std::vector<std::string> lines;
  lines.reserve(objects);
  for (int i = 0; i < objects; ++i) lines.push_back(realisticPod(i, i + 1).dump());
  auto transform = kube::defaultTransform();
  std::size_t before = heapInUse();
  {
    kube::ObjectCache cache;
    cache.apply("", {kube::WatcherEvent::Type::Init, nullptr});
    for (const auto& l : lines) {
      json o = json::parse(l);
      if (trim) o = transform(std::move(o));
      cache.apply("", {kube::WatcherEvent::Type::InitApply, std::move(o)});
    }
    cache.apply("", {kube::WatcherEvent::Type::InitDone, nullptr});
    std::size_t after = heapInUse();
    return static_cast<double>(after - before) / objects;
  }
}

std::vector<std::string> watchLines(int objects, int events) {
  std::vector<std::string> out;
  out.reserve(events);
  for (int e = 0; e < events; ++e) {
    json o = realisticPod(e % objects, 1000 + e);
    out.push_back(json{{"type", e < objects ? "ADDED" : "MODIFIED"}, {"object", o}}.dump() + "\n");
  }
  return out;
}

void inMemoryRate(int objects, int events) {
  auto lines = watchLines(objects, events);
  auto transform = kube::defaultTransform();
  kube::ObjectCache cache;
  cache.apply("", {kube::WatcherEvent::Type::Init, nullptr});
  cache.apply("", {kube::WatcherEvent::Type::InitDone, nullptr});
  std::size_t notifications = 0;
  auto t0 = Clock::now();
  for (const auto& l : lines) {
    json ev = json::parse(l);
    json o = transform(std::move(ev["object"]));
    notifications += cache.apply("", {kube::WatcherEvent::Type::Apply, std::move(o)}).size();
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "watch events applied (in memory: parse + trim + apply): %d events in %.3f s = %.0f events/s "
      "(%zu notifications)\n",
      events, s, events / s, notifications);
  // Apply alone, objects already parsed and trimmed.
  std::vector<json> parsed;
  parsed.reserve(lines.size());
  for (const auto& l : lines) parsed.push_back(transform(json::parse(l)["object"]));
  kube::ObjectCache cache2;
  cache2.apply("", {kube::WatcherEvent::Type::Init, nullptr});
  cache2.apply("", {kube::WatcherEvent::Type::InitDone, nullptr});
  t0 = Clock::now();
  for (auto& o : parsed) cache2.apply("", {kube::WatcherEvent::Type::Apply, std::move(o)});
  s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "watch events applied (store apply + index only):          %d events in %.3f s = %.0f "
      "events/s\n",
      events, s, events / s);
}

void endToEndRate(int objects, int events) {
  auto lines = watchLines(objects, events);
  std::size_t bytes = 0;
  for (const auto& l : lines) bytes += l.size();
  httplib::Server svr;
  svr.Get("/api/v1/pods", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "application/json",
        [&, next = std::size_t{0}](std::size_t, httplib::DataSink& sink) mutable {
          if (next >= lines.size()) {
            sink.done();
            return true;
          }
          std::string buf;
          for (int k = 0; k < 64 && next < lines.size(); ++k) buf += lines[next++];
          return sink.write(buf.data(), buf.size());
        });
  });
  int port = svr.bind_to_any_port("127.0.0.1");
  std::thread th([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kube::RestConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  cfg.qps = 0;
  auto client = kube::makeHttpClient(cfg);
  auto transform = kube::defaultTransform();
  kube::ObjectCache cache;
  cache.apply("", {kube::WatcherEvent::Type::Init, nullptr});
  cache.apply("", {kube::WatcherEvent::Type::InitDone, nullptr});
  auto t0 = Clock::now();
  auto w = client->watch(kube::resources::Pods, "", {});
  int applied = 0;
  if (w.ok()) {
    while (auto ev = w.value()->next()) {
      if (!ev->ok()) break;
      cache.apply("", {kube::WatcherEvent::Type::Apply, transform(std::move(ev->value().object))});
      ++applied;
    }
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "watch events applied (end to end over HTTP/1.1 loopback, %.1f MB): %d events in %.3f s = "
      "%.0f events/s\n",
      bytes / 1e6, applied, s, applied / s);
  svr.stop();
  th.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int objects = argc > 1 ? std::atoi(argv[1]) : 5000;
  int events = argc > 2 ? std::atoi(argv[2]) : 100000;
  std::printf("realistic Pod: %zu bytes of JSON whole, %zu bytes trimmed\n",
              realisticPod(1, 1).dump().size(),
              kube::defaultTransform()(realisticPod(1, 1)).dump().size());
  double whole = bytesPerObject(objects, false);
  double trimmed = bytesPerObject(objects, true);
  std::printf(
      "memory per cached object (%d Pods, mallinfo2): %.0f bytes whole, %.0f bytes trimmed (%.0f%% "
      "saved)\n",
      objects, whole, trimmed, 100.0 * (whole - trimmed) / whole);
  inMemoryRate(objects, events);
  endToEndRate(objects, events);
  return 0;
}
