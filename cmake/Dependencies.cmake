# Every dependency comes from a Debian bookworm package. A missing one stops CMake with one line
# that names the package to install.
function(flowrun_require found package)
  if(NOT ${found})
    message(FATAL_ERROR "missing dependency: install the Debian package '${package}' (apt-get install ${package}), or run scripts/setup.sh")
  endif()
endfunction()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

find_package(Boost 1.81 QUIET)
flowrun_require(Boost_FOUND libboost1.81-dev)

find_package(OpenSSL 3 QUIET)
flowrun_require(OPENSSL_FOUND libssl-dev)

find_package(yaml-cpp QUIET)
flowrun_require(yaml-cpp_FOUND libyaml-cpp-dev)

find_package(nlohmann_json 3.11 QUIET)
flowrun_require(nlohmann_json_FOUND nlohmann-json3-dev)

find_package(simdjson 3 QUIET)
flowrun_require(simdjson_FOUND libsimdjson-dev)

find_package(PkgConfig QUIET)
flowrun_require(PKG_CONFIG_FOUND pkg-config)
pkg_check_modules(HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
flowrun_require(HTTPLIB_FOUND libcpp-httplib-dev)

if(FLOWRUN_BUILD_TESTS)
  find_package(Catch2 2 QUIET)
  flowrun_require(Catch2_FOUND catch2)
endif()

# One interface target per dependency, all included as SYSTEM so that their warnings are not ours.
add_library(dep_boost INTERFACE)
target_include_directories(dep_boost SYSTEM INTERFACE ${Boost_INCLUDE_DIRS})
# No BOOST_BEAST_USE_STD_STRING_VIEW: deprecated in Boost 1.81 (it prints a pragma message), where
# beast::string_view is boost::core::string_view, which converts to and from std::string_view.

add_library(dep_ssl INTERFACE)
target_link_libraries(dep_ssl INTERFACE OpenSSL::SSL OpenSSL::Crypto)

add_library(dep_yaml INTERFACE)
get_target_property(_yaml_inc yaml-cpp INTERFACE_INCLUDE_DIRECTORIES)
if(_yaml_inc)
  target_include_directories(dep_yaml SYSTEM INTERFACE ${_yaml_inc})
endif()
target_link_libraries(dep_yaml INTERFACE yaml-cpp)

add_library(dep_json INTERFACE)
target_link_libraries(dep_json INTERFACE nlohmann_json::nlohmann_json)

add_library(dep_simdjson INTERFACE)
target_link_libraries(dep_simdjson INTERFACE simdjson::simdjson)

add_library(dep_httplib INTERFACE)
target_include_directories(dep_httplib SYSTEM INTERFACE ${HTTPLIB_INCLUDE_DIRS})
target_compile_definitions(dep_httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
target_link_libraries(dep_httplib INTERFACE PkgConfig::HTTPLIB dep_ssl Threads::Threads)
