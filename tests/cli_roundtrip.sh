#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_roundtrip.sh SEAM - the command-line tool's encode and decode, end to
# end: JSON -> CBOR hex -> JSON gives the same value, known encodings come
# out byte for byte, and bad input fails with the error's name.
set -euo pipefail
seam=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

# Known encodings (RFC 8949 appendix A and docs/protocol.md).
expect_hex() {
    local got
    got=$("$seam" encode "$1")
    [[ "$got" == "$2" ]] || fail "encode $1: got $got, want $2"
}
expect_hex '0' '00'
expect_hex '-1' '20'
expect_hex '1000000' '1a000f4240'
expect_hex '"a"' '6161'
expect_hex '[1,[2,3]]' '8201820203'
expect_hex '{"op":"add","a":2}' 'a2626f7063616464616102'
expect_hex '{"$date":1000000000}' 'c1fb41cdcd6500000000'
expect_hex '{"$uuid":"00112233-4455-6677-8899-aabbccddeeff"}' 'd8255000112233445566778899aabbccddeeff'
expect_hex '{"$data":"aGk="}' '426869'

# Round trips: the decoded JSON, encoded again, gives the same bytes.
values=(
    'null' 'true' 'false' '0' '-9223372036854775808' '9223372036854775807'
    '{"$uint64":"18446744073709551615"}' '1.5' '-0.0' '{"$double":"nan"}'
    '{"$double":"-inf"}' '""' '"h\u00e9llo \u2603"' '{"$data":""}' '{"$data":"AAEC/w=="}'
    '{"$date":-1.25}' '[]' '{}' '{"$dict":{"$data":1}}'
    '{"name":"seam","tags":["ipc","cbor"],"nested":{"deep":[[[{"x":[1,2,{"y":null}]}]]]}}'
)
for v in "${values[@]}"; do
    hex1=$("$seam" encode "$v") || fail "encode $v"
    json=$("$seam" decode "$hex1") || fail "decode $hex1"
    hex2=$("$seam" encode "$json") || fail "re-encode $json"
    [[ "$hex1" == "$hex2" ]] || fail "round trip of $v: $hex1 != $hex2 (via $json)"
done

# Errors name themselves and exit non-zero.
expect_error() {
    local out status=0
    out=$("$seam" "$@" 2>&1) || status=$?
    [[ $status -ne 0 ]] || fail "seam $* succeeded"
    [[ "$out" == *"$ERR"* ]] || fail "seam $*: wanted $ERR in: $out"
}
ERR=SEAM_EMALFORMED expect_error decode ff
ERR=SEAM_ETRAILING expect_error decode 0000
ERR=SEAM_ETRUNCATED expect_error decode 62ff
ERR=SEAM_EINDEF expect_error decode 9fff
ERR=SEAM_EDUPKEY expect_error decode a2616100616101
ERR=SEAM_EJSON expect_error encode '{"a":'
ERR=SEAM_EFD expect_error encode '{"$fd":0}'

# A JSON error says why and where (byte offset; line and column when the
# text has several lines), and exits 2: the argument is wrong.
json_error() {
    local out status=0
    out=$("$seam" encode "$1" 2>&1) || status=$?
    [[ $status -eq 2 ]] || fail "encode $1: exit $status, wanted 2"
    [[ "$out" == *"$2"*"$3"* ]] || fail "encode $1: wanted '$2' and '$3' in: $out"
}
json_error '{"a":' "at byte 5" "end of file"
json_error '{"a":1,"a":2}' "at byte 10" "duplicate object key"
json_error '{"b":{"$data":"AA="}}' "at byte 14" "not base64"
json_error '18446744073709551616' "at byte 20" '{"$uint64": "..."}'
json_error '[1e999]' "at byte 6" "real number overflow"
json_error '{"$uint64":"-1"}' "at byte 11" "0 to 18446744073709551615"
json_error '{"$uuid":"x"}' "at byte 9" "8-4-4-4-12"
json_error $'[1,\n 2,\n {"$double": "one"}]' "at line 3, column 14 (byte 21)" '"nan"'
out=$(printf '{\n  "a": [1,\n        2,]\n}\n' | "$seam" encode - 2>&1) && fail "bad stdin accepted"
[[ "$out" == *"standard input"*"line 3, column 12"* ]] || fail "stdin JSON error: $out"
ERR="not hexadecimal" expect_error decode zz
ERR="no command 'frobnicate'" expect_error frobnicate
echo "cli round trip: all passed"
