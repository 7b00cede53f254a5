#pragma once
// Standard base64 (RFC 4648, '+' '/', padded), as Kubernetes writes Secret data and kubeconfig
// *-data fields. OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the work.
#include <optional>
#include <string>
#include <string_view>

namespace kube {

std::string base64Encode(std::string_view bytes);
// White space is ignored (hand-edited kubeconfigs wrap long values) and missing padding is
// accepted; nullopt for anything else that is not base64.
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace kube
