# flowrun-operator container image: build on Debian bookworm, run on bookworm-slim as non-root.
#   docker build -t ghcr.io/flowrun-operator/flowrun-operator:v0.1.0 .
# Our CI machines cannot build images, so this file is kept plain and standard: the same Debian
# packages as scripts/setup.sh and the same CMake commands as a local build (docs/install.md).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential g++ cmake pkg-config \
      libboost1.81-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the operator binary is built from (no tests, no kubesim).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY operator/ operator/
COPY controllers/ controllers/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DFLOWRUN_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target flowrun-operator \
 && strip /build/operator/flowrun-operator \
 && /build/operator/flowrun-operator --version

FROM debian:bookworm-slim
# Runtime libraries of the binary (OpenSSL, yaml-cpp, cpp-httplib) and CA certificates.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libyaml-cpp0.7 libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/operator/flowrun-operator /usr/local/bin/flowrun-operator
# 65532 is the conventional "nonroot" user; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/flowrun-operator"]
