#pragma once
// Cluster identities: generating one (a random version-4 UUID) and checking that a chosen one
// (spec.uid, --cluster-uid, a ClusterProperty value) can stand as the first part of a Prefect
// infrastructure PID ("<cluster uid>:<namespace>:<job name>").
#include <optional>
#include <string>

namespace controllers::clusteridentity {

// A random version-4 UUID (RFC 9562) in lowercase 8-4-4-4-12 form, from OpenSSL's CSPRNG.
// nullopt only when OpenSSL cannot gather entropy (then no identity must be invented).
std::optional<std::string> generateUuidV4();

// True for a lowercase or uppercase 8-4-4-4-12 UUID whose version nibble is 4 and whose variant
// is RFC 9562's (10xx).
bool isUuidV4(const std::string& text);

inline constexpr std::size_t kMaxIdentifierLength = 128;

// Why `uid` cannot be a cluster identity, or nullopt when it can: 1 to 128 characters, each a
// letter, digit, '.', '_' or '-'; ':' is named explicitly because it separates PID parts.
// The message names the offending character and its position, and never echoes more than a
// short prefix of the input.
std::optional<std::string> identifierProblem(const std::string& uid);

}  // namespace controllers::clusteridentity
