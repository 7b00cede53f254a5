#include "test/kubesim/clock.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "test/kubesim/object_store.h"

namespace kubesim {

std::chrono::steady_clock::duration Clock::scaled(double scenarioSeconds) const {
  if (scenarioSeconds <= 0) return std::chrono::steady_clock::duration::zero();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(scenarioSeconds * scale_));
}

double Clock::nowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Clock::rfc3339(double epochSeconds) {
  std::time_t t = static_cast<std::time_t>(std::floor(epochSeconds));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<double> Clock::parseRfc3339(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  double seconds = static_cast<double>(timegm(&tm));
  std::string rest = text.substr(static_cast<std::size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    double scale = 0.1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      seconds += (rest[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    rest = rest.substr(i);
  }
  if (rest == "Z" || rest.empty()) return seconds;
  int sign = rest[0] == '-' ? -1 : 1;
  int oh = 0, om = 0;
  if ((rest[0] == '+' || rest[0] == '-') &&
      std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) == 2) {
    return seconds - sign * (oh * 3600 + om * 60);
  }
  return std::nullopt;
}

TaskRunner::~TaskRunner() {
  stop();
}

void TaskRunner::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void TaskRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    tasks_.clear();
    due_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void TaskRunner::insertLocked(const std::string& key, std::chrono::steady_clock::time_point at,
                              Task task) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    tasks_.emplace(key, Entry{at, std::move(task)});
    due_.emplace(at, key);
    return;
  }
  if (at < it->second.at) {
    due_.erase({it->second.at, key});
    it->second.at = at;
    due_.emplace(at, key);
  }
  it->second.task = std::move(task);
}

void TaskRunner::schedule(const std::string& key, std::chrono::steady_clock::time_point at,
                          Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    insertLocked(key, at, std::move(task));
  }
  cv_.notify_all();
}

std::size_t TaskRunner::pending() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void TaskRunner::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (tasks_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = tasks_.find(due_.begin()->second);
    auto now = std::chrono::steady_clock::now();
    if (next->second.at > now) {
      // A copy: the task may be cancelled (erased) while this thread waits.
      const auto deadline = next->second.at;
      cv_.wait_until(lock, deadline);
      continue;
    }
    std::string key = next->first;
    Task task = std::move(next->second.task);
    due_.erase(due_.begin());
    tasks_.erase(next);
    lock.unlock();
    bool failed = false;
    try {
      task();
    } catch (const ApiException& e) {
      // NotFound: the object went away between the event and the task; nothing to do.
      if (e.code != 404) {
        failed = true;
        if (e.code != 409) std::cerr << "kubesim: " << key << ": " << e.what() << "\n";
      }
    } catch (const std::exception& e) {
      failed = true;
      std::cerr << "kubesim: " << key << ": " << e.what() << "\n";
    }
    lock.lock();
    if (failed) {
      int n = ++failures_[key];
      auto delay = std::chrono::milliseconds(std::min(5000, 20 << std::min(n, 8)));
      auto it = tasks_.find(key);
      if (it == tasks_.end() && !stopping_) {
        insertLocked(key, std::chrono::steady_clock::now() + delay, std::move(task));
      }
    } else {
      failures_.erase(key);
    }
  }
}

}  // namespace kubesim
