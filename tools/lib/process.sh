# Sourced by tools/cluster.sh and tools/realnode/node.sh.

# is_ours_running PID DIR: the process runs and is one of ours. Not a zombie (where init does
# not reap orphans, a killed component stays a zombie that kill -0 and kwokctl still count as
# running) and not a recycled pid (pids wrap at 32768 on this kind of machine, and another
# process under a killed component's pid would pass for it): each component's command line
# names its working directory DIR.
is_ours_running() {
  local info
  # -ww: the whole command line (run from a test session, ps cut it at 80 columns).
  info=$(ps -ww -o stat=,args= -p "$1" 2>/dev/null) || return 1
  [[ $info != Z* && $info == *"$2"* ]]
}
