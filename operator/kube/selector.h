#pragma once
// Label selectors: the API string syntax ("app=web,tier!=db,env in (a,b),!legacy"), the
// metav1.LabelSelector object form, matching against an object's labels, and URL encoding of
// query parameters.
#include <string>
#include <vector>

#include "operator/kube/api_error.h"

namespace kube {

struct LabelRequirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;  // one for Equals/NotEquals, >= 1 for In/NotIn, none otherwise

  bool matches(const json& labels) const;
  std::string toString() const;
};

class LabelSelector {
 public:
  LabelSelector() = default;  // matches everything
  explicit LabelSelector(std::vector<LabelRequirement> requirements);

  // Parses the string form; errors name the position and the problem (reason BadSelector).
  static Result<LabelSelector> parse(const std::string& text);
  // From a metav1.LabelSelector ({matchLabels, matchExpressions}); null selects everything.
  static Result<LabelSelector> fromObject(const json& selector);

  bool empty() const { return requirements_.empty(); }
  // labels is metadata.labels (an object of strings) or null.
  bool matches(const json& labels) const;
  // Requirements joined with ',' in the API syntax; set values sorted.
  std::string toString() const;
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;
};

// Syntax of a label key (optional DNS-subdomain prefix + '/' + name) and of a label value.
bool isValidLabelKey(const std::string& key);
bool isValidLabelValue(const std::string& value);

// Percent-encodes a query component (RFC 3986 unreserved characters stay).
std::string urlEncode(const std::string& text);

}  // namespace kube
