#!/usr/bin/env bash
# Starts nginx + nchan on a loopback port for scenario 4 (sourced by bench/run.sh).
#
#   nchan_available            true when nginx and the nchan module are installed
#                              (installs the Debian packages when apt-get can)
#   nchan_start DIR PORT       writes DIR/nginx.conf and starts nginx in the
#                              foreground (its pid in $nchan_pid); everything it
#                              writes stays in DIR
#   nchan_stop
#
# The comparison is kept fair on the 2-core machine: two worker processes (our
# server's runtime uses every core too), no access log (ours logs nothing per
# request either). nchan keeps messages in memory only (a short buffer per
# channel); enuchat stores every message durably before answering.

nchan_module=""
nchan_find_module() {
  local m
  for m in /usr/lib/nginx/modules/ngx_nchan_module.so /usr/share/nginx/modules/ngx_nchan_module.so; do
    [ -f "$m" ] && { nchan_module="$m"; return 0; }
  done
  return 1
}

nchan_available() {
  command -v nginx >/dev/null 2>&1 && nchan_find_module && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "[bench] installing nginx and libnginx-mod-nchan from the distribution's packages" >&2
  # policy-rc.d or a missing init may refuse to start the system service: that is fine,
  # only the binary and the module are used.
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light libnginx-mod-nchan >/dev/null 2>&1 || true
  command -v nginx >/dev/null 2>&1 && nchan_find_module
}

nchan_pid=""
nchan_start() {
  local dir="$1" port="$2"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
load_module $nchan_module;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
worker_rlimit_nofile $(ulimit -Hn);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $(ulimit -Hn); }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  nchan_max_reserved_memory 256M;
  server {
    listen 127.0.0.1:$port;
    location ~ ^/pub/(\w+)$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_message_buffer_length 4;
      nchan_message_timeout 60s;
    }
    location ~ ^/sub/(\w+)$ {
      nchan_subscriber websocket;
      nchan_channel_id \$1;
      nchan_subscriber_first_message newest;
    }
    location = /ready { return 200 "ok"; }
  }
}
EOF
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stderr.log" 2>&1 &
  nchan_pid=$!
}

nchan_stop() {
  [ -n "$nchan_pid" ] || return 0
  # TERM: fast shutdown (the subscribers are gone by now).
  kill -TERM "$nchan_pid" 2>/dev/null || true
  wait "$nchan_pid" 2>/dev/null || true
  nchan_pid=""
}
