#!/usr/bin/env bash
# Builds the flowrun-operator container image without Docker and without a registry: a `scratch`
# image holding the stripped Release binary, exactly the shared libraries `ldd` lists (and the
# dynamic loader), Debian's CA bundle and a passwd/group naming the numeric non-root user 65532.
# No shell, no package manager. It writes the OCI image layout itself and packs it as an OCI archive
#   build/image/flowrun-operator-<version>.oci.tar
# that `podman load`, `docker load` (it also carries a manifest.json), `skopeo copy oci-archive:`,
# `kind load image-archive` and `ctr image import` accept, and prints its digest and size.
# Reproducible: every timestamp is the last commit's time (SOURCE_DATE_EPOCH), owners are 0:0 and
# entries are sorted, so two builds of the same commit give the same digest.
#   scripts/build-image.sh [--binary PATH]   (default: build it in build-rel, CMAKE_BUILD_TYPE=Release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

binary=""
while (($#)); do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    *) echo "build-image.sh: unknown argument $1 (use --binary PATH)" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^project(flowrun-operator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag=v$version
name=ghcr.io/flowrun-operator/flowrun-operator:$tag
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git rev-parse HEAD)

if [[ -z $binary ]]; then
  echo "== Release build of flowrun-operator (build-rel)"
  cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-rel -j "$(nproc)" --target flowrun-operator >/dev/null
  binary=build-rel/operator/flowrun-operator
fi
[[ -x $binary ]] || { echo "build-image.sh: $binary is not an executable" >&2; exit 1; }

out=$root/build/image
work=$out/work
rm -rf "$work"
mkdir -p "$work/rootfs" "$work/layout/blobs/sha256"
rootfs=$work/rootfs

echo "== root file system"
install -m 0755 "$binary" "$rootfs/flowrun-operator"
strip --strip-all "$rootfs/flowrun-operator"
# Every library the binary loads, at the path the loader finds it, plus the loader itself.
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u)
[[ -n $libs ]] || { echo "build-image.sh: ldd listed no libraries for $binary" >&2; exit 1; }
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
  chmod 0755 "$rootfs$lib"
done
mkdir -p "$rootfs/etc/ssl/certs"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'nonroot:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
find "$rootfs" -type d -exec chmod 0755 {} +

# tar without pax time headers (--format=gnu), fixed mtimes and owners, sorted names.
reproducible_tar() { # DIR OUT
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$1" -cf "$2" .
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { # FILE -> moves it into the layout, prints its hex digest
  local d
  d=$(sha "$1")
  mv "$1" "$work/layout/blobs/sha256/$d"
  echo "$d"
}

echo "== OCI layout"
reproducible_tar "$rootfs" "$work/layer.tar"
diff_id=$(sha "$work/layer.tar")
gzip -n -9 "$work/layer.tar"
layer_size=$(size "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")

jq -cn --arg created "$created" --arg diff "sha256:$diff_id" --arg version "$version" \
  --arg revision "$revision" '{
    architecture: "amd64", os: "linux", created: $created,
    config: {
      User: "65532:65532",
      Entrypoint: ["/flowrun-operator"],
      ExposedPorts: {"8080/tcp": {}, "8081/tcp": {}},
      Labels: {
        "org.opencontainers.image.title": "flowrun-operator",
        "org.opencontainers.image.version": $version,
        "org.opencontainers.image.revision": $revision
      }
    },
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created: $created, created_by: "scripts/build-image.sh"}]
  }' | tr -d '\n' >"$work/config.json"
config_size=$(size "$work/config.json")
config=$(blob "$work/config.json")

jq -cn --arg config "sha256:$config" --argjson csize "$config_size" \
  --arg layer "sha256:$layer" --argjson lsize "$layer_size" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $config, size: $csize},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $layer, size: $lsize}]
  }' | tr -d '\n' >"$work/manifest"
manifest_size=$(size "$work/manifest")
manifest=$(blob "$work/manifest")

jq -cn --arg m "sha256:$manifest" --argjson msize "$manifest_size" --arg tag "$tag" \
  --arg name "$name" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $msize,
      annotations: {"org.opencontainers.image.ref.name": $tag, "io.containerd.image.name": $name}
    }]
  }' >"$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
# docker load (before Docker 25) reads manifest.json instead of index.json.
jq -cn --arg c "blobs/sha256/$config" --arg l "blobs/sha256/$layer" --arg name "$name" \
  '[{Config: $c, RepoTags: [$name], Layers: [$l]}]' >"$work/layout/manifest.json"

archive=$out/flowrun-operator-$tag.oci.tar
reproducible_tar "$work/layout" "$archive.tmp"
mv "$archive.tmp" "$archive"
rm -rf "$out/layout"
mv "$work/layout" "$out/layout"
rm -rf "$work"

unpacked=$(tar -xOf "$archive" "./blobs/sha256/$layer" | gzip -dc | wc -c)
echo "image    $name"
echo "archive  ${archive#"$root"/} ($(size "$archive") bytes)"
echo "digest   sha256:$manifest"
echo "size     $layer_size bytes compressed (pulled), $unpacked bytes unpacked"
