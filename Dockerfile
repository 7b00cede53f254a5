# flowrun-operator container image for Docker users:
#   docker build -t ghcr.io/flowrun-operator/flowrun-operator:v0.1.0 .
# The same contents as scripts/build-image.sh (which builds it here without Docker): a scratch image
# with the stripped Release binary at /flowrun-operator, exactly the shared libraries ldd lists and
# the dynamic loader, Debian's CA bundle, and passwd/group naming the numeric user 65532. No shell.

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential g++ cmake pkg-config ca-certificates \
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
 && /build/operator/flowrun-operator --version
# The root file system, assembled as scripts/build-image.sh does.
RUN set -e; mkdir -p /rootfs/etc/ssl/certs; \
    install -m 0755 /build/operator/flowrun-operator /rootfs/flowrun-operator; \
    strip --strip-all /rootfs/flowrun-operator; \
    for lib in $(ldd /build/operator/flowrun-operator \
        | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u); do \
      mkdir -p "/rootfs$(dirname "$lib")"; cp -L "$lib" "/rootfs$lib"; chmod 0755 "/rootfs$lib"; \
    done; \
    install -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt; \
    printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >/rootfs/etc/passwd; \
    printf 'nonroot:x:65532:\n' >/rootfs/etc/group; \
    chmod 0644 /rootfs/etc/passwd /rootfs/etc/group; \
    find /rootfs -type d -exec chmod 0755 {} +

FROM scratch
COPY --from=build /rootfs/ /
# 65532 is the conventional "nonroot" user; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/flowrun-operator"]
