#!/bin/sh
# Build-time helper for the package plugins (no generated file is ever committed).
#   embed.sh bpf CLANG SOURCE OBJECT OUT.swift  — compile a CO-RE kernel program, embed it as base64
#   embed.sh sql OUT.swift FILE.sql...          — embed SQL migrations, in the order given
set -eu
mode=$1; shift
case "$mode" in
bpf)
    clang=$1 src=$2 obj=$3 out=$4
    arch_inc=/usr/include/$(uname -m)-linux-gnu
    "$clang" -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$arch_inc" -Wall -Werror \
        -Wno-default-const-init-var-unsafe -Wno-unknown-warning-option -c "$src" -o "$obj"
    {
        echo "// Generated from $(basename "$src") at build time. Do not edit."
        printf 'let embeddedBPFObjectBase64 = "'
        base64 -w0 "$obj"
        echo '"'
    } > "$out.tmp"
    mv "$out.tmp" "$out"
    ;;
sql)
    out=$1; shift
    {
        echo "// Generated from schema/*.sql at build time. Do not edit."
        echo "let embeddedMigrations: [(name: String, sql: String)] = ["
        for f in "$@"; do
            printf '    ("%s", #"""\n' "$(basename "$f" .sql)"
            cat "$f"
            printf '\n"""#),\n'
        done
        echo "]"
    } > "$out.tmp"
    mv "$out.tmp" "$out"
    ;;
*) echo "embed.sh: unknown mode $mode" >&2; exit 2 ;;
esac
