#!/bin/sh
# test_install_example.sh BUILD SOURCE CC - installs BUILD into a temporary
# prefix, checks that cassnn.h includes every installed header and that each
# compiles alone, then compiles a copy of examples/train_idx.c against the
# installed headers and library only (pkg-config --static; C11, pedantic,
# warnings as errors), trains 5000 MNIST images ($CASSNN_DATA/mnist) for one
# epoch and checks that the net was saved and tests well above chance (10
# classes).
set -eu
build=$1 source=$2 cc=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name cassnn.pc)
[ -n "$pc" ] || { echo "no cassnn.pc installed under $prefix" >&2; exit 1; }
# cassnn.h includes every installed header (one that is not public API
# belongs in src/, beside its module) ...
for h in "$prefix"/include/cassnn/*.h; do
    name=${h#"$prefix/include/"}
    grep -q "^#include \"$name\"" "$prefix/include/cassnn.h" ||
        { echo "include/cassnn.h does not include $name (public: add it; internal: move it to src/)" >&2; exit 1; }
done
# ... and each stands alone on the installed include path: none reaches for
# an internal one (src/) or needs another included first.
for h in "$prefix"/include/cassnn.h "$prefix"/include/cassnn/*.h; do
    name=${h#"$prefix/include/"}
    echo "#include <$name>" | "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only \
        -I"$prefix/include" -x c - || { echo "installed header $name does not compile alone" >&2; exit 1; }
done
export PKG_CONFIG_PATH="$(dirname "$pc")"
cp "$source/examples/train_idx.c" "$prefix/"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror -pedantic "$prefix/train_idx.c" \
    $(pkg-config --cflags --libs --static cassnn) -o "$prefix/train_idx"
out=$("$prefix/train_idx" 5000 2 "$prefix/net.safetensors")
echo "$out"
[ -s "$prefix/net.safetensors" ] || { echo "the example saved no net" >&2; exit 1; }
correct=$(echo "$out" | sed -n 's|.*accuracy \([0-9]*\)/\([0-9]*\).*|\1|p')
total=$(echo "$out" | sed -n 's|.*accuracy \([0-9]*\)/\([0-9]*\).*|\2|p')
[ -n "$correct" ] && [ "$total" = 10000 ] || { echo "no test accuracy on 10000 images in the output" >&2; exit 1; }
# Chance is 1000 of 10000; one epoch of 5000 images reaches about 6400.
[ "$correct" -gt 4000 ] || { echo "accuracy $correct/10000: the net did not learn" >&2; exit 1; }
