#include <catch2/catch.hpp>

#include "operator/kube/selector.h"

using kube::json;
using kube::LabelSelector;

TEST_CASE("label selectors parse and encode in the API syntax") {
  auto s = LabelSelector::parse("app=web, tier != db,env in (prod, dev),!legacy,track,x==y");
  REQUIRE(s.ok());
  CHECK(s->requirements().size() == 6);
  CHECK(s->toString() == "app=web,tier!=db,env in (dev,prod),!legacy,track,x=y");
  auto notin = LabelSelector::parse("prefect.io/flow-run-id notin (a,b)");
  REQUIRE(notin.ok());
  CHECK(notin->toString() == "prefect.io/flow-run-id notin (a,b)");
  auto empty = LabelSelector::parse("  ");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  CHECK(LabelSelector::parse("a=").ok());  // an empty value is a valid label value
}

TEST_CASE("bad label selectors are rejected with the position") {
  auto bad = [](const std::string& s) {
    auto r = LabelSelector::parse(s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "BadSelector");
    return r.error().message;
  };
  CHECK(bad("a=b,,c") == "label selector \"a=b,,c\" at position 4: expected a label key");
  CHECK(bad("a in b") == "label selector \"a in b\" at position 5: expected '('");
  CHECK(bad("a in (b") == "label selector \"a in (b\" at position 7: expected ',' or ')'");
  CHECK(bad("-a=b") == "label selector \"-a=b\" at position 0: invalid label key \"-a\"");
  CHECK(bad("a>1") ==
        "label selector \"a>1\" at position 1: expected an operator (=, ==, !=, in, notin)");
  CHECK(bad("a=b c") == "label selector \"a=b c\" at position 4: expected ',' or end of selector");
}

TEST_CASE("label selectors match labels like the API server") {
  json labels = {{"app", "web"}, {"env", "prod"}};
  auto m = [&](const std::string& s) { return LabelSelector::parse(s).value().matches(labels); };
  CHECK(m("app=web"));
  CHECK_FALSE(m("app=db"));
  CHECK(m("app!=db"));
  CHECK(m("missing!=x"));  // a missing label satisfies !=
  CHECK(m("env in (prod,dev)"));
  CHECK_FALSE(m("env notin (prod)"));
  CHECK(m("missing notin (prod)"));
  CHECK(m("app"));
  CHECK_FALSE(m("!app"));
  CHECK(m("!missing"));
  CHECK(m("app=web,env=prod"));
  CHECK_FALSE(m("app=web,env=dev"));
  CHECK(LabelSelector().matches(nullptr));
  CHECK_FALSE(LabelSelector::parse("app").value().matches(nullptr));
}

TEST_CASE("metav1.LabelSelector objects convert to the string form") {
  json sel = {{"matchLabels", {{"app", "web"}}},
              {"matchExpressions",
               {{{"key", "env"}, {"operator", "In"}, {"values", {"b", "a"}}},
                {{"key", "legacy"}, {"operator", "DoesNotExist"}}}}};
  auto s = LabelSelector::fromObject(sel);
  REQUIRE(s.ok());
  CHECK(s->toString() == "app=web,env in (a,b),!legacy");
  auto bad =
      LabelSelector::fromObject({{"matchExpressions", {{{"key", "a"}, {"operator", "Like"}}}}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message ==
        "label selector: matchExpressions[0].operator: \"Like\" is not a valid operator");
  auto noValues =
      LabelSelector::fromObject({{"matchExpressions", {{{"key", "a"}, {"operator", "In"}}}}});
  REQUIRE_FALSE(noValues.ok());
}

TEST_CASE("query components are percent-encoded") {
  CHECK(kube::urlEncode("app=web,env in (a,b)") == "app%3Dweb%2Cenv%20in%20%28a%2Cb%29");
  CHECK(kube::urlEncode("prefect.io/flow-run-id") == "prefect.io%2Fflow-run-id");
  CHECK(kube::urlEncode("a-b_c.d~") == "a-b_c.d~");
}

TEST_CASE("label key and value syntax") {
  CHECK(kube::isValidLabelKey("app.kubernetes.io/name"));
  CHECK_FALSE(kube::isValidLabelKey("App.io/name"));  // prefix must be lower case
  CHECK_FALSE(kube::isValidLabelKey("a/b/c"));
  CHECK_FALSE(kube::isValidLabelKey(std::string(64, 'a')));
  CHECK(kube::isValidLabelValue(""));
  CHECK_FALSE(kube::isValidLabelValue("-x"));
}
