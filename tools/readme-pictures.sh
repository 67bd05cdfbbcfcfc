#!/usr/bin/env bash
# Remake the README's pictures (docs/before-after.jpg, docs/detail.jpg, docs/variety.jpg) with this
# build's `emojicam render` at the defaults, so that they show what the release draws.
# usage: tools/readme-pictures.sh [path/to/emojicam]   (default: target/release/emojicam; needs ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/emojicam}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff() { ffmpeg -loglevel error -y "$@"; }

# The hero pair: frame 120 of the demo clip and the same 1280x720 frame as emoji, each scaled to 800x450;
# its detail: the 480x270 pixels from 200,60 of the mosaic at full size.
ff -i assets/demo/bigbuckbunny.mp4 -vf 'select=eq(n\,120)' -frames:v 1 "$tmp/frame.png"
"$bin" render -i "$tmp/frame.png" -o "$tmp/mosaic.png"
ff -i "$tmp/frame.png" -i "$tmp/mosaic.png" \
   -filter_complex '[0]scale=800:450:flags=area[a];[1]scale=800:450:flags=area[b];[a][b]hstack' -q:v 4 docs/before-after.jpg
ff -i "$tmp/mosaic.png" -vf 'crop=480:270:200:60' -q:v 4 docs/detail.jpg

# Variety: the left 480 columns of the handheld camera frame at 960x576, before (black, variety 0, every
# emoji as drawn) and with the defaults, 8 white pixels apart.
"$bin" render -i tests/data/photos/handheld.png -o "$tmp/before.png" --size 960x576 --background black --variety 0 --no-dim
"$bin" render -i tests/data/photos/handheld.png -o "$tmp/after.png" --size 960x576
ff -i "$tmp/before.png" -i "$tmp/after.png" \
   -filter_complex '[0]crop=480:576:0:0,pad=488:576:0:0:white[a];[1]crop=480:576:0:0[b];[a][b]hstack' -q:v 4 docs/variety.jpg
echo "wrote docs/before-after.jpg, docs/detail.jpg, docs/variety.jpg"
