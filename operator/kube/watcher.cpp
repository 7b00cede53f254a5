#include "operator/kube/watcher.h"

#include <random>

#include "operator/kube/log.h"

namespace kube {

const char* toString(Watcher::State state) {
  switch (state) {
    case Watcher::State::Empty:
      return "Empty";
    case Watcher::State::InitPage:
      return "InitPage";
    case Watcher::State::InitListed:
      return "InitListed";
    case Watcher::State::Watching:
      return "Watching";
  }
  return "?";
}

Watcher::Watcher(Client& client, ResourceType type, WatcherConfig config)
    : client_(client), type_(std::move(type)), config_(std::move(config)) {}

Result<std::vector<WatcherEvent>> Watcher::step() {
  // A list in progress is already fresh; a watch (open or about to be) gives way to a relist.
  if ((state_ == State::InitListed || state_ == State::Watching) && relist_.exchange(false)) {
    closeStream();
    state_ = State::Empty;
  }
  switch (state_) {
    case State::Empty:
      ++relists_;
      continueToken_.clear();
      state_ = State::InitPage;
      return std::vector<WatcherEvent>{{WatcherEvent::Type::Init, json()}};
    case State::InitPage:
      return listPage();
    case State::InitListed:
      return openWatch();
    case State::Watching:
      return nextEvent();
  }
  return std::vector<WatcherEvent>{};
}

Result<std::vector<WatcherEvent>> Watcher::listPage() {
  ListOptions opts;
  opts.labelSelector = config_.labelSelector;
  opts.fieldSelector = config_.fieldSelector;
  opts.keep = config_.keep;
  opts.limit = config_.pageSize;
  opts.continueToken = continueToken_;
  opts.allPages = false;
  auto page = client_.list(type_, config_.ns, opts);
  if (!page) {
    if (page.error().isGone()) {
      // The continue token expired between pages: the list must start over.
      state_ = State::Empty;
      return std::vector<WatcherEvent>{};
    }
    return page.error();
  }
  // Every page of one list is served from one snapshot, whose version the first page names. Keep
  // that one, as client-go does: a watch opened from a later page's version (a server that
  // answered each page at its current version) would miss what changed while paging.
  if (continueToken_.empty() || listResourceVersion_.empty()) {
    listResourceVersion_ = page->resourceVersion;
  }
  std::vector<WatcherEvent> events;
  events.reserve(page->items.size() + 1);
  for (auto& item : page->items) {
    events.push_back({WatcherEvent::Type::InitApply, std::move(item)});
  }
  continueToken_ = page->continueToken;
  if (continueToken_.empty()) {
    resourceVersion_ = listResourceVersion_;
    state_ = State::InitListed;
    events.push_back({WatcherEvent::Type::InitDone, json()});
  }
  return events;
}

Result<std::vector<WatcherEvent>> Watcher::openWatch() {
  WatchOptions opts;
  opts.labelSelector = config_.labelSelector;
  opts.fieldSelector = config_.fieldSelector;
  opts.keep = config_.keep;
  opts.resourceVersion = resourceVersion_;
  opts.allowBookmarks = config_.bookmarks;
  opts.timeoutSeconds = config_.watchTimeoutSeconds;
  if (opts.timeoutSeconds <= 0) {
    thread_local std::mt19937 rng{std::random_device{}()};
    opts.timeoutSeconds = std::uniform_int_distribution<int>(300, 599)(rng);
  }
  if (cancelled_.load()) return ApiError::transport("Cancelled", "the watcher was cancelled");
  auto stream = client_.watch(type_, config_.ns, opts);
  if (!stream) {
    if (stream.error().isGone()) {
      state_ = State::Empty;
      log(LogLevel::Info, "resourceVersion expired; relisting",
          {{"resource", type_.qualifiedName()},
           {"namespace", config_.ns},
           {"resourceVersion", resourceVersion_}});
      return std::vector<WatcherEvent>{};
    }
    return stream.error();
  }
  {
    std::lock_guard<std::mutex> lock(streamMu_);
    stream_ = std::move(stream.value());
    // cancel() may have run between the check above and here.
    if (cancelled_.load()) stream_->cancel();
  }
  ++watchesOpened_;
  streamDelivered_ = false;
  state_ = State::Watching;
  return std::vector<WatcherEvent>{};
}

void Watcher::setResourceVersion(const json& object) {
  if (!object.is_object()) return;
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return;
  auto rv = md->find("resourceVersion");
  if (rv != md->end() && rv->is_string() && !rv->get<std::string>().empty()) {
    resourceVersion_ = rv->get<std::string>();
  }
}

void Watcher::closeStream() {
  std::lock_guard<std::mutex> lock(streamMu_);
  stream_.reset();
}

Result<std::vector<WatcherEvent>> Watcher::nextEvent() {
  WatchStream* stream = nullptr;
  {
    std::lock_guard<std::mutex> lock(streamMu_);
    stream = stream_.get();
  }
  // Only this thread resets stream_, so the pointer stays valid while next() blocks.
  auto ev = stream->next();
  if (!ev) {
    closeStream();
    state_ = State::InitListed;
    if (cancelled_.load()) return ApiError::transport("Cancelled", "the watcher was cancelled");
    if (relist_.load()) return std::vector<WatcherEvent>{};  // ended by requestRelist()
    if (!streamDelivered_) {
      return ApiError::transport("WatchEnded", "the watch ended without delivering anything");
    }
    return std::vector<WatcherEvent>{};
  }
  if (!ev->ok()) {
    closeStream();
    const ApiError& e = ev->error();
    if (e.isGone()) {
      state_ = State::Empty;
      log(LogLevel::Info, "watch expired (410); relisting",
          {{"resource", type_.qualifiedName()},
           {"namespace", config_.ns},
           {"resourceVersion", resourceVersion_}});
      return std::vector<WatcherEvent>{};
    }
    // A broken connection: resume from the last resourceVersion seen.
    state_ = State::InitListed;
    if (relist_.load()) return std::vector<WatcherEvent>{};  // ended by requestRelist()
    return e;
  }
  streamDelivered_ = true;
  WatchEvent& we = ev->value();
  setResourceVersion(we.object);
  if (we.type == "BOOKMARK") return std::vector<WatcherEvent>{};
  if (we.type == "DELETED") {
    return std::vector<WatcherEvent>{{WatcherEvent::Type::Delete, std::move(we.object)}};
  }
  return std::vector<WatcherEvent>{{WatcherEvent::Type::Apply, std::move(we.object)}};
}

void Watcher::cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(streamMu_);
  if (stream_) stream_->cancel();
}

void Watcher::requestRelist() {
  relist_.store(true);
  std::lock_guard<std::mutex> lock(streamMu_);
  if (stream_) stream_->cancel();
}

}  // namespace kube
