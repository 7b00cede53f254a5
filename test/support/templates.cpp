#include "test/support/templates.h"

#include <fstream>
#include <sstream>

#include "test/support/process.h"

namespace testsupport {

nlohmann::json silentEngineTemplate() {
  std::ifstream in(sourceDir() + "/controllers/flowrun/default-base-job-template.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json t = nlohmann::json::parse(text.str());
  t["job_configuration"]["job_manifest"]["spec"]["template"]["metadata"] = {
      {"annotations", {{"kubesim.io/prefect-engine", "off"}}}};
  return t;
}

}  // namespace testsupport
