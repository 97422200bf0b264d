#!/usr/bin/env bash
# A local Neo4j Community server from Maven Central jars: no Docker, no tarball, no root tricks.
#
#   neo4j.sh build                                  resolve jars into target/lib (skipped when up to date)
#   neo4j.sh start  [--home DIR] [--port PORT]      start in the background, wait for Bolt, print the URI
#   neo4j.sh stop   [--home DIR]                    stop the server started with that home
#   neo4j.sh status [--home DIR]                    print the state (exit 0 running, 3 stopped)
#   neo4j.sh run    [--home DIR] [--port PORT]      run in the foreground (used by neo4j_server.py)
#
# Defaults: --home "${FLOWSYNC_HOME:-<repo>/data}/neo4j", --port 7687.  Environment: NEO4J_HEAP
# (default 512m), NEO4J_START_TIMEOUT seconds (default 120), JAVA (a java binary), MVN.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$TOOLS_DIR/../.." && pwd)"
LIB_DIR="$TOOLS_DIR/target/lib"
STAMP="$LIB_DIR/.stamp"
MAIN_CLASS=org.neo4j.server.CommunityEntryPoint

die() { echo "neo4j.sh: $*" >&2; exit 1; }

find_java() {
  local java="${JAVA:-}"
  if [[ -z "$java" ]]; then
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then java="$JAVA_HOME/bin/java"; else java=java; fi
  fi
  command -v "$java" >/dev/null 2>&1 \
    || die "Java not found: install a JDK/JRE 17 or 21 (Debian: apt-get install openjdk-17-jre-headless)"
  local major
  major="$("$java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')"
  [[ -n "$major" && "$major" -ge 17 ]] \
    || die "Neo4j 5.26 needs Java 17 or 21, but $java is version ${major:-unknown}"
  if ((major > 21)); then
    echo "neo4j.sh: warning: Neo4j 5.26 supports Java 17 and 21, $java is $major (set JAVA=...)" >&2
  fi
  echo "$java"
}

cmd_build() {
  # Up to date when the stamp is newer than the pom (re-runs cost milliseconds).
  find_java >/dev/null
  if [[ -f "$STAMP" && "$STAMP" -nt "$TOOLS_DIR/pom.xml" ]]; then return 0; fi
  local mvn="${MVN:-mvn}"
  command -v "$mvn" >/dev/null 2>&1 || die "Maven not found: install Maven 3.8+ (Debian: apt-get install maven)"
  mkdir -p "$TOOLS_DIR/target"
  # Concurrent builds (parallel test sessions) wait for each other instead of racing; the
  # subshell keeps the lock's file descriptor away from a server started afterwards.
  (
    flock 9
    if [[ -f "$STAMP" && "$STAMP" -nt "$TOOLS_DIR/pom.xml" ]]; then exit 0; fi
    echo "neo4j.sh: resolving Neo4j jars into $LIB_DIR (first run downloads ~125 MB to ~/.m2)" >&2
    rm -rf "$LIB_DIR"
    "$mvn" -B -q -f "$TOOLS_DIR/pom.xml" package >&2 || die "mvn package failed (see output above)"
    touch "$STAMP"
  ) 9>"$TOOLS_DIR/target/.build.lock"
}

# Parse --home/--port (and their --opt=value forms) into HOME_DIR / PORT.
parse_args() {
  HOME_DIR="${FLOWSYNC_HOME:-$REPO_DIR/data}/neo4j"
  PORT=7687
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --home) HOME_DIR="${2:?--home needs a directory}"; shift 2 ;;
      --home=*) HOME_DIR="${1#*=}"; shift ;;
      --port) PORT="${2:?--port needs a number}"; shift 2 ;;
      --port=*) PORT="${1#*=}"; shift ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'"
  HOME_DIR="$(realpath -m "$HOME_DIR")"
  PID_FILE="$HOME_DIR/neo4j.pid"
}

cmd_run() {
  parse_args "$@"
  [[ -f "$STAMP" ]] || die "Neo4j jars missing: run '$0 build' first"
  local java
  java="$(find_java)"
  mkdir -p "$HOME_DIR/conf" "$HOME_DIR/logs"
  cp "$TOOLS_DIR/neo4j.conf" "$HOME_DIR/conf/neo4j.conf"
  local heap="${NEO4J_HEAP:-512m}"
  # exec: the pid of this script becomes the JVM's, so callers can signal it directly.
  exec "$java" -Xms"$heap" -Xmx"$heap" \
    -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError \
    -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true \
    -Dlog4j2.disable.jmx=true \
    --add-opens=java.base/java.nio=ALL-UNNAMED \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
    -cp "$LIB_DIR/*" "$MAIN_CLASS" \
    --home-dir="$HOME_DIR" --config-dir="$HOME_DIR/conf" --console-mode \
    -c "server.bolt.listen_address=127.0.0.1:$PORT" \
    -c "server.bolt.advertised_address=127.0.0.1:$PORT"
}

# The pid in HOME's pid file when that process is still our Neo4j for HOME; empty otherwise.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null \
      | grep -qF -- "--home-dir=$HOME_DIR "; then
    echo "$pid"
  fi
}

# True when 127.0.0.1:PORT completes a Bolt handshake (offering 5.0-5.8 and 4.4).
bolt_ready() {
  local reply
  reply="$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 \
    && printf '\x60\x60\xb0\x17\x00\x08\x08\x05\x00\x00\x04\x04\x00\x00\x00\x00\x00\x00\x00\x00' >&3 \
    && head -c 4 <&3 | od -An -tx1" 2>/dev/null)" || return 1
  reply="${reply//[[:space:]]/}"
  [[ ${#reply} -eq 8 && "$reply" != 00000000 ]]
}

cmd_start() {
  parse_args "$@"
  cmd_build
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    echo "neo4j.sh: already running (pid $pid, home $HOME_DIR)" >&2
    echo "bolt://127.0.0.1:$(cat "$HOME_DIR/neo4j.port")"
    return 0
  fi
  if bolt_ready "$PORT"; then die "port $PORT is already serving Bolt (another server?)"; fi
  mkdir -p "$HOME_DIR/logs"
  local log="$HOME_DIR/logs/console.log"
  # setsid: the server outlives this shell and the terminal; run execs into the JVM, so $! is it.
  setsid bash "$TOOLS_DIR/neo4j.sh" run --home "$HOME_DIR" --port "$PORT" </dev/null >"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$PORT" >"$HOME_DIR/neo4j.port"
  local deadline=$((SECONDS + ${NEO4J_START_TIMEOUT:-120}))
  until bolt_ready "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "neo4j.sh: Neo4j exited during start-up; last lines of $log:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "neo4j.sh: Bolt not ready after ${NEO4J_START_TIMEOUT:-120}s; last lines of $log:" >&2
      tail -n 40 "$log" >&2
      kill "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.25
  done
  echo "neo4j.sh: Neo4j running (pid $pid, home $HOME_DIR, log $log)" >&2
  echo "bolt://127.0.0.1:$PORT"
}

cmd_stop() {
  parse_args "$@"
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    echo "neo4j.sh: not running (home $HOME_DIR)" >&2
    return 0
  fi
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 300; i++)); do  # 30 s for a clean shutdown (checkpoint), then SIGKILL
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "neo4j.sh: still running after 30s, killing pid $pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  echo "neo4j.sh: stopped (home $HOME_DIR)" >&2
}

cmd_status() {
  parse_args "$@"
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    echo "running: pid $pid, bolt://127.0.0.1:$(cat "$HOME_DIR/neo4j.port"), home $HOME_DIR"
  else
    echo "stopped: home $HOME_DIR"
    return 3
  fi
}

case "${1:-}" in
  build) shift; [[ $# -eq 0 ]] || die "build takes no arguments"; cmd_build ;;
  run) shift; cmd_run "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) sed -n '2,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
