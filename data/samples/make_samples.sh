#!/usr/bin/env bash
# Regenerate the sample caller WAVs in this folder.
# Needs Debian's espeak-ng and sox: apt-get install -y espeak-ng sox
# Each file: espeak-ng American English (voice en-us) at 160 words/min; sox converts it to
# 16 kHz mono 16-bit, trims espeak's own leading/trailing silence, normalises the peak to -3 dBFS
# and pads 0.3 s of silence before and after (no dither, so reruns give identical files).
set -euo pipefail
cd "$(dirname "$0")"

say() {  # say NAME "TEXT"
    local tmp
    tmp="$(mktemp --suffix=.wav)"
    espeak-ng -v en-us -s 160 -w "$tmp" "$2"
    sox -D "$tmp" -r 16000 -c 1 -b 16 "$1.wav" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0.3 0.3
    rm -f "$tmp"
}

say hello "Hi, I'm calling about my order."
say order_status "Where is my order? The number is four five two one."
say goodbye "That's all, thank you. Goodbye."
say long_question "I ordered a blue jacket two weeks ago and it still has not arrived, can you tell me when it will be delivered and whether I can change the address?"
say agent_please "Can I talk to a person please?"
# A request refused with its reason (Maria's order 4521 is not delivered yet): a settled call.
say return_undelivered "I want to return order four five two one."
# Backchannels, said over the agent in the noisy-line tests (issue 16).
say okay "Okay."
# Not "Mm-hm.": espeak-ng spells it out, and Whisper hears "M-M-A-K-M" (not a backchannel).
say yeah_yeah "Yeah, yeah."
