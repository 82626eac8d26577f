#!/bin/sh
# The official Deno image's entrypoint behaviour: an option or one of deno's subcommands runs
# deno with the arguments; anything else runs as a command of its own.
set -e
case "$1" in
  -*) exec deno "$@" ;;
  add | bench | bundle | cache | check | compile | completions | coverage | doc | eval | fmt | help | info | init | install | jupyter | lint | lsp | outdated | publish | remove | repl | run | serve | task | test | types | uninstall | upgrade | vendor)
    exec deno "$@" ;;
esac
exec "$@"
