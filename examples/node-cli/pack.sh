#!/bin/sh
# Packs examples/node-cli with a pinned Node runtime from the npm registry, and runs it.
#
#   examples/node-cli/pack.sh              fetch, pack into target/node-cli/node-cli, run `greet`
#   examples/node-cli/pack.sh fetch        only fetch: prints the path of the verified tarball
#   examples/node-cli/pack.sh build OUT    fetch and pack into OUT
#
# The runtime is the npm package node-linux-<arch> (its bin/node), pinned to one version and
# checked against the sha512 integrity the registry published for it, which is written below: a
# tarball that does not match is refused, whoever served it. It is cached in
# $SEA_FIXTURES (default ~/.cache/sea-test-fixtures), so only the first run needs the network.
#
# Exit codes: 0 ok; 3 the registry could not be reached (nothing cached yet); 1 anything else,
# including a tarball whose digest does not match.
#
# Environment: SEA_PACK (the sea-pack to use; default target/release/sea-pack, built if missing),
# SEA_FIXTURES (the cache directory).
set -eu

NODE_VERSION=22.23.5
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

case "$(uname -s)-$(uname -m)" in
Linux-x86_64 | Linux-amd64)
    arch=x64
    integrity=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
    ;;
Linux-aarch64 | Linux-arm64)
    arch=arm64
    integrity=sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg==
    ;;
*)
    echo "pack.sh: no pinned Node runtime for $(uname -s) $(uname -m) (only Linux x64 and arm64)" >&2
    exit 1
    ;;
esac
package=node-linux-$arch
fixtures=${SEA_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/sea-test-fixtures}
tarball=$fixtures/$package-$NODE_VERSION.tgz

say() { echo "pack.sh: $*" >&2; }

# The sha512 of a file, as npm's integrity string (sha512-<base64>) written in hex.
expected_sha512() { printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n'; }

verified() {
    [ -f "$1" ] && [ "$(sha512sum "$1" | cut -d' ' -f1)" = "$(expected_sha512)" ]
}

# Downloads into a temporary file beside the cache entry, verifies, then renames: the cache never
# holds a partial or unverified tarball.
fetch() {
    if verified "$tarball"; then
        echo "$tarball"
        return
    fi
    mkdir -p "$fixtures"
    tmp=$(mktemp -d "$fixtures/.fetch-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    url=https://registry.npmjs.org/$package/-/$package-$NODE_VERSION.tgz
    if command -v npm > /dev/null 2>&1; then
        say "fetching $package@$NODE_VERSION with npm pack"
        if ! (cd "$tmp" && npm pack --silent "$package@$NODE_VERSION" > /dev/null); then
            say "could not download $package@$NODE_VERSION from the npm registry (is it reachable?)"
            exit 3
        fi
    elif command -v curl > /dev/null 2>&1; then
        say "fetching $url"
        if ! curl -fsSL --retry 2 -o "$tmp/$package-$NODE_VERSION.tgz" "$url"; then
            say "could not download $url (is the npm registry reachable?)"
            exit 3
        fi
    else
        say "cannot download $package@$NODE_VERSION: neither npm nor curl is installed"
        exit 3
    fi
    if ! verified "$tmp/$package-$NODE_VERSION.tgz"; then
        say "$package-$NODE_VERSION.tgz does not match the pinned integrity $integrity: refusing it"
        exit 1
    fi
    mv "$tmp/$package-$NODE_VERSION.tgz" "$tarball"
    rm -rf "$tmp"
    trap - EXIT
    echo "$tarball"
}

sea_pack() {
    if [ -n "${SEA_PACK:-}" ]; then
        echo "$SEA_PACK"
        return
    fi
    if [ ! -x "$repo/target/release/sea-pack" ] || [ ! -x "$repo/target/release/sea-launcher" ]; then
        say "building sea-pack and sea-launcher (release)"
        (cd "$repo" && cargo build --release --locked -p sea-pack -p sea-launcher >&2)
    fi
    echo "$repo/target/release/sea-pack"
}

# The tree: runtime/ (bin/node and its licence from the tarball) + app/ (this example's code).
build() {
    out=$1
    tgz=$(fetch)
    pack=$(sea_pack)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/tree/runtime"
    tar -xzf "$tgz" -C "$work/tree/runtime" --strip-components 1 package/bin/node package/LICENSE
    cp -R "$here/app" "$work/tree/app"
    # {pkg_dir}: the extracted tree, wherever the user's cache is; a bare app/main.js would be
    # looked up in the user's working directory.
    "$pack" build "$work/tree" --name node-cli --version 1.0.0 \
        --entry runtime/bin/node --arg '{pkg_dir}/app/main.js' \
        --compression zstd:3 -o "$out" >&2
    rm -rf "$work"
    trap - EXIT
}

case "${1:-}" in
fetch) fetch ;;
build)
    [ $# -eq 2 ] || { say "usage: pack.sh build OUT"; exit 1; }
    build "$2"
    ;;
"")
    build "$repo/target/node-cli/node-cli"
    say "packed target/node-cli/node-cli; running it:"
    "$repo/target/node-cli/node-cli" greet "$(id -un)"
    ;;
*)
    say "usage: pack.sh [fetch | build OUT]"
    exit 1
    ;;
esac
