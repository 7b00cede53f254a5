#pragma once
// Label selectors (a=b, a!=b, a in (x,y), a notin (x), a, !a) and field selectors
// (metadata.name=x, status.phase!=Running) with the API server's parse errors.
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct LabelRequirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // Throws ApiException 400 with the API server's wording on a malformed selector.
  static LabelSelector parse(const std::string& text);
  // From a metav1.LabelSelector object ({matchLabels, matchExpressions}).
  static LabelSelector fromObject(const json& selector);
  bool matches(const json& labels) const;
  bool empty() const { return reqs_.empty(); }

 private:
  std::vector<LabelRequirement> reqs_;
};

class FieldSelector {
 public:
  // `supported` lists the field labels the resource accepts; anything else is a 400
  // "field label not supported: X".
  static FieldSelector parse(const std::string& text, const std::vector<std::string>& supported);
  bool matches(const json& object) const;
  bool empty() const { return reqs_.empty(); }

 private:
  struct Req {
    std::string field;
    bool negate;
    std::string value;
  };
  std::vector<Req> reqs_;
};

// The field labels a resource supports in field selectors (besides metadata.name/namespace).
std::vector<std::string> supportedFieldLabels(const std::string& qualifiedResource);
// The value of a field label in an object ("" when absent), e.g. "status.phase".
std::string fieldLabelValue(const json& object, const std::string& field);

}  // namespace kubesim
