#include "test/kubesim/patch.h"

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

// The patchMergeKey of the list fields of the built-in kinds (k8s.io/api struct tags).
std::string mergeKeyFor(const std::string& field, const json& sample) {
  static const std::map<std::string, std::string> keys = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"},
      {"imagePullSecrets", "name"},
      {"conditions", "type"},
      {"ownerReferences", "uid"},
      {"hostAliases", "ip"},
      {"resourceClaims", "name"},
      {"topologySpreadConstraints", "topologyKey"},
      {"readinessGates", "conditionType"},
      {"containerStatuses", "name"},
      {"initContainerStatuses", "name"}};
  if (field == "ports") {
    // Container ports merge on containerPort, service ports on port.
    if (sample.is_object() && sample.contains("containerPort")) return "containerPort";
    return "port";
  }
  auto it = keys.find(field);
  return it == keys.end() ? "" : it->second;
}

bool isPrimitiveMergeList(const std::string& field) {
  return field == "finalizers";
}

json mergeList(const json& orig, const json& patch, const std::string& key);

json mergeMap(json orig, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!orig.is_object()) orig = json::object();
  if (patch.contains("$patch")) {
    std::string d = patch["$patch"].is_string() ? patch["$patch"].get<std::string>() : "";
    if (d == "replace") {
      json r = patch;
      r.erase("$patch");
      return r;
    }
    if (d == "delete") return json();
  }
  if (patch.contains("$retainKeys") && patch["$retainKeys"].is_array()) {
    std::set<std::string> keep;
    for (const auto& k : patch["$retainKeys"]) keep.insert(k.get<std::string>());
    for (auto it = orig.begin(); it != orig.end();) {
      if (!keep.count(it.key()))
        it = orig.erase(it);
      else
        ++it;
    }
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (k == "$patch" || k == "$retainKeys" || k.rfind("$setElementOrder/", 0) == 0) continue;
    const std::string delPrefix = "$deleteFromPrimitiveList/";
    if (k.rfind(delPrefix, 0) == 0) {
      std::string f = k.substr(delPrefix.size());
      if (orig.contains(f) && orig[f].is_array() && it->is_array()) {
        json kept = json::array();
        for (const auto& e : orig[f]) {
          bool drop = false;
          for (const auto& d : *it) drop = drop || d == e;
          if (!drop) kept.push_back(e);
        }
        orig[f] = kept;
      }
      continue;
    }
    const json& pv = it.value();
    if (pv.is_null()) {
      orig.erase(k);
      continue;
    }
    if (pv.is_object()) {
      json merged = mergeMap(orig.contains(k) ? orig[k] : json::object(), pv);
      if (merged.is_null())
        orig.erase(k);
      else
        orig[k] = merged;
      continue;
    }
    if (pv.is_array()) {
      std::string key = mergeKeyFor(k, pv.empty() ? json() : pv[0]);
      if (!key.empty() && orig.contains(k) && orig[k].is_array()) {
        orig[k] = mergeList(orig[k], pv, key);
        continue;
      }
      if (isPrimitiveMergeList(k) && orig.contains(k) && orig[k].is_array()) {
        json u = orig[k];
        for (const auto& e : pv) {
          bool found = false;
          for (const auto& o : u) found = found || o == e;
          if (!found) u.push_back(e);
        }
        orig[k] = u;
        continue;
      }
      // Strip directives from elements of a list that is replaced or newly added.
      json clean = json::array();
      for (const auto& e : pv) {
        if (e.is_object() && e.contains("$patch")) continue;
        clean.push_back(e);
      }
      orig[k] = clean;
      continue;
    }
    orig[k] = pv;
  }
  return orig;
}

json mergeList(const json& orig, const json& patch, const std::string& key) {
  for (const auto& e : patch) {
    if (e.is_object() && e.size() == 1 && e.value("$patch", std::string()) == "replace") {
      json r = json::array();
      for (const auto& x : patch) {
        if (!(x.is_object() && x.contains("$patch"))) r.push_back(x);
      }
      return r;
    }
  }
  json result = orig;
  for (const auto& e : patch) {
    if (!e.is_object() || !e.contains(key)) {
      result.push_back(e);
      continue;
    }
    bool del = e.value("$patch", std::string()) == "delete";
    bool found = false;
    for (std::size_t i = 0; i < result.size(); ++i) {
      if (result[i].is_object() && result[i].contains(key) && result[i][key] == e[key]) {
        found = true;
        if (del) {
          result.erase(i);
        } else {
          result[i] = mergeMap(result[i], e);
        }
        break;
      }
    }
    if (!found && !del) {
      json clean = e;
      clean.erase("$patch");
      result.push_back(clean);
    }
  }
  return result;
}

std::string keySegment(const json& element, const std::string& key) {
  json k = json::object();
  k[key] = element[key];
  return "k:" + k.dump();
}

json setOf(const json& v, const std::string& field, bool top) {
  json s = json::object();
  if (v.is_object()) {
    if (!top && field != "metadata") s["."] = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      s["f:" + it.key()] = setOf(it.value(), it.key(), false);
    }
    if (s.size() == 1 && s.contains(".")) return json::object();
    return s;
  }
  if (v.is_array()) {
    std::string key = mergeKeyFor(field, v.empty() ? json() : v[0]);
    if (key.empty()) return json::object();
    for (const auto& e : v) {
      if (e.is_object() && e.contains(key)) {
        json es = setOf(e, "", false);
        if (es.empty()) es["."] = json::object();
        s[keySegment(e, key)] = es;
      }
    }
    return s;
  }
  return json::object();
}

void leaves(const json& s, std::vector<std::string>& cur,
            std::vector<std::vector<std::string>>& out) {
  bool hasChild = false;
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (it.key() == ".") continue;
    hasChild = true;
    cur.push_back(it.key());
    leaves(it.value(), cur, out);
    cur.pop_back();
  }
  if (!hasChild && !cur.empty()) out.push_back(cur);
}

json insertPath(json s, const std::vector<std::string>& segs) {
  json* cur = &s;
  for (const auto& seg : segs) {
    if (!cur->contains(seg)) (*cur)[seg] = json::object();
    cur = &(*cur)[seg];
  }
  return s;
}

bool containsPath(const json& s, const std::vector<std::string>& segs) {
  const json* cur = &s;
  for (const auto& seg : segs) {
    if (!cur->is_object() || !cur->contains(seg)) return false;
    cur = &(*cur)[seg];
  }
  return true;
}

void diff(const json& a, const json& b, const std::string& field, std::vector<std::string>& cur,
          json& out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      cur.push_back("f:" + k);
      diff(a.contains(k) ? a[k] : json(), b.contains(k) ? b[k] : json(), k, cur, out);
      cur.pop_back();
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    std::string key = mergeKeyFor(field, !b.empty() ? b[0] : (!a.empty() ? a[0] : json()));
    if (!key.empty()) {
      std::map<std::string, json> am, bm;
      for (const auto& e : a)
        if (e.is_object() && e.contains(key)) am[keySegment(e, key)] = e;
      for (const auto& e : b)
        if (e.is_object() && e.contains(key)) bm[keySegment(e, key)] = e;
      std::set<std::string> keys;
      for (auto& [k, _] : am) keys.insert(k);
      for (auto& [k, _] : bm) keys.insert(k);
      for (const auto& k : keys) {
        cur.push_back(k);
        diff(am.count(k) ? am[k] : json(), bm.count(k) ? bm[k] : json(), "", cur, out);
        cur.pop_back();
      }
      return;
    }
  }
  if (b.is_object() && !a.is_object()) {
    // A new object: every leaf in it changed.
    std::vector<std::vector<std::string>> ls;
    std::vector<std::string> tmp;
    leaves(setOf(b, field, false), tmp, ls);
    if (ls.empty()) out = insertPath(out, cur);
    for (auto& l : ls) {
      auto p = cur;
      p.insert(p.end(), l.begin(), l.end());
      out = insertPath(out, p);
    }
    return;
  }
  if (!cur.empty()) out = insertPath(out, cur);
}

}  // namespace

json applyMergePatch(json target, const json& patch) {
  target.merge_patch(patch);
  return target;
}

json applyJsonPatch(const json& target, const json& ops) {
  try {
    return target.patch(ops);
  } catch (const json::exception& e) {
    throw ApiException(
        422, "Invalid",
        std::string("the server rejected our request due to an error in our request: ") + e.what());
  }
}

json applyStrategicMergePatch(json target, const json& patch) {
  json r = mergeMap(std::move(target), patch);
  return r.is_null() ? json::object() : r;
}

json fieldSetOf(const json& object) {
  json o = object;
  if (o.is_object()) {
    o.erase("apiVersion");
    o.erase("kind");
    if (o.contains("metadata") && o["metadata"].is_object()) {
      json m = json::object();
      for (const char* k : {"labels", "annotations", "finalizers", "ownerReferences"}) {
        if (o["metadata"].contains(k)) m[k] = o["metadata"][k];
      }
      if (m.empty())
        o.erase("metadata");
      else
        o["metadata"] = m;
    }
  }
  return setOf(o, "", true);
}

json fieldSetUnion(const json& a, const json& b) {
  json r = a.is_object() ? a : json::object();
  if (!b.is_object()) return r;
  for (auto it = b.begin(); it != b.end(); ++it) {
    r[it.key()] = r.contains(it.key()) ? fieldSetUnion(r[it.key()], it.value()) : it.value();
  }
  return r;
}

std::vector<std::vector<std::string>> fieldSetLeafSegments(const json& s) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> cur;
  if (s.is_object()) leaves(s, cur, out);
  return out;
}

json fieldSetDifference(const json& a, const json& b) {
  json r = json::object();
  for (const auto& l : fieldSetLeafSegments(a)) {
    if (!containsPath(b, l)) r = insertPath(r, l);
  }
  return r;
}

json fieldSetIntersection(const json& a, const json& b) {
  json r = json::object();
  for (const auto& l : fieldSetLeafSegments(a)) {
    if (containsPath(b, l)) r = insertPath(r, l);
  }
  return r;
}

bool fieldSetEmpty(const json& s) {
  return fieldSetLeafSegments(s).empty();
}

std::vector<std::string> fieldSetPaths(const json& s) {
  std::vector<std::string> out;
  for (const auto& l : fieldSetLeafSegments(s)) {
    // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on `"[" + s + "]"` chains.
    std::string p;
    for (const auto& seg : l) {
      const std::string_view v(seg);
      if (v.starts_with("f:")) {
        p.append(".").append(v.substr(2));
      } else if (v.starts_with("k:")) {
        p.append("[").append(v.substr(2)).append("]");
      } else if (v.starts_with("v:")) {
        p.append("[").append(v).append("]");
      }
    }
    out.push_back(p);
  }
  return out;
}

json changedFields(const json& before, const json& after) {
  json out = json::object();
  std::vector<std::string> cur;
  diff(before, after, "", cur, out);
  return out;
}

json valueAtSetPath(const json& object, const std::vector<std::string>& segments) {
  const json* cur = &object;
  for (const auto& seg : segments) {
    if (seg.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return json();
      auto it = cur->find(seg.substr(2));
      if (it == cur->end()) return json();
      cur = &*it;
    } else if (seg.rfind("k:", 0) == 0) {
      if (!cur->is_array()) return json();
      json key = json::parse(seg.substr(2), nullptr, false);
      const json* found = nullptr;
      for (const auto& e : *cur) {
        bool match = e.is_object() && key.is_object();
        if (match) {
          for (auto it = key.begin(); it != key.end(); ++it) {
            match = match && e.contains(it.key()) && e[it.key()] == it.value();
          }
        }
        if (match) {
          found = &e;
          break;
        }
      }
      if (!found) return json();
      cur = found;
    } else {
      return json();
    }
  }
  return *cur;
}

void removeFieldSet(json& object, const json& set) {
  if (!set.is_object()) return;
  for (auto it = set.begin(); it != set.end(); ++it) {
    const std::string& seg = it.key();
    if (seg == ".") continue;
    bool leaf = true;
    for (auto c = it.value().begin(); c != it.value().end(); ++c) leaf = leaf && c.key() == ".";
    if (seg.rfind("f:", 0) == 0 && object.is_object()) {
      std::string k = seg.substr(2);
      if (!object.contains(k)) continue;
      if (leaf) {
        object.erase(k);
      } else {
        removeFieldSet(object[k], it.value());
        // An object the manager created and now left empty goes away with it.
        if (it.value().contains(".") && object[k].is_object() && object[k].empty()) object.erase(k);
      }
    } else if (seg.rfind("k:", 0) == 0 && object.is_array()) {
      json key = json::parse(seg.substr(2), nullptr, false);
      for (std::size_t i = 0; i < object.size(); ++i) {
        bool match = object[i].is_object() && key.is_object();
        for (auto k = key.begin(); match && k != key.end(); ++k) {
          match = object[i].contains(k.key()) && object[i][k.key()] == k.value();
        }
        if (!match) continue;
        if (leaf || it.value().contains(".")) {
          object.erase(i);
        } else {
          removeFieldSet(object[i], it.value());
        }
        break;
      }
    }
  }
}

}  // namespace kubesim
