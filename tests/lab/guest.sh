#!/bin/bash
# Camera lab, step 3: runs inside the VM as root (this machine's root is / read-only, /run is
# scratch, /run/out goes back to the host). Loads vivid and v4l2loopback, then runs every
# scenario, writing each one's output and exit status to /run/out/<scenario>.*; the Rust test
# (tests/camera_lab.rs) judges them.
set -u
OUT=/run/out
# BIN (the emojicam binary), FEED (the webcam's MJPEG frames), RAW_FEED (the same as raw NV12),
# LAB (the cache), HERE (tests/lab).
. $OUT/env
export HOME=/run/home XDG_RUNTIME_DIR=/run/xdg TMPDIR=/run/tmp EMOJICAM_ADAPTER=software RUST_BACKTRACE=0
mkdir -p $HOME $XDG_RUNTIME_DIR $TMPDIR && chmod 700 $XDG_RUNTIME_DIR
# The host's GStreamer plugin registry (boot.sh; same root, same plugin paths), used as it is.
if [ -s $OUT/gst-registry.bin ]; then
    export GST_REGISTRY=$OUT/gst-registry.bin GST_REGISTRY_UPDATE=no
fi
now() { date +%s.%N; }
now >$OUT/guest_start.time
log() { echo "[$(date +%T)] $*"; }
# run NAME TIMEOUT CMD...: stdout/stderr to NAME.out/.err, exit status to NAME.rc.
run() {
    local name=$1 limit=$2; shift 2
    log "$name: $*"
    local t0=$(now)
    timeout -k 5 "$limit" "$@" >$OUT/$name.out 2>$OUT/$name.err
    echo $? >$OUT/$name.rc
    echo "$t0 $(now)" >$OUT/$name.time
    log "$name: exit $(cat $OUT/$name.rc)"
}
# ready N: loopback device N has a writer and takes readers (v4l2loopback 0.12 shows the format
# in sysfs only then). A shell builtin: a program started every half second (ffprobe, a second
# ffmpeg) costs whole seconds of the two emulated CPUs that the emojicam runs need.
ready() {
    local f=
    read -r f </sys/class/video4linux/video$1/format 2>/dev/null
    [ -n "$f" ]
}
# wait_for SECONDS CMD...: polls CMD every half second.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.5
    done
}

# --- no camera at all (before any driver is loaded)
run nocam_list 60 $BIN cameras
run nocam_open 60 $BIN --camera 0 --no-window --record /run/tmp/nocam.mp4

# --- the devices: vivid as camera 0 (a webcam: YUYV and more), vivid as camera 1 (a capture
# card's S-Video input with a scaler and nothing else: sizes listed as a range up to 16384
# wide, though the scaler gives at most 4x the 720x576 PAL picture; its frame interval is
# 1000/25000 s whatever rate is asked), and v4l2loopback devices:
#   10 "Lab Webcam": a UVC-style webcam, fed MJPEG by ffmpeg; its feeder stops at the end, in
#      the middle of a recording (camera lost: v4l2loopback 0.12.7 with exclusive_caps=1 takes
#      no second writer, so that is the last thing done with it)
#   11 "Emojicam Out": the virtual camera emojicam writes (exclusive_caps=1, as browsers need)
#   12 "Planar Cam": a webcam that offers only YUV 4:1:0 (YUV9), a format emojicam does not decode
#   13: a camera whose name is not UTF-8 (exclusive_caps=0: a capture node without a writer)
#   14 "Raw Cam": a capture card or webcam that sends raw NV12 (frames of the clip)
#   15 "I420 Cam": a loopback webcam fed the way ffmpeg and GStreamer feed one by default, planar
#      YU12 (I420) frames of the clip: a format the camera library (nokhwa) has no name for
# The capture card also has a metadata node, /dev/video2 (as each UVC camera has beside its
# video node: node_types bit 17).
modprobe -d $LAB/k vivid n_devs=2 node_types=0x1,0x20001 num_inputs=4,1 input_types=0xe4,0x2 ccs_cap_mode=-1,4 \
    || { echo "vivid did not load" >$OUT/setup.err; exit 1; }
modprobe -d $LAB/k videodev
insmod $LAB/v4l2loopback.ko devices=6 video_nr=10,11,12,13,14,15 exclusive_caps=1,1,1,0,1,1 \
    'card_label="Lab Webcam,Emojicam Out,Planar Cam,Odd'$'\xff''Name,Raw Cam,I420 Cam"' \
    || { echo "v4l2loopback did not load" >$OUT/setup.err; exit 1; }
ls -l /dev/video* >$OUT/devices.txt
# feed DEV INPUT...: a writer for loopback device DEV until it is killed (its pid in FED).
# FEED is the clip already scaled to 320x180 and encoded as MJPEG at 15 fps (by the host:
# decoding H.264 under emulation would starve everything else); the feeders only pace it out.
feed() {
    local dev=$1; shift
    ffmpeg -nostdin -loglevel error "$@" -f v4l2 /dev/video$dev 2>>$OUT/feeder$dev.err &
    FED=$!
}
feed 10 -re -stream_loop -1 -i "$FEED" -c:v copy; FEEDER=$FED
feed 12 -re -f lavfi -i testsrc2=size=320x180:rate=5 -pix_fmt yuv410p; FEEDER3=$FED
# RAW_FEED: the same clip as raw NV12 frames (made by the host), paced out as they are.
feed 14 -re -stream_loop -1 -f rawvideo -pix_fmt nv12 -video_size 320x180 -framerate 15 -i "$RAW_FEED" \
    -c:v rawvideo -pix_fmt nv12; RAW_FEEDER=$FED
feed 15 -re -stream_loop -1 -f rawvideo -pix_fmt nv12 -video_size 320x180 -framerate 15 -i "$RAW_FEED" \
    -c:v rawvideo -pix_fmt yuv420p; I420_FEEDER=$FED
# A loopback webcam appears as a camera once frames flow.
for dev in 10 12 14 15; do
    wait_for 120 ready $dev || log "the feeder of /dev/video$dev did not start"
done
run cameras 120 $BIN cameras

# --- a camera with no mode emojicam decodes, and one whose name is not UTF-8
run unusable 60 $BIN --camera 12 --no-window --record $TMPDIR/unusable.mp4
kill $FEEDER3
run oddname 60 $BIN --camera 13 --no-window --record $TMPDIR/oddname.mp4

# --- a mode the capture card lists (3840x2160, in its size range) but does not take (it sets
# 2880x2160)
run rejected 60 $BIN --camera 1 --size 3840x2160 --no-window --record $TMPDIR/rejected.mp4
# The capture card switched to NTSC: its frame interval is 1001/30000 s (29.97 fps, not a whole
# rate), whatever rate is asked; it is recorded from after the webcam run (below).
python3 $HERE/v4l2_std.py /dev/video1 NTSC >$OUT/ntsc.log 2>&1
run cameras_ntsc 60 $BIN cameras
run card_direct 60 ffmpeg -nostdin -loglevel error -f v4l2 -input_format yuyv422 -video_size 320x180 \
    -i /dev/video1 -frames:v 1 -y $OUT/card_direct.png

# What vivid sends, taken directly (the reference for the mosaic).
run vivid_direct 60 ffmpeg -nostdin -loglevel error -f v4l2 -input_format yuyv422 -video_size 320x180 \
    -i /dev/video0 -frames:v 1 -y $OUT/vivid_direct.png

# --- a driver that refuses to stream (vivid's STREAMON error injection, used up by the first
# VIDIOC_STREAMON: emojicam's)
python3 $HERE/v4l2_button.py /dev/video0 "Inject VIDIOC_STREAMON Error" >$OUT/streamon.log 2>&1
run streamon 60 $BIN --camera 0 --size 320x180 --no-window --record $TMPDIR/streamon.mp4

# --- camera busy: another process streams from vivid
ffmpeg -nostdin -loglevel error -progress $TMPDIR/hog.progress -f v4l2 -input_format yuyv422 \
    -video_size 640x360 -i /dev/video0 -f null - &
HOG=$!
wait_for 120 grep -qs "frame=[1-9]" $TMPDIR/hog.progress || log "the busy camera's other program did not start"
run busy 60 $BIN --camera 0 --no-window --record $TMPDIR/busy.mp4
kill $HOG; wait $HOG 2>/dev/null

# --- permission denied: an unprivileged user (not in the video group; the nodes are root's)
# (a copy of the binary the user can reach: the checkout may sit in a private directory)
# (with a home and temporary directory of its own, as a real user has: otherwise emojicam
# rightly notes an unwritable TMPDIR first)
install -m 755 $BIN $TMPDIR/emojicam-unprivileged
install -d -m 700 -o 65534 -g 65534 $TMPDIR/nobody
run denied 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME=$TMPDIR/nobody TMPDIR=$TMPDIR/nobody $TMPDIR/emojicam-unprivileged --camera 0 --no-window \
    --record $TMPDIR/nobody/denied.mp4
rm -rf $TMPDIR/emojicam-unprivileged $TMPDIR/nobody

# --- the virtual camera's node before anyone writes to it is not a camera; nor is the capture
# card's metadata node
run notcamera 60 $BIN --camera 11 --no-window --record $TMPDIR/notcamera.mp4
run meta 60 $BIN --camera 2 --no-window --record $TMPDIR/meta.mp4

# The timeouts below leave room for a loaded machine: an emojicam start-up (the GPU path under
# emulation) takes about a minute on two idle cores, five when other builds share them.

# --- the MJPEG webcam, chosen by part of its name, into a recording, at the same time as the
# vivid run below (start-up under emulation is mostly one thread compiling shaders); its feeder
# stops some seconds into the recording (camera lost: the recording is written as it goes, one
# fragment a second, so its first bytes mean mosaics are being made).
run webcam 900 $BIN --camera webcam --size 320x180 --no-window --record $OUT/webcam.mp4 &
WEBCAM=$!
(
    wait_for 900 test -s $OUT/webcam.mp4 || log "the webcam recording did not start"
    now >$OUT/webcam_recording.time
    sleep 8
    kill $FEEDER
    now >$OUT/feeder_stop.time
    log "the webcam's feeder stopped"
) &
STOPPER=$!
# --- the capture card (NTSC, 29.97 fps) into a short recording, once the webcam run is over
# (a third start-up beside the other two would slow all of them).
(
    while kill -0 $WEBCAM 2>/dev/null; do sleep 1; done
    run card 900 $BIN --camera 1 --size 320x180 --duration 3 --no-window --record $OUT/card.mp4
) &
CARD=$!
# --- the raw NV12 camera into a short recording, beside the capture card's; then the I420 one
# (captured straight from V4L2).
(
    while kill -0 $WEBCAM 2>/dev/null; do sleep 1; done
    run raw 900 $BIN --camera 14 --duration 3 --no-window --record $OUT/raw.mp4
    kill $RAW_FEEDER
    # Chosen by a link to its device node, as udev's /dev/v4l/by-id/ links are.
    ln -s /dev/video15 $TMPDIR/usb-Lab_I420_Cam-video-index0
    run i420 900 $BIN --camera $TMPDIR/usb-Lab_I420_Cam-video-index0 --duration 3 --no-window --record $OUT/i420.mp4
    kill $I420_FEEDER
) &
RAW=$!

# --- vivid into a recording and the virtual camera, at a size and rate vivid lacks; a
# consumer tries the virtual camera before emojicam starts, stops, another one comes later;
# then vivid is disconnected mid-run. events.txt and vivid_sizes.txt (the recording's size
# twice a second) show whether mosaics kept coming while no consumer read.
event() { echo "$1 $(now)" >>$OUT/events.txt; }
consume() { # consume NAME FRAMES: reads FRAMES frames the way a browser opens the device
    timeout -k 5 300 ffmpeg -nostdin -f v4l2 -i /dev/video11 -frames:v $2 -y $OUT/$1_%d.png >$OUT/$1.log 2>&1
}
(
    # Before emojicam writes, the node is output-only and ffmpeg fails: a browser retries, this
    # one when the node takes readers.
    end=$((SECONDS + 900))
    until consume consumer1 2; do
        echo "$(now) failed" >>$OUT/consumer1.tries
        wait_for $((end - SECONDS)) ready 11 || break
        sleep 1
    done
    echo done >$OUT/consumer1.done
) &
CONSUMER1=$!
wait_for 60 test -s $OUT/consumer1.tries || log "the first consumer did not try"
log "vivid run"
t0=$(now)
timeout -k 5 900 $BIN --camera 0 --size 330x190 --fps 14 --no-window \
    --record $OUT/vivid.mp4 --virtual-camera /dev/video11 >$OUT/vivid.out 2>$OUT/vivid.err &
EMOJICAM=$!
(
    while kill -0 $EMOJICAM 2>/dev/null; do
        echo "$(now) $(stat -c %s $OUT/vivid.mp4 2>/dev/null || echo 0)"
        sleep 0.5
    done
) >$OUT/vivid_sizes.txt &
SAMPLER=$!
wait $CONSUMER1
event consumer1_done
sleep 4
event consumer2_start
consume consumer2 2
event consumer2_done
sleep 4
python3 $HERE/v4l2_button.py /dev/video0 Disconnect >$OUT/disconnect.log 2>&1
event disconnect
echo "$(now)" >$OUT/disconnect.time
wait $EMOJICAM
echo $? >$OUT/vivid.rc
echo "$t0 $(now)" >$OUT/vivid.time
log "vivid run: exit $(cat $OUT/vivid.rc)"
wait $SAMPLER
wait $WEBCAM
wait $CARD
wait $RAW
kill $STOPPER $FEEDER $RAW_FEEDER $I420_FEEDER 2>/dev/null
log "done"
